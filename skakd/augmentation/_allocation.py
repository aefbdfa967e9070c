"""How many samples of each class PGKD asks for, and the prior it corrects to.

Pure functions of counts, errors and a generator: the loop decides the class
mix of every generated batch (a teacher told to "focus on the weak classes"
piles the batch onto two of them), and the class prior the student learns
from the mix is corrected back with per-row weights. With label sets the
counts are of texts carrying each label (:func:`round_counts`).
"""

from collections import Counter

import numpy as np

from .._items import warn
from ..strategy import sample_weight_param
from ._label_sets import label_errors

__all__ = ["ALLOCATIONS", "FLOOR_SHARE", "SHRINKAGE", "allocate", "batch_shares",
           "class_cap", "class_errors", "prior_weights", "round_counts",
           "target_prior"]

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


def round_counts(state, allocation, ratio):
    """How many texts of each class a PGKD round asks for, and the cap.

    ``allocation`` and ``ratio`` are PGKD's ``allocation`` and
    ``class_cap``; ``state.strategy_state`` holds the validation scores and
    the credit carried across rounds (updated here). With label sets a
    label's count is of the labelled texts carrying it and its error that of
    :func:`~._label_sets.label_errors`: the texts asked for carry the labels
    the student misses, and a label already carried by many texts (above
    the cap) is asked for no more, so the counts go to the rare labels.

    Returns
    -------
    class_counts : dict
        ``label -> int`` (labels asked for none left out), summing to
        ``state.n_wanted``.
    cap : int
        The cap on a class's labelled texts after the round.
    """
    classes, fit = state.classes, state.strategy_state
    if state.multi_label:
        counts = np.asarray(state.labeled.y).sum(axis=0)
    else:
        held = Counter(np.asarray(state.labeled.y).tolist())
        counts = np.array([held[label] for label in classes.tolist()])
    errors = None
    if allocation == "error" and state.multi_label:
        errors = label_errors(fit.val_proba, fit.y_val, SHRINKAGE)
    elif allocation == "error":
        errors = class_errors(fit.val_proba, state.estimator.classes_,
                              fit.y_val, classes)
    n, fit.credit = allocate(state.n_wanted, counts, errors=errors,
                             credit=fit.credit, ratio=ratio, rng=state.rng)
    cap = class_cap(counts, state.n_wanted, ratio)
    return {label: int(k) for label, k in zip(classes.tolist(), n) if k > 0}, cap


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


