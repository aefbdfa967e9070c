"""Items, the things the loop moves around: count them, take rows, check texts.

The lowest room of the package: every other module may import it, and it
imports nothing of skakd but :mod:`skakd.pools`.
"""

import numbers

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples

from .pools import BasePool

__all__ = [
    "add_note",
    "check_texts",
    "is_empty",
    "is_missing",
    "is_numeric_frame",
    "is_text_items",
    "n_items",
    "take",
]


def take(X, indices):
    """Rows ``indices`` of ``X`` (array, sparse matrix, DataFrame, list or pool).

    Examples
    --------
    >>> from skakd._items import take
    >>> take(["a", "b", "c"], [2, 0])
    ['c', 'a']
    """
    indices = np.asarray(indices, dtype=np.intp)
    if isinstance(X, np.ndarray):  # the common case, without the dispatch cost
        return X[indices]
    return _safe_indexing(X, indices)


def n_items(X):
    """Number of items (rows) in ``X``."""
    return _num_samples(X)


def is_empty(X):
    """Whether ``X`` has no items (``False`` when its length is unknown)."""
    if isinstance(X, (str, bytes)):
        return False
    try:
        return _num_samples(X) == 0
    except TypeError:
        return False


def is_text_items(X):
    """Whether ``X`` (as returned by ``check_items``) is a 1-D item array."""
    return (isinstance(X, (np.ndarray, BasePool)) and X.ndim == 1
            and X.dtype == object)


def is_numeric_frame(X):
    """Whether ``X`` is a pandas DataFrame whose columns are all numbers."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or getattr(X, "ndim", 1) != 2:
        return False
    return all(getattr(dtype, "kind", "O") in "biuf" for dtype in dtypes)


def is_missing(item):
    """``None`` or NaN: a hole where an item should be."""
    return item is None or (isinstance(item, numbers.Real) and np.isnan(item))


def check_texts(X, name="X", *, hint=""):
    """Return ``X`` as a 1-D object array of ``str``, or raise a clear error.

    ``X`` is a sequence of texts, a pandas Series or a one-column table
    (DataFrame or 2-D array). Empty strings are valid texts; ``None``/NaN
    and non-string items are not.
    ``hint`` is appended to the error about a non-string item (e.g. where
    feature extraction belongs).

    Examples
    --------
    >>> from skakd._items import check_texts
    >>> check_texts(("a", "b")).tolist()
    ['a', 'b']
    >>> check_texts(["a", 3], "items")
    Traceback (most recent call last):
    ...
    TypeError: items[1] is a int (3); expected str.
    >>> check_texts(np.array([["a"], ["b"]], dtype=object)).tolist()
    ['a', 'b']
    """
    if X is None:
        raise ValueError(f"{name} is None; expected a sequence of texts (str).")
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} is a single {type(X).__name__}; expected a sequence of "
            "texts, e.g. [text] for one text."
        )
    if hasattr(X, "iloc"):  # pandas Series or DataFrame, whatever its index
        X = X.to_numpy()
    if getattr(X, "ndim", 1) == 2:
        # A one-column table of texts, e.g. what ColumnTransformer passes for
        # a column selected by a list (["text"]).
        if X.shape[1] != 1:
            raise ValueError(
                f"{name} has {X.shape[1]} columns; expected one column of "
                "texts (select it, e.g. df['text'])."
            )
        X = X[:, 0]
    texts = np.fromiter(X, dtype=object, count=len(X))
    for i, item in enumerate(texts):
        if is_missing(item):
            raise ValueError(
                f"{name}[{i}] is {item!r}; expected a text (str) at every "
                "position. Replace missing texts, e.g. with ''."
            )
        if not isinstance(item, str):
            raise TypeError(
                f"{name}[{i}] is a {type(item).__name__} ({item!r:.40}); "
                f"expected str.{' ' + hint if hint else ''}"
            )
    return texts


def add_note(exc, note):
    """Attach ``note`` to ``exc`` for the traceback (Python >= 3.11)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
