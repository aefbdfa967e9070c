"""Stopping on stable predictions: Cohen's kappa between consecutive
students on a stop set, as it is or projected to a doubling of the labels."""

from numbers import Real

import numpy as np
from sklearn.metrics import cohen_kappa_score
from sklearn.utils._param_validation import Interval

from ._base import COMMON_CONSTRAINTS, STOP_SET_CONSTRAINTS, StopSetCriterion

__all__ = ["ProjectedChange", "StabilizingPredictions", "projected_change"]


class _KappaCriterion(StopSetCriterion):
    """Cohen's kappa between the previous and the new student's predictions
    on the stop set."""

    _parameter_constraints = {
        "threshold": [Interval(Real, 0, 1, closed="right")],
        **COMMON_CONSTRAINTS,
        **STOP_SET_CONSTRAINTS,
    }

    def __init__(self, threshold, window, min_rounds, stop_set_size,
                 random_state):
        self.threshold = threshold
        self.window = window
        self.min_rounds = min_rounds
        self.stop_set_size = stop_set_size
        self.random_state = random_state

    def _start(self, student):
        self.previous_ = student.predict(self.stop_X_)

    def _kappa(self, clf):
        current = clf.estimator_.predict(self.stop_X_)
        previous, self.previous_ = self.previous_, current
        if np.array_equal(previous, current):
            return 1.0  # kappa is 0/0 when both predict one class alike
        # Multi-label students predict indicator matrices: one kappa over
        # every (row, label) decision.
        return cohen_kappa_score(np.ravel(previous), np.ravel(current))

    def on_fit_end(self, clf):
        super().on_fit_end(clf)
        self.previous_ = None


class StabilizingPredictions(_KappaCriterion):
    """Stop when consecutive students predict the stop set alike.

    After every round, Cohen's kappa between the predictions of the previous
    and the new student on a fixed stop set (drawn once from the pool, never
    labelled) is recorded in ``history_`` as ``"stop_kappa"``; the fit stops
    with ``termination_condition_ == "converged"`` when the mean kappa of the
    last ``window`` rounds reaches ``threshold`` (Bloodgood and
    Vijay-Shanker's *stabilizing predictions*). It needs no labels and no
    ``predict_proba``.

    Parameters
    ----------
    threshold : float, default=0.99
        Mean kappa, in (0, 1], at which to stop.
    window : int, default=3
        Number of last rounds averaged, at least 1.
    min_rounds : int, default=10
        Never stop before this many teacher rounds: a student trained on a
        handful of labels can look stable because it barely changes.
    stop_set_size : int, float or None, default=None
        Items of the stop set: a count (at most the pool size), a fraction of
        the pool in (0, 1], or ``None`` for ``min(1000, pool size)``.
    random_state : int, RandomState instance or None, default=None
        Draws the stop set; ``None`` derives it from the classifier's
        ``random_state``.

    Attributes
    ----------
    values_ : list of float
        The kappa of every round.
    stop_indices_ : ndarray of int
        Pool indices of the stop set.

    See Also
    --------
    ProjectedChange : The same kappa, scaled to a doubling of the labelled set.
    ConfidenceStop : Stop when the student is confident on the stop set.
    TeacherAgreement : Stop on the agreement with the teacher's new answers.

    References
    ----------
    .. [1] M. Bloodgood and K. Vijay-Shanker, "A Method for Stopping Active
       Learning Based on Stabilizing Predictions and the Need for
       User-Adjustable Stopping", CoNLL 2009.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skakd import ActiveDistillationClassifier
    >>> from skakd.stopping import StabilizingPredictions
    >>> from skakd.teachers import OracleTeacher
    >>> X, y = make_classification(n_samples=2000, class_sep=2, random_state=0)
    >>> stop = StabilizingPredictions(threshold=0.98)
    >>> clf = ActiveDistillationClassifier(teacher=OracleTeacher(X, y), max_iter=50,
    ...                                    callbacks=[stop], random_state=0)
    >>> clf = clf.fit(X[:10], y[:10], X_pool=X[10:])
    >>> clf.termination_condition_, clf.n_iter_ < 50
    ('converged', True)
    >>> clf.history_[-1, "stop_kappa"] > 0.9
    True
    """

    key = "stop_kappa"

    def __init__(self, threshold=0.99, window=3, min_rounds=10,
                 stop_set_size=None, random_state=None):
        super().__init__(threshold, window, min_rounds, stop_set_size,
                         random_state)

    def _statistic(self, clf, record):
        return self._kappa(clf)

    def _passes(self, values):
        return self._windowed(values) >= self.threshold


