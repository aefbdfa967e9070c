"""Pool-based acquisition: a sampler picks pool items, the teacher labels them."""

import time

import numpy as np

from .._items import is_numeric_frame, is_text_items, take
from ..strategy import Acquisition
from ..teachers import check_teacher_labels

__all__ = ["PoolStrategy"]


class PoolStrategy:
    """Adapt a sampler (``select``) to the loop's strategy protocol.

    Each round the sampler chooses up to ``state.n_wanted`` unlabelled pool
    items and the teacher labels them. :class:`~skakd.ActiveDistillationClassifier`
    wraps its ``sampler`` in one; a strategy of its own (such as
    :class:`~skakd.augmentation.PGKD`) may too, to label pool items.

    Parameters
    ----------
    sampler : BaseSampler
        Any object with ``select`` and ``batch_size``.

    Examples
    --------
    >>> from skakd.sampling import PoolStrategy, RandomSampler
    >>> strategy = PoolStrategy(RandomSampler(batch_size=5))
    >>> strategy.batch_size, strategy.generative
    (5, False)
    """

    # Asks the teacher about pool items only: without a pool, no teacher.
    generative = False

    def __init__(self, sampler):
        self.sampler = sampler

    @property
    def batch_size(self):
        return self.sampler.batch_size

    def acquire(self, state):
        """Label the items the sampler picks; ``None`` once the pool is used up."""
        candidates = state.candidates
        if len(candidates) == 0:
            return None
        start = time.perf_counter()
        chosen = self.sampler.select(
            state.estimator, state.X_pool, candidates, state.n_wanted, state.rng
        )
        elapsed = time.perf_counter() - start
        chosen = self._check_selection(chosen, state)
        items = take(state.X_pool, chosen)
        result = state.teacher.label(_for_teacher(items), list(state.classes))
        labels = check_teacher_labels(
            getattr(result, "labels", None), len(chosen), type(state.teacher).__name__
        )
        stats = dict(getattr(self.sampler, "last_stats_", {}))
        # BaseSampler times its own work; other samplers are timed here.
        stats["select_seconds"] = stats.pop("seconds", elapsed)
        return Acquisition(items, labels, "teacher", chosen, result, stats)

    def _check_selection(self, chosen, state):
        chosen = np.asarray(chosen, dtype=np.intp).ravel()
        name = type(self.sampler).__name__
        if len(chosen) > state.n_wanted:
            raise ValueError(
                f"sampler {name} returned {len(chosen)} indices; expected at "
                f"most n_samples={state.n_wanted}."
            )
        if len(np.unique(chosen)) != len(chosen):
            raise ValueError(f"sampler {name} returned duplicate indices.")
        if len(chosen) and not state.unlabeled[chosen].all():
            raise ValueError(
                f"sampler {name} returned indices that are not unlabelled "
                "candidates."
            )
        return chosen


def _for_teacher(items):
    """Texts go to teachers as a plain list, DataFrame rows as row arrays
    (numeric columns) or dicts (mixed columns); other items as they are."""
    if is_text_items(items):
        return items.tolist()
    if hasattr(items, "iloc"):
        return items.to_numpy() if is_numeric_frame(items) else items.to_dict("records")
    return items
