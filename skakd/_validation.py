"""Input checks for the items a student is trained on: texts, rows, matrices."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array

from ._items import is_empty, is_missing, is_numeric_frame
from .pools import BasePool

__all__ = ["check_classes", "check_items"]


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