class ProjectedChange(_KappaCriterion):
    """Stop when the predictions would barely change if the labelled set doubled.

    Consecutive students agree more and more as the labelled set grows, if
    only because each round adds a smaller share of it: a fixed kappa
    threshold (:class:`StabilizingPredictions`) fires while a student with
    many labels still learns, and its meaning depends on the batch size.
    This criterion scales the change to a doubling of the labelled set. After
    every round it records in ``history_`` the kappa between the previous
    and the new student on a fixed stop set (drawn once from the pool, never
    labelled) as ``"stop_kappa"``, and ``(1 - kappa) * n / b`` as
    ``"stop_projected_change"``: the change of one round times the rounds of
    ``b`` items (the labelled items this round added) that would double the
    ``n`` labelled items. The fit stops with
    ``termination_condition_ == "converged"`` when the mean of the last
    ``window`` projections falls to ``threshold`` or below.

    The projection is linear: it adds up changes that may undo each other
    and ignores that the rate of change falls, so it overestimates the
    change, which errs on the side of labelling more. It needs no labels and
    no ``predict_proba``. A round that added no item records ``nan`` (it is
    skipped in the window) unless the predictions did not change.

    The defaults (0.4 over 10 rounds) were chosen on the stopping benchmark
    (``docs/benchmarks/stopping.md``: banking77, hwu64, trec and ag_news,
    TF-IDF and MiniLM students, M-RARU and random sampling, batches of 25).

    Parameters
    ----------
    threshold : float, default=0.4
        Projected change, in (0, 1], at or below which to stop.
    window : int, default=10
        Number of last rounds averaged, at least 1.
    min_rounds : int, default=10
        Never stop before this many teacher rounds: a student trained on a
        handful of labels can look stable because it barely changes.
    stop_set_size, random_state
        As in :class:`StabilizingPredictions`.

    Attributes
    ----------
    values_ : list of float
        The projected change of every round.
    stop_indices_ : ndarray of int
        Pool indices of the stop set.

    See Also
    --------
    StabilizingPredictions : Stop on the kappa between consecutive rounds.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skakd import ActiveDistillationClassifier
    >>> from skakd.stopping import ProjectedChange
    >>> from skakd.teachers import OracleTeacher
    >>> X, y = make_classification(n_samples=2000, class_sep=2, random_state=0)
    >>> clf = ActiveDistillationClassifier(
    ...     teacher=OracleTeacher(X, y), max_iter=50, callbacks=[ProjectedChange()],
    ...     random_state=0,
    ... ).fit(X[:10], y[:10], X_pool=X[10:])
    >>> clf.termination_condition_, clf.n_iter_ < 50
    ('converged', True)
    >>> clf.history_[-1, "stop_projected_change"] <= 0.4
    True
    """

    key = "stop_projected_change"

    def __init__(self, threshold=0.4, window=10, min_rounds=10,
                 stop_set_size=None, random_state=None):
        super().__init__(threshold, window, min_rounds, stop_set_size,
                         random_state)

    def _statistic(self, clf, record):
        kappa = self._kappa(clf)
        record["stop_kappa"] = kappa  # the familiar figure, beside its projection
        return projected_change(kappa, record["n_labeled"],
                                record["n_labeled"] - clf.history_[-1, "n_labeled"])

    def _passes(self, values):
        return self._windowed(values) <= self.threshold


def projected_change(kappa, n_labeled, n_added):
    """``(1 - kappa) * n_labeled / n_added``: the change between consecutive
    students scaled to a doubling of the labelled set (``nan`` when the
    round added nothing yet changed the predictions).

    Examples
    --------
    >>> from skakd.stopping import projected_change
    >>> round(projected_change(0.99, 1000, 25), 3)  # 40 rounds to double
    0.4
    """
    if kappa >= 1.0:
        return 0.0
    if n_added <= 0:
        return np.nan
    return (1.0 - kappa) * n_labeled / n_added
