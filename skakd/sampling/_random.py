"""Uniform random sampling, the baseline every active learner must beat."""

from ._base import BaseSampler

__all__ = ["RandomSampler"]


class RandomSampler(BaseSampler):
    """Choose unlabelled pool items uniformly at random.

    Parameters
    ----------
    batch_size : int, default=25
        Items to label per round.
    cold_start : {"diverse", "random"}, default="diverse"
        How a fit from no seed picks its first items (see :class:`BaseSampler`).
    weight_by_confidence : bool, default=False
        Whether the student weights each row by the teacher's confidence in
        its label, 1 where unknown (see :class:`BaseSampler`).

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

    def _select(self, estimator, X_pool, candidates, n_samples, rng):
        chosen = candidates[rng.choice(len(candidates), n_samples, replace=False)]
        return chosen, {"n_visited": n_samples, "acceptance_rate": 1.0}
