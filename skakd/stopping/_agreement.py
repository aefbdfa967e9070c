"""Stopping on agreement: the student already agrees with the teacher's
new answers before it learns them."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._items import take
from .._multilabel import to_indicator
from ._base import COMMON_CONSTRAINTS, Criterion

__all__ = ["TeacherAgreement"]


class TeacherAgreement(Criterion):
    """Stop when the student already agrees with the teacher's new answers.

    Each round, before the student is refitted, the previous student
    predicts the batch the teacher just labelled; the share of the batch on
    which it agreed with the teacher is recorded in ``history_`` as
    ``"teacher_agreement"`` (``nan`` for a round without a usable answer).
    It costs nothing (those labels were paid for anyway) and needs no pool.
    For multi-label targets an answer counts by the share of labels on
    which the student's label set agrees with the teacher's.

    Two rules:

    * ``threshold`` a float: stop when the mean agreement of the last
      ``window`` rounds reaches it;
    * ``threshold=None``: stop on a plateau, when the mean of the last
      ``window`` rounds is no more than ``min_delta`` above the mean of the
      ``window`` rounds before them.

    The agreement is measured on the items the sampler chose, so it is
    biased toward hard items: under uncertainty sampling it underestimates
    the student's accuracy on the pool. It is a fair signal for
    :class:`~skakd.sampling.MRARU`, whose batches sample the uncertainty
    distribution rather than its top, and an unbiased estimate of accuracy
    (against the teacher) under :class:`~skakd.sampling.RandomSampler`.

    Parameters
    ----------
    threshold : float or None, default=None
        Mean agreement, in (0, 1], at which to stop; ``None`` for the
        plateau rule.
    window : int, default=5
        Number of last rounds averaged, at least 1.
    min_delta : float, default=0.005
        Plateau rule: the smallest gain between consecutive windows that
        counts as learning.
    min_rounds : int, default=10
        Never stop before this many teacher rounds.

    Attributes
    ----------
    values_ : list of float
        The agreement of every round.
    n_agreed_, n_compared_ : list of int
        Per round, how many answers the previous student agreed with, and
        how many answers were compared (the labels the teacher gave within
        ``classes``).

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> X, y = make_blobs(n_samples=3000, centers=3, random_state=1)
    >>> from skakd import ActiveDistillationClassifier
    >>> from skakd.sampling import RandomSampler
    >>> from skakd.stopping import TeacherAgreement
    >>> seed = [list(y).index(label) for label in (0, 1, 2)]
    >>> clf = ActiveDistillationClassifier(
    ...     teacher=lambda rows: [y[(X == row).all(axis=1)][0] for row in rows],
    ...     sampler=RandomSampler(batch_size=50), random_state=0,
    ...     callbacks=[TeacherAgreement(threshold=0.9, window=3)],
    ... ).fit(X[seed], y[seed], X_pool=X)
    >>> clf.termination_condition_
    'converged'
    >>> bool(sum(clf.history_[-3:, "teacher_agreement"]) / 3 >= 0.9)
    True
    """

    key = "teacher_agreement"
    _parameter_constraints = {
        "threshold": [Interval(Real, 0, 1, closed="right"), None],
        "min_delta": [Interval(Real, 0, None, closed="left")],
        **COMMON_CONSTRAINTS,
    }

    def __init__(self, threshold=None, window=5, min_delta=0.005, min_rounds=10):
        self.threshold = threshold
        self.window = window
        self.min_delta = min_delta
        self.min_rounds = min_rounds

    def on_fit_begin(self, clf):
        super().on_fit_begin(clf)
        self.n_agreed_, self.n_compared_ = [], []

    def on_acquisition(self, clf, state, acquisition):
        labels = np.empty(len(acquisition.y), dtype=object)
        labels[:] = list(acquisition.y)
        # Only answers the student could have given: within classes.
        usable = np.flatnonzero(_known(labels, state))
        agreed = 0
        if len(usable):
            predicted = state.estimator.predict(take(acquisition.X, usable))
            if state.multi_label:  # label sets: the share of labels agreed
                truth = to_indicator(labels[usable], state.classes)
                agreed = float((np.asarray(predicted) == truth).mean(axis=1).sum())
            else:
                agreed = int(np.sum(np.asarray(predicted, dtype=object)
                                    == labels[usable]))
        self.n_agreed_.append(agreed)
        self.n_compared_.append(len(usable))

    def _statistic(self, clf, record):
        if len(self.n_compared_) < len(self.values_) + 1 or not self.n_compared_[-1]:
            return np.nan
        return self.n_agreed_[-1] / self.n_compared_[-1]

    def _passes(self, values):
        if self.threshold is not None:
            return self._windowed(values) >= self.threshold
        if len(values) < 2 * self.window:
            return False
        before = self._windowed(values[:-self.window])
        return self._windowed(values) <= before + self.min_delta


def _known(labels, state):
    """Which answers lie within ``state.classes`` (every label of a set)."""
    if not state.multi_label:
        return np.isin(labels, state.classes)
    classes = set(np.asarray(state.classes).tolist())
    return np.array([answer is not None and classes.issuperset(answer)
                     for answer in labels], dtype=bool)
