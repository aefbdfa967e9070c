"""Stopping on confidence: the student's uncertainty on a stop set is low."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import COMMON_CONSTRAINTS, STOP_SET_CONSTRAINTS, StopSetCriterion

__all__ = ["ConfidenceStop", "scaled_uncertainty"]


class ConfidenceStop(StopSetCriterion):
    """Stop when the student is no longer uncertain about the stop set.

    After every round, the uncertainty of the student on a fixed stop set
    (drawn once from the pool, never labelled) is recorded in ``history_``
    as ``"stop_uncertainty"``: per item, ``1 - max proba`` or the entropy,
    both scaled to [0, 1] by their largest value for the number of classes;
    over the stop set, their mean or their max. The fit stops with
    ``termination_condition_ == "converged"`` when that figure, averaged
    over the last ``window`` rounds, falls to ``threshold`` or below (Zhu
    et al.'s *overall uncertainty*; the max is their *max-confidence* on a
    fixed set). The student needs ``predict_proba``.

    The threshold is absolute: a problem with many close classes (intents)
    keeps a high uncertainty even when the student has stopped improving, so
    this criterion may never fire there; prefer
    :class:`StabilizingPredictions` when unsure.

    Parameters
    ----------
    threshold : float, default=0.1
        Uncertainty, in (0, 1], at or below which to stop.
    aggregate : {"mean", "max"}, default="mean"
        How the stop set's uncertainties are summarised.
    measure : {"least_confidence", "entropy"}, default="least_confidence"
        Per-item uncertainty, scaled to [0, 1].
    window : int, default=1
        Number of last rounds averaged, at least 1.
    min_rounds : int, default=10
        Never stop before this many teacher rounds.
    stop_set_size, random_state
        As in :class:`StabilizingPredictions`.

    Attributes
    ----------
    values_ : list of float
        The stop-set uncertainty of every round.
    stop_indices_ : ndarray of int
        Pool indices of the stop set.

    References
    ----------
    .. [1] J. Zhu, H. Wang and E. Hovy, "Multi-criteria-based strategy to
       stop active learning for data annotation", COLING 2008.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skakd import ActiveDistillationClassifier
    >>> from skakd.stopping import ConfidenceStop
    >>> from skakd.teachers import OracleTeacher
    >>> X, y = make_blobs(n_samples=1000, centers=[[-4, 0], [4, 0]], random_state=0)
    >>> clf = ActiveDistillationClassifier(
    ...     teacher=OracleTeacher(X, y), max_iter=40, random_state=0,
    ...     callbacks=[ConfidenceStop(threshold=0.05, min_rounds=3)],
    ... ).fit(X[:4], y[:4], X_pool=X[4:])
    >>> clf.termination_condition_
    'converged'
    >>> clf.history_[-1, "stop_uncertainty"] <= 0.05
    True
    """

    key = "stop_uncertainty"
    _parameter_constraints = {
        "threshold": [Interval(Real, 0, 1, closed="right")],
        "aggregate": [StrOptions({"mean", "max"})],
        "measure": [StrOptions({"least_confidence", "entropy"})],
        **COMMON_CONSTRAINTS,
        **STOP_SET_CONSTRAINTS,
    }

    def __init__(self, threshold=0.1, aggregate="mean", measure="least_confidence",
                 window=1, min_rounds=10, stop_set_size=None, random_state=None):
        self.threshold = threshold
        self.aggregate = aggregate
        self.measure = measure
        self.window = window
        self.min_rounds = min_rounds
        self.stop_set_size = stop_set_size
        self.random_state = random_state

    def _start(self, student):
        if not hasattr(student, "predict_proba"):
            raise TypeError(
                f"ConfidenceStop needs a student with predict_proba; "
                f"{type(student).__name__} has none. Use StabilizingPredictions, "
                "which needs only predict."
            )

    def _statistic(self, clf, record):
        proba = np.asarray(clf.estimator_.predict_proba(self.stop_X_), dtype=float)
        if getattr(clf.estimator_, "multilabel_", False):
            uncertainty = _most_uncertain_label(proba, self.measure)
        else:
            uncertainty = scaled_uncertainty(proba, self.measure)
        return uncertainty.max() if self.aggregate == "max" else uncertainty.mean()

    def _passes(self, values):
        return self._windowed(values) <= self.threshold


def _most_uncertain_label(proba, measure):
    """Per row, the uncertainty of its most uncertain yes/no label decision
    (one probability per label), as sampling scores multi-label rows."""
    yes = proba.reshape(-1)
    per_label = scaled_uncertainty(np.column_stack([yes, 1.0 - yes]), measure)
    return per_label.reshape(proba.shape).max(axis=1)


def scaled_uncertainty(proba, measure="least_confidence"):
    """Per-row uncertainty of ``proba`` scaled to [0, 1] (1 = uniform).

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.stopping import scaled_uncertainty
    >>> scaled_uncertainty(np.array([[1.0, 0.0], [0.5, 0.5]])).tolist()
    [0.0, 1.0]
    """
    n_classes = proba.shape[1]
    if n_classes < 2:
        return np.zeros(len(proba))
    if measure == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(proba > 0, proba * np.log(proba), 0.0)
        return -terms.sum(axis=1) / np.log(n_classes)
    return (1.0 - proba.max(axis=1)) * n_classes / (n_classes - 1)
