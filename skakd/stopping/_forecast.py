"""A learning curve fitted to what a run measured, and what it forecasts:
labels and dollars to a target accuracy."""

import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold, cross_val_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .._items import take
from ._curve import (
    SCORE_KEYS,
    agreement_points,
    fit_power_law,
    labels_for,
    n_sizes,
    power_law,
    records_until,
    score_points,
)

__all__ = ["LearningCurveForecast", "TargetNotReachable"]

# Seconds of cross-validation before a progress bar shows (source="cv").
PROGRESS_DELAY_S = 2.0


class TargetNotReachable(ValueError):
    """A target accuracy the fitted learning curve does not reach.

    Attributes
    ----------
    target : float
        The accuracy asked for.
    ceiling : float
        The curve's asymptote (the best accuracy it forecasts).
    """

    def __init__(self, message, target, ceiling):
        super().__init__(message)
        self.target = target
        self.ceiling = ceiling


class LearningCurveForecast(BaseEstimator):
    """Forecast labels, dollars and accuracy from a learning curve.

    Fits the inverse power law ``accuracy(n) = a - b * n ** -c`` to the
    accuracy a run measured, and bootstraps the points for an uncertainty
    band. ``fit(clf)`` reads a fitted
    :class:`~skakd.ActiveDistillationClassifier`:

    * ``source="validation"``: the held-out scores a
      :class:`~skakd.callbacks.Scoring` callback recorded in ``history_``
      (``skakd distill --validation`` or ``--validation-size``): unbiased,
      and free once the validation labels are there;
    * ``source="agreement"``: the teacher-agreement curve that
      :class:`TeacherAgreement` recorded in ``history_`` (the agreement of
      round ``r`` is the accuracy of the student trained on round ``r - 1``'s
      labels, on the batch of round ``r``); biased low under uncertainty
      sampling, which sends the teacher the texts the student finds hard;
    * ``source="cv"``: cross-validated accuracy of clones of the student on
      growing random subsets of its own labelled set; biased low as well
      when the sampler chose hard texts, and it refits the student
      ``cv * n_points`` times (a progress bar shows when that is slow);
    * ``source="auto"``: the first of these the run has (3 or more points).

    ``fit_points(n_labels, accuracy)`` takes any points instead.

    The forecast never contradicts a measurement: when the held-out scores
    already reached a target at ``n`` labels, :meth:`labels_to` answers at
    most ``n``, whatever the curve says (for ``fit(clf)``, the scores of
    ``history_`` whatever the source; for ``fit_points``, the points).
    A target above the curve's asymptote that no measurement reached, or
    one reached only beyond ``horizon`` labels, raises
    :class:`TargetNotReachable` (a ``ValueError`` that carries the
    ceiling): never a made-up number.

    Parameters
    ----------
    source : {"auto", "validation", "agreement", "cv"}, default="auto"
        Where ``fit(clf)`` takes the accuracy from.
    n_bootstrap : int, default=200
        Bootstrap refits for the band (0: no band).
    level : float, default=0.9
        Coverage of the band, in (0, 1).
    cv : int, default=5
        Folds for ``source="cv"``.
    n_points : int, default=6
        Subset sizes for ``source="cv"`` (geometric from 20 labels up to the
        labelled set).
    horizon : int, default=1_000_000
        Labels beyond which a target counts as not reachable.
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap and the cross-validation subsets.
    metric : str or None, default=None
        The ``history_`` key of the held-out score (:class:`Scoring`'s
        ``name``); ``None`` takes the first of ``"accuracy"``,
        ``"val_accuracy"``, ``"score"``, ``"val_macro_f1"``, ``"f1"`` there.
    progress : bool, default=True
        Show a progress bar on stderr while ``source="cv"``
        cross-validates for more than a couple of seconds.

    Attributes
    ----------
    source_ : str
        The source ``fit`` used (``"points"`` after ``fit_points``).
    n_labels_, accuracy_ : ndarray
        The points the curve was fitted to.
    measured_n_, measured_accuracy_ : ndarray
        The held-out measurements the forecast never contradicts (empty when
        the run recorded none).
    params_ : ndarray of shape (3,)
        ``a, b, c`` of the fitted curve; ``a`` is its ceiling.
    bootstrap_params_ : ndarray of shape (n_fits, 3)
        The bootstrap refits that converged.
    n_labeled_ : int
        Labelled items when the forecast was made (the last point's ``n``
        for ``fit_points``).
    cost_per_label_ : float
        USD per teacher label (the run's average for ``fit(clf)``).

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.stopping import LearningCurveForecast, TargetNotReachable
    >>> n = np.array([50, 100, 200, 400, 800])
    >>> forecast = LearningCurveForecast(n_bootstrap=50, random_state=0)
    >>> forecast = forecast.fit_points(n, 0.9 - 2 * n ** -0.5, cost_per_label=0.001)
    >>> round(forecast.labels_to(0.85), -2)
    1600
    >>> round(forecast.usd_to(0.85), 2)  # 800 more labels at $0.001
    0.8
    >>> round(forecast.accuracy_at(3200), 3)
    0.865
    >>> forecast.labels_to(0.8)  # measured at 400 labels: never more
    400
    >>> try:
    ...     forecast.labels_to(0.95)
    ... except TargetNotReachable as exc:
    ...     print(round(exc.ceiling, 2))
    0.9
    """

    _parameter_constraints = {
        "source": [StrOptions({"auto", "validation", "agreement", "cv"})],
        "n_bootstrap": [Interval(Integral, 0, None, closed="left")],
        "level": [Interval(Real, 0, 1, closed="neither")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "n_points": [Interval(Integral, 3, None, closed="left")],
        "horizon": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "metric": [str, None],
        "progress": ["boolean"],
    }

    def __init__(self, source="auto", n_bootstrap=200, level=0.9, cv=5,
                 n_points=6, horizon=1_000_000, random_state=None, metric=None,
                 progress=True):
        self.source = source
        self.n_bootstrap = n_bootstrap
        self.level = level
        self.cv = cv
        self.n_points = n_points
        self.horizon = horizon
        self.random_state = random_state
        self.metric = metric
        self.progress = progress

    def fit(self, clf, *, until=None):
        """Fit the curve to what a fitted classifier's run measured.

        Parameters
        ----------
        clf : ActiveDistillationClassifier
            A fitted classifier (``source="validation"`` needs a
            :class:`~skakd.callbacks.Scoring` callback, ``"agreement"`` a
            :class:`TeacherAgreement`).
        until : int or None, default=None
            Use only what the fit knew up to its last round with at most
            ``until`` labelled items (a pilot run inside a longer one, e.g.
            to check the forecast against the rest of the run); ``None``
            uses the whole run.

        Returns
        -------
        self : LearningCurveForecast
        """
        self._validate_params()
        check_is_fitted(clf, "history_")
        records = records_until(clf.history_, until)
        rows = np.flatnonzero(np.asarray(clf.label_round_) <= records[-1]["round"])
        measured = score_points(records, self.metric)
        source = self._pick_source(records, measured)
        if source == "validation":
            n, accuracy = measured
        elif source == "agreement":
            n, accuracy = agreement_points(records)
        else:
            y = np.asarray(clf.labeled_y_)[rows]
            n, accuracy = self._cv_points(clf.estimator_, take(clf.labeled_X_, rows), y)
        n_teacher = int(np.sum(np.asarray(clf.label_source_)[rows] != "seed"))
        paid = records[-1].get("teacher_cost_total", 0.0)
        self.source_ = source
        return self._fit(n, accuracy, paid / n_teacher if n_teacher else 0.0,
                         len(rows), measured)

    def _pick_source(self, records, measured):
        if self.source == "validation" and n_sizes(*measured) == 0:
            raise ValueError(
                "LearningCurveForecast(source='validation') needs held-out "
                "scores in history_ (key "
                f"{self.metric or ' or '.join(SCORE_KEYS)}); run with "
                "skakd.callbacks.Scoring (skakd distill --validation "
                "or --validation-size), or use source='agreement' or 'cv'."
            )
        if self.source != "auto":
            return self.source
        if n_sizes(*measured) >= 3:
            return "validation"
        agreement = [r.get("teacher_agreement") for r in records[1:]]
        return "agreement" if sum(a is not None for a in agreement) >= 3 else "cv"

    def fit_points(self, n_labels, accuracy, *, cost_per_label=0.0, measured=None):
        """Fit the curve to given points.

        Parameters
        ----------
        n_labels : array-like of int
            Labelled-set sizes, all positive.
        accuracy : array-like of float
            Accuracy estimate at each size (``nan`` points are dropped).
        cost_per_label : float, default=0.0
            USD per teacher label, for :meth:`usd_to`.
        measured : tuple of two array-likes or None, default=None
            ``(n_labels, accuracy)`` measured on held-out data, which
            :meth:`labels_to` never contradicts; ``None``: the points
            themselves.

        Returns
        -------
        self : LearningCurveForecast
        """
        self._validate_params()
        n = np.asarray(n_labels, dtype=float)
        accuracy = np.asarray(accuracy, dtype=float)
        measured = (n, accuracy) if measured is None else tuple(
            np.asarray(values, dtype=float) for values in measured)
        self.source_ = "points"
        return self._fit(n, accuracy, float(cost_per_label),
                         int(n.max()) if len(n) else 0, measured)

    def _fit(self, n, accuracy, cost_per_label, n_labeled, measured):
        keep = np.isfinite(accuracy) & (n > 0)
        n, accuracy = n[keep], accuracy[keep]
        if len(np.unique(n)) < 3:
            raise ValueError(
                f"LearningCurveForecast needs accuracy estimates at 3 or more "
                f"labelled-set sizes, got {len(np.unique(n))}; run more rounds "
                "(or record held-out scores with skakd.callbacks.Scoring, or "
                "add TeacherAgreement to the callbacks)."
            )
        params = fit_power_law(n, accuracy)
        if params is None:
            raise ValueError("LearningCurveForecast: the inverse power law could "
                             "not be fitted to these points.")
        self.n_labels_, self.accuracy_, self.params_ = n, accuracy, params
        seen = np.isfinite(measured[1])
        self.measured_n_, self.measured_accuracy_ = (v[seen] for v in measured)
        self.bootstrap_params_ = self._bootstrap(n, accuracy)
        self.n_labeled_, self.cost_per_label_ = n_labeled, cost_per_label
        return self

    def _bootstrap(self, n, accuracy):
        rng = np.random.default_rng(_seed(self.random_state))
        fits = []
        for _ in range(self.n_bootstrap):
            rows = rng.integers(0, len(n), len(n))
            if len(np.unique(n[rows])) < 3:
                continue
            params = fit_power_law(n[rows], accuracy[rows])
            if params is not None:
                fits.append(params)
        return np.array(fits).reshape(-1, 3)

    def _cv_points(self, student, X, y):
        rng = np.random.default_rng(_seed(self.random_state))
        grid = np.geomspace(min(20, len(y)), len(y), self.n_points)
        sizes = np.unique(grid.astype(int))
        order = rng.permutation(len(y))
        # The largest subsets take longest: the bar counts refits, and shows
        # only when the cross-validation lasts (a fine-tuned BERT: minutes).
        with tqdm(total=len(sizes) * self.cv, desc="forecast: cross-validating",
                  unit="fit", file=sys.stderr, delay=PROGRESS_DELAY_S,
                  disable=not self.progress) as bar:
            points = [(size, self._cv_accuracy(student, X, y, order[:size], bar))
                      for size in sizes]
        n, accuracy = np.array(points, dtype=float).T
        return n, accuracy

    def _cv_accuracy(self, student, X, y, rows, bar):
        if len(rows) < 2 * self.cv or len(np.unique(y[rows])) < 2:
            bar.update(self.cv)
            return np.nan  # too few labels to cross-validate
        # Plain shuffled folds, not stratified: with many classes most have
        # one or two labels, and a fold may miss a class (counted as errors).
        splitter = KFold(self.cv, shuffle=True, random_state=0)
        X_rows, y_rows, scores = take(X, rows), y[rows], []
        for fold in splitter.split(rows):  # fold by fold, for the bar
            with warnings.catch_warnings():
                # Few labels of many classes is the normal case here.
                warnings.filterwarnings("ignore",
                                        message="The number of unique classes")
                scores.append(cross_val_score(clone(student), X_rows, y_rows,
                                              cv=[fold], error_score=np.nan)[0])
            bar.update(1)
        # n labels train on (cv - 1) / cv of them; the point stands at n.
        return float(np.nanmean(scores)) if np.isfinite(scores).any() else np.nan

    def accuracy_at(self, n_labels, *, return_band=False):
        """Accuracy the curve forecasts with ``n_labels`` labelled items.

        Parameters
        ----------
        n_labels : int
            Size of the labelled set (``n_labeled_ + k`` for ``k`` more).
        return_band : bool, default=False
            Also return the bootstrap band's bounds.

        Returns
        -------
        accuracy : float, or (accuracy, low, high)
        """
        check_is_fitted(self, "params_")
        point = float(power_law(n_labels, *self.params_))
        if not return_band:
            return point
        curves = [power_law(n_labels, *p) for p in self.bootstrap_params_]
        low, high = self._band(curves)
        return point, low, high

    def labels_to(self, accuracy, *, return_band=False):
        """Labelled-set size at which the curve reaches ``accuracy``.

        At most the size at which a held-out measurement first reached
        ``accuracy`` (``measured_n_``), whatever the curve says.

        Parameters
        ----------
        accuracy : float
            Target accuracy, in (0, 1].
        return_band : bool, default=False
            Also return the bootstrap band's bounds (``inf`` where some
            bootstrap curves never reach the target), bounded by the
            measurements as the point is.

        Returns
        -------
        n_labels : int, or (n_labels, low, high)

        Raises
        ------
        TargetNotReachable
            When no measurement reached ``accuracy`` and it is at or above
            the curve's ceiling, or reached only beyond ``horizon`` labels.
        """
        check_is_fitted(self, "params_")
        if not 0 < accuracy <= 1:
            raise ValueError(f"accuracy={accuracy!r}: expected a target in (0, 1].")
        reached = self._reached(accuracy)
        n = min(labels_for(self.params_, accuracy), reached)
        if not n <= self.horizon:
            raise self._not_reachable(accuracy, n)
        point = int(np.ceil(n))
        if not return_band:
            return point
        labels = [min(labels_for(p, accuracy), reached)
                  for p in self.bootstrap_params_]
        low, high = self._band(np.ceil(labels))  # whole labels, as the point
        return point, low, high

    def _reached(self, accuracy):
        """Labels of the first measurement at or above ``accuracy`` (inf: none)."""
        hit = self.measured_n_[self.measured_accuracy_ >= accuracy]
        return float(hit.min()) if len(hit) else np.inf

    def usd_to(self, accuracy):
        """Teacher USD, from now, to reach ``accuracy`` (0 if already there).

        Parameters
        ----------
        accuracy : float
            Target accuracy, in (0, 1].

        Returns
        -------
        usd : float
            ``max(0, labels_to(accuracy) - n_labeled_) * cost_per_label_``.

        Raises
        ------
        TargetNotReachable
            As :meth:`labels_to`.
        """
        more = max(0, self.labels_to(accuracy) - self.n_labeled_)
        return more * self.cost_per_label_

    def _band(self, values):
        values = np.asarray(values, dtype=float)
        if len(values) == 0:
            return np.nan, np.nan
        tail = (1 - self.level) / 2
        # No interpolation: a bound among never-reaching curves stays inf.
        low, high = np.quantile(values, [tail, 1 - tail], method="inverted_cdf")
        return float(low), float(high)

    def _not_reachable(self, accuracy, n):
        ceiling = float(self.params_[0])
        if np.isinf(n):
            why = f"the fitted learning curve levels off at {ceiling:.3f}"
            best = ceiling
        else:
            why = (f"the fitted curve reaches it only after {n:,.0f} labels, "
                   f"beyond horizon={self.horizon:,}")
            best = self.accuracy_at(self.horizon)
        return TargetNotReachable(
            f"accuracy={accuracy} is not reachable: {why}; ask for at most "
            f"{best:.3f} (fitted on {len(self.n_labels_)} points up to "
            f"{int(self.n_labels_.max())} labels).", accuracy, ceiling,
        )


def _seed(random_state):
    """An int seed (or None) from a scikit-learn ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return random_state
