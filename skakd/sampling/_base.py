"""Base class and helpers shared by pool samplers."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

__all__ = ["BaseSampler"]


class BaseSampler(BaseEstimator):
    """Base class for pool samplers.

    A sampler chooses which unlabelled pool items the teacher labels next.
    Subclasses implement :meth:`select` and set ``last_stats_``, a dict that
    describes the last selection (at least ``n_visited`` and ``seconds``);
    the distillation loop copies it into ``history_``.

    Parameters
    ----------
    batch_size : int, default=25
        Number of items to label per round.
    """

    _parameter_constraints: dict = {
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    # Whether select() calls estimator.predict_proba; checked at fit time so a
    # student without probabilities fails before the teacher is paid.
    _needs_proba = False

    def __init__(self, batch_size=25):
        self.batch_size = batch_size

    def select(self, estimator, X_pool, candidates, n_samples, random_state):
        """Choose up to ``n_samples`` items of ``X_pool`` for the teacher.

        Parameters
        ----------
        estimator : fitted estimator
            The current student.
        X_pool : array-like, sparse matrix or sequence
            The whole unlabelled pool.
        candidates : ndarray of int
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
        raise NotImplementedError


def check_candidates(candidates):
    candidates = np.asarray(candidates, dtype=np.intp)
    if candidates.ndim != 1:
        raise ValueError(
            f"candidates must be a 1-D array of indices, got shape "
            f"{candidates.shape}."
        )
    return candidates
