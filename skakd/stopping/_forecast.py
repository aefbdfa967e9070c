"""A learning curve fitted to label-free accuracy estimates, and what it
forecasts: labels and dollars to a target accuracy."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold, cross_val_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._items import take

__all__ = ["LearningCurveForecast", "TargetNotReachable"]


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


def power_law(n, a, b, c):
    """Inverse power law ``a - b * n ** -c``: accuracy after ``n`` labels.

    Examples
    --------
    >>> from skakd.stopping import power_law
    >>> round(float(power_law(100, 0.9, 0.5, 0.5)), 2)
    0.85
    """
    return a - b * np.power(np.asarray(n, dtype=float), -c)


def _fit_power_law(n, accuracy):
    """``(a, b, c)`` of the inverse power law through the points, or ``None``
    when the fit fails (too few or degenerate points)."""
    spread = accuracy.max() - accuracy.min()
    start = (min(1.0, accuracy.max() + 0.02), max(1e-3, spread), 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            # a is an accuracy (at most 1); c > 0 makes the curve rise.
            params, _ = curve_fit(power_law, n, accuracy, p0=start,
                                  bounds=([0.0, 0.0, 1e-3], [1.0, np.inf, 3.0]),
                                  maxfev=5000)
    except (RuntimeError, ValueError):
        return None
    return params


def _labels_for(params, target):
    """Labels at which the curve ``params`` reaches ``target`` (inf: never)."""
    a, b, c = params
    if target >= a:
        return np.inf
    if b <= 0:
        return 1.0
    return float((b / (a - target)) ** (1.0 / c))


class LearningCurveForecast(BaseEstimator):
    """Forecast labels, dollars and accuracy from a learning curve.

    Fits the inverse power law ``accuracy(n) = a - b * n ** -c`` to accuracy
    estimates that cost no extra label, and bootstraps the points for an
    uncertainty band. ``fit(clf)`` reads a fitted
    :class:`~skakd.ActiveDistillationClassifier`:

    * ``source="agreement"``: the teacher-agreement curve that
      :class:`TeacherAgreement` recorded in ``history_`` (the agreement of
      round ``r`` is the accuracy of the student trained on round ``r - 1``'s
      labels, on the batch of round ``r``); biased low under uncertainty
      sampling;
    * ``source="cv"``: cross-validated accuracy of clones of the student on
      growing random subsets of its own labelled set (biased low as well
      when the sampler chose hard items).

    ``fit_points(n_labels, accuracy)`` takes any points instead.

    A target above the curve's asymptote, or reached only beyond
    ``horizon`` labels, raises :class:`TargetNotReachable` (a
    ``ValueError`` that carries the ceiling): never a made-up number.

    Parameters
    ----------
    source : {"agreement", "cv"}, default="agreement"
        Where ``fit(clf)`` takes the accuracy estimates from.
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

    Attributes
    ----------
    n_labels_, accuracy_ : ndarray
        The points the curve was fitted to.
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
    >>> try:
    ...     forecast.labels_to(0.95)
    ... except TargetNotReachable as exc:
    ...     print(round(exc.ceiling, 2))
    0.9
    """

    _parameter_constraints = {
        "source": [StrOptions({"agreement", "cv"})],
        "n_bootstrap": [Interval(Integral, 0, None, closed="left")],
        "level": [Interval(Real, 0, 1, closed="neither")],
        "cv": [Interval(Integral, 2, None, closed="left")],
        "n_points": [Interval(Integral, 3, None, closed="left")],
        "horizon": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, source="agreement", n_bootstrap=200, level=0.9, cv=5,
                 n_points=6, horizon=1_000_000, random_state=None):
        self.source = source
        self.n_bootstrap = n_bootstrap
        self.level = level
        self.cv = cv
        self.n_points = n_points
        self.horizon = horizon
        self.random_state = random_state

    def fit(self, clf, *, until=None):
        """Fit the curve to the label-free estimates of a fitted classifier.

        Parameters
        ----------
        clf : ActiveDistillationClassifier
            A fitted classifier (``source="agreement"`` needs a
            :class:`TeacherAgreement` among its callbacks).
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
        records = _records_until(clf.history_, until)
        rows = np.flatnonzero(np.asarray(clf.label_round_) <= records[-1]["round"])
        if self.source == "agreement":
            n, accuracy = _agreement_points(records)
        else:
            y = np.asarray(clf.labeled_y_)[rows]
            n, accuracy = self._cv_points(clf.estimator_, take(clf.labeled_X_, rows), y)
        n_teacher = int(np.sum(np.asarray(clf.label_source_)[rows] != "seed"))
        paid = records[-1].get("teacher_cost_total", 0.0)
        return self._fit(n, accuracy, paid / n_teacher if n_teacher else 0.0, len(rows))

    def fit_points(self, n_labels, accuracy, *, cost_per_label=0.0):
        """Fit the curve to given points.

        Parameters
        ----------
        n_labels : array-like of int
            Labelled-set sizes, all positive.
        accuracy : array-like of float
            Accuracy estimate at each size (``nan`` points are dropped).
        cost_per_label : float, default=0.0
            USD per teacher label, for :meth:`usd_to`.

        Returns
        -------
        self : LearningCurveForecast
        """
        self._validate_params()
        n = np.asarray(n_labels, dtype=float)
        return self._fit(n, np.asarray(accuracy, dtype=float), float(cost_per_label),
                         int(n.max()) if len(n) else 0)

    def _fit(self, n, accuracy, cost_per_label, n_labeled):
        keep = np.isfinite(accuracy) & (n > 0)
        n, accuracy = n[keep], accuracy[keep]
        if len(np.unique(n)) < 3:
            raise ValueError(
                f"LearningCurveForecast needs accuracy estimates at 3 or more "
                f"labelled-set sizes, got {len(np.unique(n))}; run more rounds "
                "(or add TeacherAgreement to the callbacks for source='agreement')."
            )
        params = _fit_power_law(n, accuracy)
        if params is None:
            raise ValueError("LearningCurveForecast: the inverse power law could "
                             "not be fitted to these points.")
        self.n_labels_, self.accuracy_, self.params_ = n, accuracy, params
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
            params = _fit_power_law(n[rows], accuracy[rows])
            if params is not None:
                fits.append(params)
        return np.array(fits).reshape(-1, 3)

    def _cv_points(self, student, X, y):
        rng = np.random.default_rng(_seed(self.random_state))
        grid = np.geomspace(min(20, len(y)), len(y), self.n_points)
        sizes = np.unique(grid.astype(int))
        order = rng.permutation(len(y))
        points = [(size, self._cv_accuracy(student, X, y, order[:size]))
                  for size in sizes]
        n, accuracy = np.array(points, dtype=float).T
        return n, accuracy

    def _cv_accuracy(self, student, X, y, rows):
        if len(rows) < 2 * self.cv or len(np.unique(y[rows])) < 2:
            return np.nan  # too few labels to cross-validate
        # Plain shuffled folds, not stratified: with many classes most have
        # one or two labels, and a fold may miss a class (counted as errors).
        splitter = KFold(self.cv, shuffle=True, random_state=0)
        with warnings.catch_warnings():
            # Few labels of many classes is the normal case here.
            warnings.filterwarnings("ignore", message="The number of unique classes")
            scores = cross_val_score(clone(student), take(X, rows), y[rows],
                                     cv=splitter, error_score=np.nan)
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

        Parameters
        ----------
        accuracy : float
            Target accuracy, in (0, 1].
        return_band : bool, default=False
            Also return the bootstrap band's bounds (``inf`` where some
            bootstrap curves never reach the target).

        Returns
        -------
        n_labels : int, or (n_labels, low, high)

        Raises
        ------
        TargetNotReachable
            When ``accuracy`` is at or above the curve's ceiling, or reached
            only beyond ``horizon`` labels.
        """
        check_is_fitted(self, "params_")
        if not 0 < accuracy <= 1:
            raise ValueError(f"accuracy={accuracy!r}: expected a target in (0, 1].")
        n = _labels_for(self.params_, accuracy)
        if not n <= self.horizon:
            raise self._not_reachable(accuracy, n)
        point = int(np.ceil(n))
        if not return_band:
            return point
        labels = [_labels_for(p, accuracy) for p in self.bootstrap_params_]
        low, high = self._band(labels)
        return point, low, high

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


def _records_until(history, until):
    """The rounds of ``history`` up to the last with ``<= until`` labels."""
    if until is None:
        return list(history)
    records = [record for record in history if record["n_labeled"] <= until]
    if not records:
        raise ValueError(
            f"until={until}: the seed alone has {history[0]['n_labeled']} "
            "labelled items; expected at least that many."
        )
    return records


def _agreement_points(records):
    """``(n, agreement)``: round ``r``'s agreement measures the student fitted
    on round ``r - 1``'s labelled set."""
    agreement = [record.get("teacher_agreement") for record in records]
    if all(value is None for value in agreement):
        raise ValueError(
            "LearningCurveForecast(source='agreement') needs the "
            "'teacher_agreement' of history_: add skakd.stopping."
            "TeacherAgreement() to the classifier's callbacks, or use "
            "source='cv'."
        )
    n = np.array([record["n_labeled"] for record in records[:-1]], dtype=float)
    accuracy = np.array([np.nan if a is None else a for a in agreement[1:]],
                        dtype=float)
    return n, accuracy


def _seed(random_state):
    """An int seed (or None) from a scikit-learn ``random_state``."""
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return random_state
