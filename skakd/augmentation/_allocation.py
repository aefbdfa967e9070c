"""How many samples of each class PGKD asks for, and the prior it corrects to.

Pure functions of counts, errors and a generator: the loop decides the class
mix of every generated batch (a teacher told to "focus on the weak classes"
piles the batch onto two of them), and the class prior the student learns
from the mix is corrected back with per-row weights.
"""

import numpy as np

__all__ = ["ALLOCATIONS", "FLOOR_SHARE", "SHRINKAGE", "allocate", "class_cap",
           "class_errors", "prior_weights"]

#: Allocation policies of :class:`PGKD`.
ALLOCATIONS = ("error", "uniform")
#: Share of an ``"error"`` batch spread evenly over the classes (the floor);
#: the rest follows the validation error.
FLOOR_SHARE = 0.5


#: Validation texts' worth of the mean error that each class's error is
#: shrunk toward (see :func:`class_errors`).
SHRINKAGE = 10


def class_errors(proba, student_classes, y_val, classes, shrinkage=SHRINKAGE):
    """Expected validation error of each class, shrunk toward the mean.

    A class's raw error is one minus the mean probability the student gives
    the true class over that class's ``n_c`` validation texts
    (probabilities rather than 0/1 mistakes: with two texts per class a
    recall is 0, 0.5 or 1, while probabilities still rank the classes). It
    is then shrunk toward the mean error over classes ``m``, as if
    ``shrinkage`` more texts had shown ``m``: ``(n_c * e_c + shrinkage * m)
    / (n_c + shrinkage)``. Two validation texts per class barely move a
    class off the mean (the errors are noise, and an even mix does as
    well); fifty make the allocation follow the measured error. A class
    without validation texts gets the mean.

    Returns
    -------
    errors : ndarray of shape (len(classes),)
    """
    column = {label: j for j, label in enumerate(np.asarray(student_classes).tolist())}
    y_val = np.asarray(y_val).tolist()
    p_true = np.array([
        proba[i, column[label]] if label in column else 0.0
        for i, label in enumerate(y_val)
    ])
    raw, support = np.zeros(len(classes)), np.zeros(len(classes))
    for k, label in enumerate(np.asarray(classes).tolist()):
        rows = [i for i, y in enumerate(y_val) if y == label]
        if rows:
            raw[k], support[k] = 1.0 - p_true[rows].mean(), len(rows)
    mean = raw[support > 0].mean() if (support > 0).any() else 1.0
    return (support * raw + shrinkage * mean) / (support + shrinkage)


def class_cap(counts, n, ratio):
    """Most labelled texts a class may hold after a batch of ``n``.

    ``ceil(ratio * (median(counts) + n / K))``: ``ratio`` times the median
    class count the labelled set would have, were the batch spread evenly.
    With ``ratio >= 2`` the caps always leave room for the whole batch: the
    half of the classes at or below the median have room for at least
    ``max(1, 2n/K)`` texts each.
    """
    counts = np.asarray(counts, dtype=float)
    return int(np.ceil(ratio * (np.median(counts) + n / len(counts)) - 1e-9))


def allocate(n, counts, *, errors=None, ratio=2.0, rng=None):
    """Split a batch of ``n`` samples over the classes.

    Parameters
    ----------
    n : int
        Samples in the batch.
    counts : array-like of int, shape (n_classes,)
        Labelled texts each class holds now.
    errors : array-like of shape (n_classes,) or None
        Validation error of each class (see :func:`class_errors`). ``None``
        (or all zero) spreads the batch evenly: ``"uniform"``.
    ratio : float >= 2
        Cap: no class ends with more than :func:`class_cap` labelled texts.
    rng : numpy.random.Generator or None
        Breaks ties between classes with the same share and count.

    Returns
    -------
    allocation : ndarray of int, shape (n_classes,)
        Non-negative, summing to ``n``; ``counts + allocation`` never exceeds
        the cap.

    Notes
    -----
    Each class's share of the batch is ``FLOOR_SHARE / K + (1 - FLOOR_SHARE)
    * e_c / sum(e)``: half the batch is spread evenly (the floor), half in
    proportion to the errors. Shares are turned into whole samples by
    repeated flooring under the caps (water-filling); the units left over
    go to the largest remainders, ties to the classes holding fewest texts
    (so that a batch smaller than the number of classes rotates over them
    round after round), then at random.

    Examples
    --------
    >>> from skakd.augmentation._allocation import allocate
    >>> allocate(12, [10, 10, 10]).tolist()
    [4, 4, 4]
    >>> allocate(12, [10, 10, 10], errors=[0.9, 0.05, 0.05]).tolist()
    [8, 2, 2]
    >>> allocate(60, [30, 10, 10], errors=[1, 0, 0]).tolist()  # capped at 60
    [30, 15, 15]
    """
    counts = np.asarray(counts, dtype=np.intp)
    k = len(counts)
    rng = np.random.default_rng(0) if rng is None else rng
    shares = np.full(k, 1.0 / k)
    if errors is not None and np.sum(errors) > 0:
        errors = np.asarray(errors, dtype=float)
        shares = FLOOR_SHARE / k + (1 - FLOOR_SHARE) * errors / errors.sum()
    room = np.maximum(class_cap(counts, n, ratio) - counts, 0)
    tiebreak = rng.permutation(k)
    allocation = np.zeros(k, dtype=np.intp)
    free = room > 0
    while free.any():
        left = n - int(allocation[~free].sum())
        target = left * np.where(free, shares, 0.0) / shares[free].sum()
        over = free & (target > room)
        if over.any():  # these classes fill up to their cap; re-spread the rest
            allocation[over] = room[over]
            free &= ~over
            continue
        whole = np.floor(target + 1e-9).astype(np.intp)
        open_ = np.flatnonzero(free)
        order = np.lexsort((tiebreak[open_], counts[open_],
                            -(target - whole)[open_]))
        whole[open_[order[: max(left - int(whole[open_].sum()), 0)]]] += 1
        allocation[free] = whole[free]
        break
    return allocation


def prior_weights(y, prior):
    """Per-row weights that give each class of ``y`` the share ``prior``.

    Parameters
    ----------
    y : array-like
        Labels of the training rows.
    prior : dict or "balanced"
        ``label -> share`` (labels of ``y`` missing from it get its smallest
        share), or equal shares for every class of ``y``.

    Returns
    -------
    weights : ndarray of shape (len(y),)
        The weighted class totals are proportional to the prior; the weights
        average one, so the student's regularisation keeps its strength.

    Examples
    --------
    >>> from skakd.augmentation._allocation import prior_weights
    >>> prior_weights(["a", "a", "a", "b"], "balanced").round(3).tolist()
    [0.667, 0.667, 0.667, 2.0]
    """
    y = np.asarray(y)
    labels, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    if isinstance(prior, str):  # "balanced"
        target = np.ones(len(labels))
    else:
        smallest = min(prior.values())
        target = np.array([prior.get(label, smallest) for label in labels.tolist()])
    target = target / target.sum()
    per_class = target / (counts / len(y))
    return per_class[inverse.ravel()]