def allocate(n, counts, *, errors=None, credit=None, ratio=2.0, rng=None):
    """Split a batch of ``n`` samples over the classes, round after round.

    Parameters
    ----------
    n : int
        Samples in the batch.
    counts : array-like of int, shape (n_classes,)
        Labelled texts each class holds now.
    errors : array-like of shape (n_classes,) or None
        Validation error of each class (see :func:`class_errors`). ``None``
        (or all zero) spreads the batch evenly: ``"uniform"``.
    credit : array-like of shape (n_classes,) or None
        What the previous rounds owe each class: its cumulative share of
        the samples asked minus what it was asked for, as returned by the
        last call. ``None``: the first round (nothing owed).
    ratio : float >= 2
        Cap: no class ends with more than :func:`class_cap` labelled texts.
    rng : numpy.random.Generator or None
        Breaks ties between classes owed as much and holding as many.

    Returns
    -------
    allocation : ndarray of int, shape (n_classes,)
        Non-negative, summing to ``n``; ``counts + allocation`` never exceeds
        the cap.
    credit : ndarray of shape (n_classes,)
        What is owed after this batch, for the next call; it sums to zero.

    Notes
    -----
    Class ``c`` is owed ``credit_c + n * share_c``, its share being
    ``FLOOR_SHARE / K + (1 - FLOOR_SHARE) * e_c / sum(e)`` (half the batch
    spread evenly, half in proportion to the errors). The ``n`` samples go
    one at a time to the class owed most, less what it got already (ties
    to the classes holding fewest texts, then at random), never beyond its
    cap. What is left owed carries over, so over rounds every class is
    asked for its share within one sample: a batch smaller than the number
    of classes rotates over them in proportion to their shares, instead of
    going every round to the few with the largest share. A class stopped
    by its cap is owed nothing more; what it was owed goes to the others in
    proportion to their shares.

    Examples
    --------
    >>> from skakd.augmentation._allocation import allocate
    >>> allocate(12, [10, 10, 10])[0].tolist()
    [4, 4, 4]
    >>> allocate(12, [10, 10, 10], errors=[0.9, 0.05, 0.05])[0].tolist()
    [8, 2, 2]
    >>> allocate(60, [30, 10, 10], errors=[1, 0, 0])[0].tolist()  # capped at 60
    [30, 15, 15]
    >>> first, credit = allocate(2, [5, 5, 5, 5])  # smaller than the classes
    >>> second, credit = allocate(2, [5, 5, 5, 5], credit=credit)
    >>> (first + second).tolist()  # two rounds: every class once
    [1, 1, 1, 1]
    """
    counts = np.asarray(counts, dtype=np.intp)
    k = len(counts)
    rng = np.random.default_rng(0) if rng is None else rng
    shares = batch_shares(k, errors)
    owed = n * shares + (0.0 if credit is None else np.asarray(credit, dtype=float))
    room = np.maximum(class_cap(counts, n, ratio) - counts, 0)
    allocation = _most_owed(owed, np.minimum(room, n), n, counts, rng.permutation(k))
    return allocation, _carry(owed - allocation, allocation >= room, shares)


def batch_shares(k, errors=None):
    """Each class's share of a batch: even, or half even and half by error."""
    if errors is None or np.sum(errors) <= 0:
        return np.full(k, 1.0 / k)
    errors = np.asarray(errors, dtype=float)
    # Normalise before scaling: 0.5 * e underflows to 0 for a denormal e
    # (halving is otherwise exact, so the shares are unchanged).
    return FLOOR_SHARE / k + (1 - FLOOR_SHARE) * (errors / errors.sum())


def _most_owed(owed, room, n, counts, tiebreak):
    """Hand out ``n`` samples one at a time to the class owed most.

    The ``j``-th sample of class ``c`` has priority ``owed_c - j``, so this
    takes the ``n`` highest priorities over the classes' room; rounding
    makes classes owed the same up to float error tie.
    """
    label = np.repeat(np.arange(len(owed)), room)
    nth = np.arange(len(label)) - np.repeat(np.cumsum(room) - room, room)
    priority = np.round(owed[label] - nth, 9)
    order = np.lexsort((tiebreak[label], counts[label], -priority))
    return np.bincount(label[order[:n]], minlength=len(owed)).astype(np.intp)


def _carry(left, capped, shares):
    """What is owed next round: capped classes are owed nothing more (they
    hold enough), and what they were owed goes to the others."""
    capped = capped & (left > 0)
    others = ~capped
    if capped.any() and others.any():
        left = left.copy()
        forgiven, left[capped] = left[capped].sum(), 0.0
        left[others] += forgiven * shares[others] / shares[others].sum()
    return left


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


def target_prior(prior_correction, estimator, y):
    """The class prior to correct to (``prior_correction`` of the seed's
    labels ``y``), or ``None``: no correction asked, or possible."""
    if prior_correction is None:
        return None
    if sample_weight_param(estimator) is None:
        warn(
            f"prior_correction={prior_correction!r} needs a student "
            f"whose fit takes sample_weight, and "
            f"{type(estimator).__name__} (or its Pipeline's last "
            "step) does not: the student is fitted unweighted and learns "
            "the class prior of the generated mix. Use a student that "
            "takes sample_weight, or prior_correction=None to silence "
            "this warning."
        )
        return None
    if prior_correction == "balanced":
        return "balanced"
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    return dict(zip(labels.tolist(), (counts / counts.sum()).tolist()))
