"""Uniform random sampling, the baseline every active learner must beat."""

import time

import numpy as np

from ._base import BaseSampler, check_candidates

__all__ = ["RandomSampler"]


class RandomSampler(BaseSampler):
    """Choose unlabelled pool items uniformly at random.

    Parameters
    ----------
    batch_size : int, default=25
        Items to label per round.

    Attributes
    ----------
    last_stats_ : dict
        ``n_visited``, ``acceptance_rate`` (always 1) and ``seconds`` of the
        last :meth:`select`.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.sampling import RandomSampler
    >>> RandomSampler().select(None, None, np.arange(10), 3, random_state=0)
    array([5, 9, 6])
    """

    def select(self, estimator, X_pool, candidates, n_samples, random_state):
        self._validate_params()
        start = time.perf_counter()
        candidates = check_candidates(candidates)
        n_samples = min(int(n_samples), len(candidates))
        rng = np.random.default_rng(random_state)
        chosen = candidates[rng.choice(len(candidates), n_samples, replace=False)]
        self.last_stats_ = {
            "n_visited": n_samples,
            "acceptance_rate": 1.0,
            "seconds": time.perf_counter() - start,
        }
        return chosen
