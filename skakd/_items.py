"""Items, the things the loop moves around: what an input is, and whether
it is acceptable.

Count items, take rows, tell texts from numeric features, and check what a
fit receives (:func:`check_fit_data`: the seed, its labels and the pool, in
one call) or a student serves (:func:`check_items`). The lowest room of the
package: every other module may import it, and it imports nothing of skakd
but :mod:`skakd.pools`.
"""

import functools
import numbers
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.utils import _safe_indexing, check_array
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples, column_or_1d

from .pools import BasePool, Pool

__all__ = [
    "add_note",
    "check_classes",
    "check_fit_data",
    "check_items",
    "check_texts",
    "for_teacher",
    "is_empty",
    "is_missing",
    "is_numeric_frame",
    "is_text_items",
    "label_matcher",
    "n_items",
    "one_example_per_class_is_fine",
    "pool_candidates",
    "take",
    "warn",
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


def for_teacher(items):
    """Items as a teacher is asked about them: texts as a plain list,
    DataFrame rows as row arrays (numeric columns) or dicts (mixed
    columns); other items as they are."""
    if is_text_items(items):
        return items.tolist()
    if hasattr(items, "iloc"):
        return items.to_numpy() if is_numeric_frame(items) else items.to_dict("records")
    return items


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


def check_fit_data(X, y, X_pool, *, allow_nan, owner, multi_label=False,
                   classes=None):
    """Check what ``fit`` receives: the seed ``X, y`` and the pool.

    ``owner`` names the estimator in the error about a missing ``y``;
    ``allow_nan`` is the student's tag; ``multi_label`` says ``y`` is an
    indicator matrix (see :mod:`skakd._multilabel`), one row per item. A
    :class:`~skakd.Pool` is unwrapped; a bare pool as long as ``X`` is
    warned about (cross-validation would slice it). With ``classes`` given,
    a seed of one class, or an empty one (``X`` and ``y`` empty sequences),
    is a cold start: an empty ``X`` is returned as zero rows of the pool,
    items of its kind (texts without a pool, for a strategy that writes
    them).

    Returns
    -------
    X, y, X_pool : checked (``X_pool`` is ``None`` when there is no pool)
    n_features : int or None
        The number of numeric features, ``None`` for items such as texts.
    """
    if classes is not None and is_empty(X) and y is not None and is_empty(y):
        X_pool = _check_pool(X_pool, None, allow_nan, None)
        # Without a pool only texts can come: the ones the teacher writes.
        X = np.empty(0, dtype=object) if X_pool is None else take(X_pool, [])
        n_features = None if is_text_items(X) else X.shape[1]
        return X, np.empty(0, dtype=object), X_pool, n_features
    if y is not None and is_empty(X):
        raise ValueError(_EMPTY_SEED)
    X, y = _check_seed(X, y, allow_nan, owner, multi_label,
                       one_class=classes is not None and X_pool is not None)
    n_features = X.shape[1] if not is_text_items(X) and hasattr(X, "shape") else None
    return X, y, _check_pool(X_pool, X, allow_nan, n_features), n_features


def pool_candidates(X_pool):
    """Which pool items the teacher may be asked about: all but blank texts.

    A blank or whitespace-only text has nothing to label, whatever the
    teacher; left in, it costs a label, and M-RARU even prefers it (the
    student is least sure about an empty text). Blanks are left out of the
    pool with one warning. ``None`` when there is no pool; an out-of-core
    pool is taken as it is (checking it would read it whole).
    """
    if X_pool is None:
        return None
    candidates = np.ones(n_items(X_pool), dtype=bool)
    if isinstance(X_pool, np.ndarray) and is_text_items(X_pool):
        candidates[:] = [not (isinstance(item, str) and not item.strip())
                         for item in X_pool]
    n_blank = int((~candidates).sum())
    if n_blank:
        warn(f"X_pool has {n_blank} blank or whitespace-only texts; they are "
             "left out of the pool (nothing to label) and counted in "
             "history_[0] as n_unlabeled_blank.")
    return candidates


_EMPTY_SEED = (
    "X, y (the labelled seed) are empty; expected at least one labelled "
    "example of two classes, or classes= (every class the teacher may "
    "answer) and a pool to start from no seed."
)


def one_example_per_class_is_fine(fit):
    """Silence scikit-learn's "``y`` could represent a regression problem"
    during ``fit``: a seed of one example per class is our normal case."""

    @functools.wraps(fit)
    def quiet_fit(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The number of unique classes is greater than "
                "50% of the number of samples", category=UserWarning,
            )
            return fit(*args, **kwargs)

    return quiet_fit


def _check_seed(X, y, allow_nan, owner, multi_label=False, one_class=False):
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None."
        )
    X = check_items(X, "X", allow_nan=allow_nan)
    y = y if multi_label else column_or_1d(y, warn=True)
    if n_items(X) != len(y):
        raise ValueError(
            f"X and y have inconsistent lengths: X has {n_items(X)} items "
            f"and y has {len(y)} labels; expected one label per seed item."
        )
    if len(y) == 0:
        raise ValueError(_EMPTY_SEED)
    if multi_label:  # any label set, the empty one included, is a target
        return X, y
    check_classification_targets(y)
    if len(np.unique(y)) < 2 and not one_class:
        raise ValueError(
            f"y (the labelled seed) has only one class ({y[0]!r}); the "
            "classifier can't train when only one class is present: seed at "
            "least one example of two classes, or pass classes= and a pool "
            "for the teacher to label the others."
        )
    return X, y


