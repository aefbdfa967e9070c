"""Multi-label targets: label sets and indicator matrices.

A multi-label ``y`` is either a sequence of label collections
(``[["billing", "refund"], [], ["login"]]``, an empty one meaning "none of
these") or a 2-D indicator matrix whose columns ``classes=`` names, as in
scikit-learn's :class:`~sklearn.preprocessing.MultiLabelBinarizer`. This
room turns either into the indicator matrix the student fits, turns
indicator rows back into label tuples, and checks a teacher's label sets. A
low room, like :mod:`skakd._items`: it imports nothing of skakd.
"""

import numpy as np
import scipy.sparse as sp

__all__ = [
    "check_label_sets",
    "check_multilabel_target",
    "is_label_collection",
    "label_sets",
    "to_indicator",
]


def is_label_collection(value):
    """Whether ``value`` is a collection of labels (not a single label).

    Examples
    --------
    >>> from skakd._multilabel import is_label_collection
    >>> is_label_collection(["a", "b"]), is_label_collection("ab")
    (True, False)
    """
    return isinstance(value, (list, tuple, set, frozenset, np.ndarray))


def check_multilabel_target(y, classes):
    """``(Y, classes)`` for a multi-label ``y``, or ``None`` for one label per row.

    Parameters
    ----------
    y : sequence of label collections, 2-D indicator matrix, or labels
        The seed's target.
    classes : array-like or None
        The label names; required for an indicator matrix (its columns, in
        order), optional for label sets (then the sorted union of ``y``'s).

    Returns
    -------
    (Y, classes) or None
        ``Y`` the indicator matrix (int, one column per class) and
        ``classes`` the label names in column order.

    Examples
    --------
    >>> from skakd._multilabel import check_multilabel_target
    >>> Y, classes = check_multilabel_target([["b", "a"], [], ["b"]], None)
    >>> Y.tolist(), classes.tolist()
    ([[1, 1], [0, 0], [0, 1]], ['a', 'b'])
    >>> check_multilabel_target(["a", "b"], None) is None
    True
    """
    if _is_indicator(y):
        return _check_indicator(y, classes)
    if isinstance(y, (str, bytes)) or not hasattr(y, "__len__") or (
            getattr(y, "ndim", 1) != 1):
        # A column vector is one label per row, as scikit-learn reads it.
        return None
    rows = y.tolist() if hasattr(y, "tolist") else list(y)
    is_set = [is_label_collection(row) for row in rows]
    if not any(is_set):
        return None
    if not all(is_set):
        first = is_set.index(False)
        raise ValueError(
            f"y mixes label lists and single labels: y[{first}] is "
            f"{rows[first]!r} but y[{is_set.index(True)}] is a list; expected "
            "one label per row, or one collection of labels per row (wrap a "
            "single label as [label], no label as [])."
        )
    sets = [_as_labels(row) for row in rows]
    if classes is None:
        classes = sorted({label for labels in sets for label in labels})
        if not classes:
            raise ValueError(
                "y has no label at all (every label set is empty); pass the "
                "label names as classes= or seed at least one labelled row."
            )
    classes = _check_names(classes)
    return to_indicator(sets, classes, name="y"), classes


def to_indicator(sets, classes, *, name="y"):
    """The indicator matrix of label ``sets`` over ``classes`` (in order).

    Raises a ``ValueError`` naming the first row with a label outside
    ``classes``.
    """
    column = {label: j for j, label in enumerate(np.asarray(classes).tolist())}
    Y = np.zeros((len(sets), len(column)), dtype=np.int64)
    for i, labels in enumerate(sets):
        for label in labels:
            j = column.get(label)
            if j is None:
                raise ValueError(
                    f"{name}[{i}] has label {label!r}, which is not in classes="
                    f"{list(column)[:10]}; expected labels from classes."
                )
            Y[i, j] = 1
    return Y


def label_sets(Y, classes):
    """Indicator rows back to tuples of label names, in ``classes`` order.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd._multilabel import label_sets
    >>> label_sets(np.array([[1, 0, 1], [0, 0, 0]]), ["a", "b", "c"])
    [('a', 'c'), ()]
    """
    names = np.asarray(classes, dtype=object)
    Y = Y.toarray() if sp.issparse(Y) else np.asarray(Y)
    return [tuple(names[np.flatnonzero(row)].tolist()) for row in Y]


def check_label_sets(labels, teacher_name):
    """A teacher's multi-label answers as tuples (``None`` kept: unlabelled).

    A bare string where a collection is due is refused: ``"a|b"`` or
    ``"refund"`` would otherwise be read as a set of characters.
    """
    checked = []
    for i, answer in enumerate(labels):
        if answer is None:
            checked.append(None)
        elif is_label_collection(answer):
            checked.append(_as_labels(answer))
        else:
            raise TypeError(
                f"teacher {teacher_name} answered {answer!r} for item {i}, a "
                f"{type(answer).__name__}; multi-label targets need a "
                "collection of labels per item (a list, [] for none), or None "
                "where it could not label."
            )
    return checked


def _as_labels(row):
    """A row's labels as a tuple without repeats, in the row's order."""
    values = row.tolist() if isinstance(row, np.ndarray) else list(row)
    return tuple(dict.fromkeys(values))


def _is_indicator(y):
    if sp.issparse(y):
        return True
    return getattr(y, "ndim", None) == 2 and y.shape[1] > 1


def _check_indicator(y, classes):
    if classes is None:
        raise ValueError(
            f"y is a 2-D indicator matrix of shape {y.shape} but classes is "
            "None; pass classes= naming its columns, in order (or give y as "
            "label lists, e.g. [['billing', 'refund'], []])."
        )
    classes = _check_names(classes)
    Y = y.toarray() if sp.issparse(y) else np.asarray(y)
    if Y.shape[1] != len(classes):
        raise ValueError(
            f"y has {Y.shape[1]} columns but classes= names {len(classes)}; "
            "expected one class per column of the indicator matrix."
        )
    if not np.isin(Y, (0, 1)).all():
        raise ValueError(
            "y is a 2-D matrix with values other than 0 and 1; expected an "
            "indicator matrix (1 where a row carries the column's label)."
        )
    return Y.astype(np.int64), classes


def _check_names(classes):
    names = np.asarray(list(classes))
    if names.ndim != 1 or len(names) == 0:
        raise ValueError(
            f"classes must be a non-empty list of label names, got {classes!r:.80}."
        )
    if len(np.unique(names)) != len(names):
        raise ValueError(f"classes has repeated names: {names.tolist()[:10]}.")
    return names
