"""What every label-free stopping criterion shares: the statistic
recorded each round, the window it is averaged over, and the stop set."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._items import n_items, take
from ..callbacks import Callback
from ..reasons import CONVERGED

__all__ = [
    "COMMON_CONSTRAINTS",
    "DEFAULT_STOP_SET",
    "STOP_SET_CONSTRAINTS",
    "Criterion",
    "StopSetCriterion",
]

DEFAULT_STOP_SET = 1000


class Criterion(Callback):
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


class StopSetCriterion(Criterion):
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
            return min(DEFAULT_STOP_SET, n_pool)
        if isinstance(size, Real) and not isinstance(size, Integral):
            return max(1, int(round(size * n_pool)))
        if size > n_pool:
            raise ValueError(
                f"{type(self).__name__}(stop_set_size={size}): the stop set is "
                f"larger than the pool ({n_pool} items); expected at most "
                f"{n_pool}, a fraction in (0, 1], or None for "
                f"min({DEFAULT_STOP_SET}, pool size)."
            )
        return int(size)


COMMON_CONSTRAINTS = {
    "window": [Interval(Integral, 1, None, closed="left")],
    "min_rounds": [Interval(Integral, 0, None, closed="left")],
}
STOP_SET_CONSTRAINTS = {
    "stop_set_size": [
        Interval(Integral, 1, None, closed="left"),
        Interval(Real, 0, 1, closed="right"),
        None,
    ],
    "random_state": ["random_state"],
}