def _check_pool(X_pool, X, allow_nan, n_features):
    wrapped = isinstance(X_pool, Pool)
    X_pool = X_pool.data if wrapped else X_pool
    if X_pool is None:
        return None
    if is_empty(X_pool):
        raise ValueError(
            "X_pool is empty; expected unlabelled items for the teacher, or "
            "X_pool=None to train on the seed alone."
        )
    X_pool = check_items(X_pool, "X_pool", allow_nan=allow_nan, n_features=n_features)
    if X is None:  # a cold start: no seed to compare the pool with
        return X_pool
    columns = getattr(X, "columns", None)
    if columns is not None and hasattr(X_pool, "columns") and (
        list(X_pool.columns) != list(columns)
    ):
        raise ValueError(
            f"X_pool has columns {list(X_pool.columns)[:10]} but X has "
            f"{list(columns)[:10]}; expected the same columns in the same "
            "order."
        )
    if is_text_items(X) != is_text_items(X_pool):
        raise TypeError(
            "X_pool and X must hold the same kind of items: got "
            f"{'texts' if is_text_items(X_pool) else 'numeric features'} in "
            f"X_pool and {'texts' if is_text_items(X) else 'numeric features'} "
            "in X."
        )
    if not wrapped and n_items(X_pool) == n_items(X):
        warn(
            "X_pool has as many items as X: cross-validation tools "
            "(GridSearchCV, cross_validate) slice such fit parameters fold "
            "by fold. Pass X_pool=skakd.Pool(X_pool) to keep the pool whole.",
        )
    return X_pool


def check_items(X, name, *, allow_nan=False, n_features=None):
    """Validate a collection of items and return it in an indexable form.

    * 1-D sequences of objects (texts, dicts...) are returned as a 1-D object
      array; ``None``/NaN items are refused and, when any item is a ``str``,
      every item must be one.
    * numeric data must be 2-D and finite (unless ``allow_nan``) and, when
      ``n_features`` is given, have that many columns.
    * sparse matrices pass through ``check_array``'s checks unchanged in
      type.
    * pandas: a Series, or a one-column DataFrame of texts, becomes a 1-D
      item array (its index is ignored: items are matched by position); any
      other DataFrame stays a DataFrame (so a ColumnTransformer inside the
      student can pick its columns) with a fresh ``RangeIndex``, its numeric
      values checked as above.

    Errors name ``name``, what was received and what was expected.
    """
    if X is None:
        raise ValueError(f"{name} is None; expected a collection of items.")
    if is_empty(X):
        raise ValueError(f"{name} is empty; expected at least one item.")
    if isinstance(X, (BasePool, np.memmap)):
        # Out of core: checking every row here would read the whole file.
        # Rows are checked as they are read, by the student's own validation.
        _check_n_features(X, name, n_features)
        return X
    if hasattr(X, "iloc"):
        X = _from_pandas(X, name, allow_nan)
    if sp.issparse(X) or hasattr(X, "iloc"):
        checked = X if hasattr(X, "iloc") else _check_numeric(X, name, allow_nan)
        _check_n_features(checked, name, n_features)
        return checked
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} is a single {type(X).__name__}; expected a sequence of "
            "items (e.g. a list of texts)."
        )
    array = X if isinstance(X, np.ndarray) else _as_array(X)
    if array.ndim == 1 and array.dtype.kind in "OUS":
        items = array.astype(object) if array.dtype.kind != "O" else array
        _check_object_items(items, name)
        return items
    checked = _check_numeric(array, name, allow_nan)
    _check_n_features(checked, name, n_features)
    return checked


