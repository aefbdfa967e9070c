"""What the distillation loop shares with strategies and callbacks."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Acquisition", "DistillationState"]


@dataclass
class Acquisition:
    """New training data obtained in one round.

    Parameters
    ----------
    X : 1-D object array, ndarray or sparse matrix
        The new items.
    y : sequence
        One label per item; ``None`` where the teacher could not label it.
    source : {"teacher", "generated"}
        Provenance recorded in ``label_source_``.
    pool_indices : ndarray of int or None
        Indices into ``X_pool`` that this round consumed (they leave the
        unlabelled candidates whether or not the teacher labelled them).
    result : TeacherResult or None
        Usage and cost of the teacher calls behind this acquisition.
    stats : dict
        Extra per-round figures copied into ``history_`` (e.g. ``n_visited``,
        ``acceptance_rate``, rejection counts).
    """

    X: object
    y: list
    source: str
    pool_indices: np.ndarray | None = None
    result: object = None
    stats: dict = field(default_factory=dict)


@dataclass
class DistillationState:
    """The loop state handed to a strategy's hooks.

    A *strategy* is any object with ``acquire(state) -> Acquisition | None``
    (``None`` ends the loop with ``"pool_exhausted"``) and optionally

    * ``prepare(state)``: called once before the seed student is trained,
      e.g. to move a validation split out of ``state.labeled`` into
      ``state.X_val``/``state.y_val``;
    * ``evaluate(state) -> (dict, bool)``: called after each refit; the dict
      is merged into the round's ``history_`` record and ``True`` stops the
      loop with ``"early_stopping"``;
    * ``finalize(state)``: called once at the end, e.g. to restore the best
      student into ``state.estimator``.

    Pool samplers (objects with ``select``) are wrapped in such a strategy by
    :class:`~skakd.ActiveDistillationClassifier`.

    Attributes
    ----------
    estimator : estimator
        The current fitted student.
    teacher : teacher or None
        Object with ``label(items, classes)`` (and maybe ``generate``).
    classes : ndarray
        The label set the teacher must answer from.
    labeled : skakd._labeled.LabeledSet
        Everything labelled so far, with provenance.
    X_pool : indexable or None
        The unlabelled pool.
    unlabeled : ndarray of bool or None
        Which pool items are still unlabelled.
    round : int
        Current round (0 while fitting the seed student).
    n_wanted : int
        Largest number of new items this round may add (budget-capped).
    rng : numpy.random.Generator
        Randomness for this round, derived from ``random_state``.
    X_val, y_val : optional
        A validation split, when a strategy made one.
    """

    estimator: object
    teacher: object
    classes: np.ndarray
    labeled: object
    X_pool: object = None
    unlabeled: np.ndarray | None = None
    round: int = 0
    n_wanted: int = 0
    rng: np.random.Generator = None
    X_val: object = None
    y_val: object = None

    @property
    def candidates(self):
        """Indices of the pool items that are still unlabelled."""
        if self.unlabeled is None:
            return np.empty(0, dtype=np.intp)
        return np.flatnonzero(self.unlabeled)
