"""Label-free stopping criteria, as callbacks of the distillation loop."""

from numbers import Integral, Real

import numpy as np
from sklearn.metrics import cohen_kappa_score
from sklearn.utils._param_validation import Interval, StrOptions

from .._items import n_items, take
from ..callbacks import Callback
from ..reasons import CONVERGED

__all__ = ["ConfidenceStop", "ProjectedChange", "StabilizingPredictions",
           "TeacherAgreement"]

_DEFAULT_STOP_SET = 1000


class _Criterion(Callback):
    """The common opening of every criterion: validate, then one statistic
    per round; stop once ``min_rounds`` rounds are done and the windowed
    statistic passes. Subclasses write ``_statistic`` and ``_passes``."""

    stop_reason = CONVERGED
    key = None  # history_ key of the statistic

    def on_fit_begin(self, clf):
        self._validate_params()
        self.values_ = []

    def on_round_end(self, clf, record):
        value = float(self._statistic(clf, record))
        record[self.key] = value
        self.values_.append(value)
        if clf.n_iter_ < self.min_rounds or len(self.values_) < self.window:
            return False
        return bool(self._passes(self.values_))

    def _windowed(self, values):
        """Mean of the last ``window`` rounds (rounds without a value skipped)."""
        last = np.asarray(values[-self.window:], dtype=float)
        return np.nan if np.isnan(last).all() else float(np.nanmean(last))


class _StopSetCriterion(_Criterion):
    """A criterion measured on a stop set drawn once from the pool.

    The stop set is drawn in round 1, before the first refit, from
    ``state.X_pool``; its items are never sent to the teacher by this
    criterion (the sampler may still pick some: the criterion observes the
    run, it does not change it). Only the stop set's pool indices are kept
    after the fit (``stop_indices_``), so the fitted classifier stays small.
    """

    def on_fit_begin(self, clf):
        super().on_fit_begin(clf)
        self.stop_X_ = None
        self.stop_indices_ = None

    def on_acquisition(self, clf, state, acquisition):
        if self.stop_X_ is not None:
            return
        self.stop_indices_ = self._draw(state)
        self.stop_X_ = take(state.X_pool, self.stop_indices_)
        self._start(state.estimator)

    def on_fit_end(self, clf):
        self.stop_X_ = None

    def _start(self, student):
        """Look at the stop set with the seed student (round 1's previous)."""

    def _draw(self, state):
        name = type(self).__name__
        if state.X_pool is None:
            raise ValueError(
                f"{name} measures the student on a stop set drawn from X_pool, "
                "but this fit has no pool; use TeacherAgreement (it needs no "
                "pool) or pass X_pool."
            )
        n_pool = n_items(state.X_pool)
        size = self._stop_set_size(n_pool)
        if state.seeds is None:
            rng = np.random.default_rng(self.random_state)
        elif self.random_state is None:
            # A child key the loop never spawns: the stop set is reproducible
            # with the fit's random_state and leaves the rounds' draws alone.
            rng = np.random.default_rng(np.random.SeedSequence(
                state.seeds.entropy, spawn_key=(2**31 - 1,)))
        else:
            rng = np.random.default_rng(self.random_state)
        return np.sort(rng.choice(n_pool, size=size, replace=False))

    def _stop_set_size(self, n_pool):
        size = self.stop_set_size
        if size is None:
            return min(_DEFAULT_STOP_SET, n_pool)
        if isinstance(size, Real) and not isinstance(size, Integral):
            return max(1, int(round(size * n_pool)))
        if size > n_pool:
            raise ValueError(
                f"{type(self).__name__}(stop_set_size={size}): the stop set is "
                f"larger than the pool ({n_pool} items); expected at most "
                f"{n_pool}, a fraction in (0, 1], or None for "
                f"min({_DEFAULT_STOP_SET}, pool size)."
            )
        return int(size)


_COMMON = {
    "window": [Interval(Integral, 1, None, closed="left")],
    "min_rounds": [Interval(Integral, 0, None, closed="left")],
}
_STOP_SET = {
    "stop_set_size": [
        Interval(Integral, 1, None, closed="left"),
        Interval(Real, 0, 1, closed="right"),
        None,
    ],
    "random_state": ["random_state"],
}


class _KappaCriterion(_StopSetCriterion):
    """Cohen's kappa between the previous and the new student's predictions
    on the stop set."""

    _parameter_constraints = {
        "threshold": [Interval(Real, 0, 1, closed="right")],
        **_COMMON,
        **_STOP_SET,
    }

    def _start(self, student):
        self.previous_ = student.predict(self.stop_X_)

    def _kappa(self, clf):
        current = clf.estimator_.predict(self.stop_X_)
        previous, self.previous_ = self.previous_, current
        if np.array_equal(previous, current):
            return 1.0  # kappa is 0/0 when both predict one class alike
        return cohen_kappa_score(previous, current)

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
        self.threshold = threshold
        self.window = window
        self.min_rounds = min_rounds
        self.stop_set_size = stop_set_size
        self.random_state = random_state

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
        self.threshold = threshold
        self.window = window
        self.min_rounds = min_rounds
        self.stop_set_size = stop_set_size
        self.random_state = random_state

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


class ConfidenceStop(_StopSetCriterion):
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
        **_COMMON,
        **_STOP_SET,
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
        uncertainty = scaled_uncertainty(proba, self.measure)
        return uncertainty.max() if self.aggregate == "max" else uncertainty.mean()

    def _passes(self, values):
        return self._windowed(values) <= self.threshold


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


class TeacherAgreement(_Criterion):
    """Stop when the student already agrees with the teacher's new answers.

    Each round, before the student is refitted, the previous student
    predicts the batch the teacher just labelled; the share of the batch on
    which it agreed with the teacher is recorded in ``history_`` as
    ``"teacher_agreement"`` (``nan`` for a round without a usable answer).
    It costs nothing (those labels were paid for anyway) and needs no pool.

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
        **_COMMON,
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
        usable = np.flatnonzero(np.isin(labels, state.classes))
        agreed = 0
        if len(usable):
            predicted = state.estimator.predict(take(acquisition.X, usable))
            agreed = int(np.sum(np.asarray(predicted, dtype=object) == labels[usable]))
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
