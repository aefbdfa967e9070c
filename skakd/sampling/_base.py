"""Base class and helpers shared by pool samplers."""

import time
import weakref
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ._cold import COLD_STARTS

__all__ = ["BaseSampler"]


class BaseSampler(BaseEstimator):
    """Base class for pool samplers.

    A sampler chooses which unlabelled pool items the teacher labels next.
    :meth:`select` does what every sampler needs — checks the parameters and
    ``candidates``, caps ``n_samples`` at the number of candidates, makes a
    ``numpy.random.Generator`` from ``random_state`` and times the call — and
    hands the rest to ``_select``, the one method a subclass writes::

        def _select(self, estimator, X_pool, candidates, n_samples, rng):
            ...
            return chosen, stats

    ``candidates`` arrives as a 1-D array of indices, ``n_samples`` as an int
    no larger than ``len(candidates)`` and ``rng`` as a ``Generator``;
    ``chosen`` is an array of indices into ``X_pool`` and ``stats`` a dict of
    figures about the selection (such as ``n_visited`` and
    ``acceptance_rate``; ``{}`` will do). :meth:`select` stores ``stats`` with
    the time taken, ``seconds``, as ``last_stats_``, which the distillation
    loop copies into ``history_``.

    Parameters
    ----------
    batch_size : int, default=25
        Number of items to label per round.
    cold_start : {"diverse", "random"}, default="diverse"
        How the first rounds of a fit from no seed choose items, before a
        student exists: one item per k-means cluster of the pool, or at
        random (see :func:`skakd.sampling.cold_select`).
    weight_by_confidence : bool, default=False
        Whether each training row counts as much as the teacher was sure of
        its label (``labeled_confidence_``): a label given with confidence 0.6
        weighs 0.6 in the student's ``fit`` (``sample_weight``), a row of
        unknown confidence (the seed, a person's label, a teacher that says
        nothing) weighs 1. Needs a student whose ``fit`` (a Pipeline's last
        step) takes ``sample_weight``; another is refused at fit, before the
        teacher is asked. With a calibrated teacher wrong 20% of the time on
        banking77 it won back over a third of the accuracy the noise cost
        with M-RARU in batches of 100, about a fifth in batches of 25, for
        nothing (the "Label audit" benchmark page). A strategy that
        weights rows its own way (such as
        :class:`~skakd.augmentation.PGKD`, whose ``pool_sampler`` this may
        be) does not read it.

    Attributes
    ----------
    last_stats_ : dict
        ``_select``'s stats for the last :meth:`select`, and ``seconds``.

    See Also
    --------
    MRARU : Randomized accept/reject uncertainty sampling.
    UncertaintySampler : Exhaustive uncertainty sampling.
    RandomSampler : Uniform random sampling.

    Examples
    --------
    A sampler that labels the candidates with the largest first feature:

    >>> import numpy as np
    >>> from skakd.sampling import BaseSampler
    >>> class LargestFirst(BaseSampler):
    ...     def _select(self, estimator, X_pool, candidates, n_samples, rng):
    ...         order = np.argsort(-X_pool[candidates, 0], kind="stable")
    ...         return candidates[order[:n_samples]], {"n_visited": len(candidates)}
    >>> X = np.array([[3.0], [9.0], [1.0], [7.0]])
    >>> sampler = LargestFirst(batch_size=2)
    >>> sampler.select(None, X, np.array([0, 2, 3]), 2, random_state=0)
    array([3, 0])
    >>> sorted(sampler.last_stats_)
    ['n_visited', 'seconds']
    """

    _parameter_constraints: dict = {
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "cold_start": [StrOptions(set(COLD_STARTS))],
        "weight_by_confidence": ["boolean"],
    }

    # Samplers pick pool items for the teacher to label; it writes none.
    generative = False

    # Whether select() calls estimator.predict_proba; checked at fit time so a
    # student without probabilities fails before the teacher is paid.
    _needs_proba = False

    def __init__(self, batch_size=25, *, cold_start="diverse",
                 weight_by_confidence=False):
        self.batch_size = batch_size
        self.cold_start = cold_start
        self.weight_by_confidence = weight_by_confidence

    def select(self, estimator, X_pool, candidates, n_samples, random_state):
        """Choose up to ``n_samples`` items of ``X_pool`` for the teacher.

        Parameters
        ----------
        estimator : fitted estimator
            The current student.
        X_pool : array-like, sparse matrix or sequence
            The whole unlabelled pool.
        candidates : array-like of int
            Indices into ``X_pool`` that are still unlabelled.
        n_samples : int
            Largest number of indices to return.
        random_state : numpy.random.Generator, int or None
            Source of randomness.

        Returns
        -------
        indices : ndarray of int
            Chosen indices into ``X_pool``, a subset of ``candidates``, in
            the order they were chosen.
        """
        start = time.perf_counter()
        self._check_params()
        candidates = check_candidates(candidates)
        n_samples = min(_check_n_samples(n_samples), len(candidates))
        rng = np.random.default_rng(random_state)
        chosen, stats = self._select(estimator, X_pool, candidates, n_samples, rng)
        self.last_stats_ = {**stats, "seconds": time.perf_counter() - start}
        return chosen

    def _select(self, estimator, X_pool, candidates, n_samples, rng):
        raise NotImplementedError(
            f"{type(self).__name__} must implement _select(estimator, X_pool, "
            "candidates, n_samples, rng), returning (indices, stats)."
        )

    def _check_params(self):
        # sklearn's check (50 us, a few percent of an M-RARU selection) runs
        # when a parameter was set anew, not at every call. What passed is
        # remembered beside the sampler, not on it: a sampler holds only its
        # parameters and what it reports (last_stats_).
        params = [getattr(self, name, None) for name in self._parameter_constraints]
        checked = _CHECKED_PARAMS.get(self)
        if checked is None or any(a is not b for a, b in zip(params, checked)):
            self._validate_params()
            _CHECKED_PARAMS[self] = params


# sampler -> the parameter values its last validation passed with.
_CHECKED_PARAMS = weakref.WeakKeyDictionary()


def confidence_weights(confidence):
    """One training weight per row: the teacher's confidence in its label
    (``labeled_confidence_``), 1 where it is unknown (``nan``)."""
    confidence = np.asarray(confidence, dtype=float)
    return np.where(np.isnan(confidence), 1.0, confidence)


def check_candidates(candidates):
    candidates = np.asarray(candidates, dtype=np.intp)
    if candidates.ndim != 1:
        raise ValueError(
            f"candidates must be a 1-D array of indices, got shape "
            f"{candidates.shape}."
        )
    return candidates


def _check_n_samples(n_samples):
    try:
        value = int(n_samples)
    except (TypeError, ValueError):
        value = -1
    if value < 0 or value != n_samples:
        raise ValueError(
            f"n_samples must be a non-negative integer, got {n_samples!r}."
        )
    return value