def check_classes(classes, y):
    """The label set: ``classes`` when given (``y`` must be a subset), else
    the labels of ``y``; sorted and unique either way."""
    if classes is None:
        return np.unique(y)
    classes = np.unique(np.asarray(classes))
    unknown = np.setdiff1d(np.unique(y), classes)
    if len(unknown):
        raise ValueError(
            f"y has labels {unknown.tolist()[:5]} that are not in classes="
            f"{classes.tolist()[:10]}; expected the labels of y to be a subset "
            "of classes."
        )
    return classes


def _from_pandas(X, name, allow_nan):
    """A Series or a one-column frame of texts as items; other frames checked."""
    if X.ndim == 1:
        return X.to_numpy()
    if X.shape[1] == 1 and not is_numeric_frame(X):
        return X.iloc[:, 0].to_numpy()
    if is_numeric_frame(X):
        _check_numeric(X, name, allow_nan)
    return X.reset_index(drop=True)


def _as_array(X):
    if hasattr(X, "__array__"):
        return np.asarray(X)
    items = list(X)
    # numpy would silently turn [text, 3] into strings, hiding the 3.
    if any(isinstance(item, (str, bytes)) or item is None for item in items):
        return _object_array(items)
    try:
        return np.asarray(items)
    except ValueError:  # ragged nested sequences: treat as opaque items
        return _object_array(items)


def _object_array(items):
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _check_numeric(X, name, allow_nan):
    if getattr(X, "ndim", 2) != 2:
        raise ValueError(
            f"{name} must be a 2-D array of numeric features or a 1-D "
            f"sequence of texts; got a {X.ndim}-D numeric array of shape "
            f"{X.shape}. Reshape your data either using X.reshape(-1, 1) if "
            "it has a single feature or X.reshape(1, -1) if it contains a "
            "single sample."
        )
    return check_array(
        X,
        accept_sparse=["csr", "csc"],
        ensure_all_finite="allow-nan" if allow_nan else True,
        input_name=name,
    )


def _check_n_features(X, name, n_features):
    if n_features is not None and len(X.shape) == 2 and X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but ActiveDistillationClassifier "
            f"is expecting {n_features} features as input."
        )


def _check_object_items(items, name):
    if len(items) == 0:
        return
    missing = [i for i, item in enumerate(items) if is_missing(item)]
    if missing:
        raise ValueError(
            f"{name} contains missing items (None or NaN) at positions "
            f"{missing[:5]}; expected a text (or other item) at every position."
        )
    is_str = np.fromiter((isinstance(item, str) for item in items), bool, len(items))
    if is_str.any() and not is_str.all():
        bad = int(np.flatnonzero(~is_str)[0])
        raise TypeError(
            f"{name} mixes texts with other objects: item {bad} is "
            f"{type(items[bad]).__name__} ({items[bad]!r:.40}); expected str."
        )


def add_note(exc, note):
    """Attach ``note`` to ``exc`` for the traceback (Python >= 3.11)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)


def label_matcher(names):
    """``match(label) -> name or None``: exact, else up to case and spaces
    where that names one class alone.

    A teacher that answers ``"getweather "`` for ``"GetWeather"`` means that
    class; a form shared by two classes names neither.

    Examples
    --------
    >>> from skakd._items import label_matcher
    >>> match = label_matcher(["GetWeather", "PlayMusic"])
    >>> match(" getweather"), match("Weather")
    ('GetWeather', None)
    """
    exact, forms = set(names), {}
    for name in names:
        if isinstance(name, str):
            forms.setdefault(_loose(name), []).append(name)
    loose = {form: found[0] for form, found in forms.items() if len(found) == 1}

    def match(label):
        if not isinstance(label, str):
            return None
        return label if label in exact else loose.get(_loose(label))

    return match


def _loose(label):
    return " ".join(label.split()).casefold()


# Frames of these packages are the machinery between the user's call and a
# warning: scikit-learn's wrappers (``_fit_context``, a Pipeline, a search).
_INTERNAL = tuple(str(Path(package.__file__).parent)
                  for package in (sys.modules[__package__], sklearn))


def warn(message, category=UserWarning):
    """Warn at the user's line: the first caller outside skakd and
    scikit-learn, however deep in the loop the warning is raised."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
