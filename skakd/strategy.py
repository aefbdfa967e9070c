"""The strategy protocol: what the distillation loop shares with a strategy.

A *strategy* decides what the teacher is asked each round. The loop (see
:class:`~skakd.ActiveDistillationClassifier`) hands it a
:class:`DistillationState` and receives an :class:`Acquisition`; everything
labelled so far lives in the state's :class:`LabeledSet`. Pool samplers
(objects with ``select``) are adapted to this protocol by
:class:`skakd.sampling.PoolStrategy`; :class:`skakd.augmentation.PGKD` is a
strategy of its own.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils.metadata_routing import _routing_enabled
from sklearn.utils.validation import has_fit_parameter

__all__ = [
    "Acquisition",
    "DistillationState",
    "LabeledSet",
    "is_generative",
    "sample_weight_param",
]


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

    def usage(self):
        """Usage and cost of ``result``, zero where the teacher says nothing.

        Returns
        -------
        usage : dict
            ``teacher_cost``, ``input_tokens``, ``output_tokens``,
            ``n_cached``, ``teacher_latency`` and the teacher's own counters
            (``TeacherResult.info``: requests, retries, cache hits...).
        """
        result = self.result
        usage = {
            "teacher_cost": float(getattr(result, "cost", 0.0) or 0.0),
            "input_tokens": int(getattr(result, "input_tokens", 0) or 0),
            "output_tokens": int(getattr(result, "output_tokens", 0) or 0),
            "n_cached": int(getattr(result, "n_cached", 0) or 0),
            "teacher_latency": float(getattr(result, "latency", 0.0) or 0.0),
        }
        info = getattr(result, "info", None) or {}
        usage.update({key: value for key, value in info.items() if key not in usage})
        return usage


@dataclass
class DistillationState:
    """Everything one ``fit`` works on, handed to a strategy's hooks.

    A *strategy* is any object with ``acquire(state) -> Acquisition | None``
    (``None`` ends the loop with ``"pool_exhausted"``) and optionally

    * ``prepare(state)``: called once before the seed student is trained,
      e.g. to move a validation split out of ``state.labeled`` into the
      strategy's own ``state.strategy_state``;
    * ``evaluate(state) -> (dict, bool)``: called after each refit; the dict
      is merged into the round's ``history_`` record and ``True`` stops the
      loop with ``"early_stopping"``;
    * ``finalize(state)``: called once when the loop ends, whatever ended
      it (the budget, an interruption or an error), e.g. to restore the best
      student into ``state.estimator``;
    * ``sample_weight(state) -> ndarray | None``: called before every fit of
      the student (the seed student included) with ``state.labeled`` as it
      will be fitted; an array of one weight per row of ``state.labeled`` is
      passed to the student's ``fit`` as ``sample_weight`` (to a Pipeline's
      last step as ``<step>__sample_weight``, see
      :func:`sample_weight_param`), ``None`` fits unweighted. A strategy
      returns weights only for a student that takes them
      (``sample_weight_param(state.estimator)`` is not ``None``);
    * ``generative``: a bool attribute, ``True`` when ``acquire`` asks the
      teacher to write new items, so that a teacher is needed even without a
      pool (see :func:`is_generative`; missing means ``True``).

    A strategy keeps what it works on during one fit in
    ``state.strategy_state``, not on itself: the state is dropped when
    ``fit`` returns, so nothing of it is pickled with the classifier. Its
    fitted attributes (ending in ``_``) are set once, in ``finalize``; one
    of them, ``summary_``, is a dict of what a user or a report needs to
    know about the fit (see ``summary_`` of :class:`~skakd.augmentation.PGKD`).

    Attributes
    ----------
    estimator : estimator
        The current fitted student.
    teacher : teacher or None
        Object with ``label(items, classes)`` (and maybe ``generate``).
    classes : ndarray
        The label set the teacher must answer from.
    multi_label : bool
        Whether each item carries a set of labels: ``labeled.y`` is then an
        indicator matrix over ``classes`` and the teacher is asked
        ``label(items, classes, multi_label=True)``, answering a collection
        of labels per item.
    labeled : LabeledSet
        Everything labelled so far, with provenance.
    X_pool : indexable or None
        The unlabelled pool.
    unlabeled : ndarray of bool or None
        Which pool items are still unlabelled.
    round : int
        Current round (0 while fitting the seed student): the one being
        acquired, or the last one started once the loop is over.
    n_rounds : int
        Rounds completed (the classifier's ``n_iter_``).
    n_wanted : int
        Largest number of new items this round may add (budget-capped).
    rng : numpy.random.Generator
        Randomness for this round, derived from ``random_state``.
    seeds : numpy.random.SeedSequence or None
        Where each round's ``rng`` is spawned from.
    n_used : int
        Items sent to the teacher or generated by it so far (the budget
        ``max_labels`` counts), seed excluded.
    teacher_cost : float
        USD paid to the teacher so far.
    fit_params : dict
        Metadata routed to the student's ``fit``.
    warned : set of str
        The once-per-fit warnings already given (``"unknown"``,
        ``"unlabeled"``, ``"duplicates"``...); see :meth:`first_warning`.
    strategy_state : object
        Free for the strategy's own working state during the fit.
    cold : bool
        ``True`` during the cold start of a fit from no seed: no student is
        fitted yet (``estimator`` is unfitted) and a pool strategy chooses
        without it (see :func:`skakd.sampling.cold_select`).
    """

    estimator: object
    teacher: object
    classes: np.ndarray
    labeled: "LabeledSet"
    X_pool: object = None
    unlabeled: np.ndarray | None = None
    round: int = 0
    n_rounds: int = 0
    n_wanted: int = 0
    rng: np.random.Generator = None
    seeds: np.random.SeedSequence | None = None
    n_used: int = 0
    teacher_cost: float = 0.0
    fit_params: dict = field(default_factory=dict)
    warned: set = field(default_factory=set)
    strategy_state: object = None
    multi_label: bool = False
    cold: bool = False

    @property
    def candidates(self):
        """Indices of the pool items that are still unlabelled."""
        if self.unlabeled is None:
            return np.empty(0, dtype=np.intp)
        return np.flatnonzero(self.unlabeled)

    def first_warning(self, kind):
        """Whether a warning of ``kind`` is still due this fit (then it is
        remembered as given): each kind is warned about once per fit."""
        if kind in self.warned:
            return False
        self.warned.add(kind)
        return True

    def next_round(self, n_wanted):
        """Start a round: count it, set its size and spawn its generator."""
        self.round += 1
        self.n_wanted = n_wanted
        self.rng = np.random.default_rng(self.seeds.spawn(1)[0])


def is_generative(strategy):
    """Whether ``strategy`` asks the teacher to write items (its declared
    ``generative`` attribute; a strategy that does not say is assumed to)."""
    return bool(getattr(strategy, "generative", True))


def sample_weight_param(estimator):
    """The keyword under which ``estimator.fit`` takes per-row weights.

    ``"sample_weight"`` for an estimator whose ``fit`` names it; for a
    Pipeline, the last step's keyword prefixed with its name
    (``"logisticregression__sample_weight"``, nested Pipelines included);
    ``None`` when the estimator takes no weights. With metadata routing on,
    a Pipeline routes ``sample_weight`` itself, to the steps that request it
    (``set_fit_request(sample_weight=True)``).

    Examples
    --------
    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from skakd.strategy import sample_weight_param
    >>> sample_weight_param(make_pipeline(TfidfVectorizer(), LogisticRegression()))
    'logisticregression__sample_weight'
    >>> sample_weight_param(KNeighborsClassifier()) is None
    True
    """
    if isinstance(estimator, Pipeline):
        if _routing_enabled():
            return "sample_weight"
        name, last = estimator.steps[-1]
        inner = None if last in (None, "passthrough") else sample_weight_param(last)
        return None if inner is None else f"{name}__{inner}"
    if has_fit_parameter(estimator, "sample_weight"):
        return "sample_weight"
    return None


class LabeledSet:
    """Labelled items with their provenance, appended round by round.

    Items are kept as a list of blocks (each a 1-D object array, a dense or a
    sparse 2-D array) and concatenated lazily, so adding a batch never copies
    what is already there. ``source``, ``rounds``, ``pool_index``,
    ``teacher`` and ``confidence`` give each row's provenance; they become
    the classifier's ``label_source_``, ``label_round_``,
    ``labeled_pool_index_``, ``label_teacher_`` and ``labeled_confidence_``.
    ``audited`` says which rows :meth:`relabel` answered again (see
    :class:`skakd.audit.LabelAudit`).

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.strategy import LabeledSet
    >>> labeled = LabeledSet()
    >>> labeled.add(np.array(["good", "bad"], dtype=object), ["pos", "neg"], "seed", 0)
    >>> labeled.add(np.array(["fine"], dtype=object), ["pos"], "teacher", 1,
    ...             pool_index=[7])
    >>> labeled.X.tolist(), labeled.y.tolist(), labeled.pool_index.tolist()
    (['good', 'bad', 'fine'], ['pos', 'neg', 'pos'], [-1, -1, 7])
    >>> labeled.relabel([2], ["neg"], teacher="strong", confidence=[0.99]).tolist()
    [True]
    >>> labeled.y.tolist(), labeled.teacher.tolist(), labeled.audited.tolist()
    (['pos', 'neg', 'neg'], ['', '', 'strong'], [False, False, True])
    >>> X_val, y_val = labeled.remove(labeled.source == "seed")
    >>> len(labeled), y_val.tolist()
    (1, ['pos', 'neg'])
    """

    def __init__(self):
        self._blocks = []
        self._y = []
        self._source = []
        self._round = []
        self._pool_index = []
        self._teacher = []
        self._confidence = []
        self._audited = []
        self._cache = None

    def add(self, X, y, source, round_, pool_index=None, *, teacher=None,
            confidence=None):
        """Append rows ``X`` with labels ``y`` from ``source`` in ``round_``.

        ``teacher`` names who gave each label (a cascade's stage; ``""``
        where unknown) and ``confidence`` how sure it was (``nan`` where
        unknown).
        """
        n = len(y)
        if n == 0:
            return
        self._blocks.append(X)
        self._y.append(np.asarray(y, dtype=object))
        self._source.append(np.full(n, source, dtype=object))
        self._round.append(np.full(n, round_, dtype=np.intp))
        index = np.full(n, -1, dtype=np.intp) if pool_index is None else pool_index
        self._pool_index.append(np.asarray(index, dtype=np.intp))
        self._teacher.append(np.full(n, "", dtype=object) if teacher is None
                             else np.asarray(teacher, dtype=object))
        self._confidence.append(np.full(n, np.nan) if confidence is None else
                                np.asarray(confidence, dtype=float))
        self._audited.append(np.zeros(n, dtype=bool))
        self._cache = None

    def remove(self, mask):
        """Drop the rows where ``mask`` is true and return them as ``(X, y)``."""
        X, y = self.X, self.y
        taken = (_safe_indexing(X, np.flatnonzero(mask)), y[mask])
        keep = np.flatnonzero(~mask)
        columns = (self.source, self.rounds, self.pool_index, self.teacher,
                   self.confidence, self.audited)
        self._blocks = [_safe_indexing(X, keep)]
        self._y = [y[keep]]
        (self._source, self._round, self._pool_index, self._teacher,
         self._confidence, self._audited) = ([c[keep]] for c in columns)
        self._cache = None
        return taken

    def relabel(self, rows, y, *, teacher="", confidence=None):
        """Give ``rows`` the labels ``y`` of another teacher (an audit's).

        The rows keep their place, item, ``source`` and round; their
        ``teacher`` and ``confidence`` become the new answer's, and they are
        marked ``audited`` whether the label changed or not. This is the one
        change to the labelled set a callback may make (see
        :class:`skakd.audit.LabelAudit`): the loop refits the student on it.

        Parameters
        ----------
        rows : array-like of int
            Positions in the set.
        y : sequence
            The new label of each row (an indicator row for label sets).
        teacher : str or sequence of str, default=""
            Who gave the new labels.
        confidence : sequence of float or None, default=None
            How sure it was (``None`` or ``nan``: unknown).

        Returns
        -------
        changed : ndarray of bool
            Whether each row's label differs from the one it had.
        """
        rows = np.asarray(rows, dtype=np.intp).ravel()
        labels = np.empty(len(rows), dtype=object)
        labels[:] = list(y)
        old = np.asarray(_join(self._y, object))
        changed = np.array([not np.array_equal(a, b)
                            for a, b in zip(old[rows], labels)], dtype=bool)
        # Each column becomes one block, written in place at the rows.
        new_y, names = old.copy(), self.teacher.copy()
        new_y[rows] = labels if old.ndim == 1 else np.stack(labels)
        names[rows] = teacher
        sure, audited = self.confidence.copy(), self.audited.copy()
        sure[rows] = np.nan if confidence is None else np.array(
            [np.nan if c is None else c for c in confidence], dtype=float)
        audited[rows] = True
        self._y, self._teacher = [new_y], [names]
        self._confidence, self._audited = [sure], [audited]
        return changed

    def __len__(self):
        return sum(len(y) for y in self._y)

    @property
    def X(self):
        if self._cache is None:
            self._cache = _concatenate(self._blocks)
        return self._cache

    @property
    def y(self):
        return _restore_dtype(_join(self._y, object))

    @property
    def source(self):
        return _join(self._source, object)

    @property
    def rounds(self):
        return _join(self._round, np.intp)

    @property
    def pool_index(self):
        return _join(self._pool_index, np.intp)

    @property
    def teacher(self):
        return _join(self._teacher, object)

    @property
    def confidence(self):
        return _join(self._confidence, float)

    @property
    def audited(self):
        return _join(self._audited, bool)


def _join(columns, dtype):
    """One provenance column from its blocks; empty before the first row."""
    return np.concatenate(columns) if columns else np.empty(0, dtype=dtype)


def _concatenate(blocks):
    if len(blocks) == 1:
        return blocks[0]
    if any(sp.issparse(b) for b in blocks):
        return sp.vstack(blocks, format="csr")
    if hasattr(blocks[0], "iloc"):
        import pandas as pd

        return pd.concat(blocks, ignore_index=True)
    if blocks[0].ndim == 1:
        return np.concatenate([np.asarray(b, dtype=object) for b in blocks])
    return np.vstack(blocks)


def _restore_dtype(y):
    """Labels are stored as objects; give estimators a native array back."""
    return np.asarray(y.tolist())
