"""Pool-based acquisition: a sampler picks pool items, the teacher labels them."""

import copy
import time

import numpy as np

from .._items import for_teacher, is_text_items, take, warn
from .._multilabel import check_label_sets, label_sets
from ..strategy import Acquisition, sample_weight_param
from ..teachers import TeacherResult, check_teacher_labels
from ._base import confidence_weights
from ._cold import class_texts, cold_select

__all__ = ["PoolStrategy"]


class PoolStrategy:
    """Adapt a sampler (``select``) to the loop's strategy protocol.

    Each round the sampler chooses up to ``state.n_wanted`` unlabelled pool
    items and the teacher labels them. :class:`~skakd.ActiveDistillationClassifier`
    wraps its ``sampler`` in one; a strategy of its own (such as
    :class:`~skakd.augmentation.PGKD`) may too, to label pool items. A
    PoolStrategy is made for one fit, and is its working state: it remembers
    every text answered in the fit (the seed's included), so that a copy of
    a text is never asked again.

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
        self._answers = None  # text -> (label, reason, source), from the first ask
        self._topped_up = False  # "coverage" asked about the missing classes

    @property
    def batch_size(self):
        return self.sampler.batch_size

    def prepare(self, state):
        """Refuse a student without ``predict_proba`` when the sampler scores
        with it, or without ``sample_weight`` when the sampler weights rows
        by confidence, before anything is fitted or paid for."""
        student = state.estimator
        if self._weighted and sample_weight_param(student) is None:
            raise TypeError(
                f"sampler {type(self.sampler).__name__} has "
                "weight_by_confidence=True, but the student "
                f"{type(student).__name__} (or its Pipeline's last step) "
                "takes no sample_weight in fit; use a student that does (e.g. "
                "LogisticRegression) or weight_by_confidence=False."
            )
        if getattr(self.sampler, "_needs_proba", False) and not hasattr(
            student, "predict_proba"
        ):
            raise TypeError(
                f"sampler {type(self.sampler).__name__} scores pool items with "
                f"predict_proba, but estimator {type(student).__name__} has no "
                "predict_proba; use a probabilistic student (e.g. wrap it in "
                "sklearn.calibration.CalibratedClassifierCV) or RandomSampler."
            )

    def sample_weight(self, state):
        """Per-row weights of the student's next fit: with the sampler's
        ``weight_by_confidence``, each row's label confidence (1 where
        unknown); else ``None``, unweighted.

        Returns
        -------
        weights : ndarray of shape (len(state.labeled),) or None
        """
        if not self._weighted:
            return None
        return confidence_weights(state.labeled.confidence)

    @property
    def _weighted(self):
        # A sampler written without the parameter fits unweighted.
        return bool(getattr(self.sampler, "weight_by_confidence", False))

    def acquire(self, state):
        """Label the items the sampler picks; ``None`` once the pool is used up."""
        candidates = state.candidates
        if len(candidates) == 0:
            return None
        start = time.perf_counter()
        if state.cold:  # no student yet: the sampler has nothing to score with
            chosen = self._cold_select(state, candidates)
        else:
            chosen = self.sampler.select(
                state.estimator, state.X_pool, candidates, state.n_wanted, state.rng
            )
        elapsed = time.perf_counter() - start
        chosen = self._check_selection(chosen, state)
        items = take(state.X_pool, chosen)
        queries = for_teacher(items)
        if isinstance(queries, list) and all(isinstance(q, str) for q in queries):
            labels, result, counts = self._ask_once_per_text(state, queries)
        else:
            result = ask_teacher(state, queries)
            labels, counts = _checked_labels(state, result, len(chosen)), {}
        stats = {} if state.cold else dict(getattr(self.sampler, "last_stats_", {}))
        # BaseSampler times its own work; other samplers are timed here.
        stats["select_seconds"] = stats.pop("seconds", elapsed)
        stats.update(counts)
        return Acquisition(items, labels, "teacher", chosen, result, stats)

    def cold_round_due(self, state):
        """Whether the cold start goes on though two classes are labelled:
        once, with ``cold_start="coverage"`` and text items, while classes
        are missing, to top them up."""
        return (self._cold_start == "coverage" and not self._topped_up
                and bool(_missing(state)) and is_text_items(state.X_pool))

    @property
    def _cold_start(self):
        # A sampler written without cold_start gets the default.
        return getattr(self.sampler, "cold_start", "diverse")

    def _cold_select(self, state, candidates):
        n_wanted, missing = state.n_wanted, None
        if self._cold_start == "coverage":
            teacher = state.teacher
            missing = class_texts(_missing(state),
                                  getattr(teacher, "class_descriptions", None),
                                  getattr(teacher, "examples", None))
            if len(state.labeled):  # the top-up: one item per missing class
                n_wanted = min(n_wanted, len(missing))
                self._topped_up = True
        return cold_select(self._cold_start, state.estimator, state.X_pool,
                           candidates, n_wanted, state.rng, missing=missing)

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


    def _ask_once_per_text(self, state, texts):
        """Labels of ``texts``, asking the teacher only about texts new to the fit.

        A text equal to a seed text takes the seed's label; a copy of a text
        answered earlier in the fit (or in this round) takes that answer. Both
        are counted (``n_seed_duplicates``, ``n_duplicates``) and warned about
        once per fit. The returned result carries one label and reason per text.
        """
        answers = self._answers_of(state)
        new = [t for t in dict.fromkeys(texts) if t not in answers]
        result = ask_teacher(state, new) if new else TeacherResult([])
        labels = _checked_labels(state, result, len(new))
        reasons = getattr(result, "reasons", None) or [None] * len(new)
        answers.update((t, (label, why, "teacher"))
                       for t, label, why in zip(new, labels, reasons))
        counts = {"n_seed_duplicates": sum(answers[t][2] == "seed" for t in texts)}
        counts["n_duplicates"] = len(texts) - len(new) - counts["n_seed_duplicates"]
        if counts["n_duplicates"] or counts["n_seed_duplicates"]:
            _warn_duplicates(state, counts)
        result = copy.copy(result)
        result.labels = [answers[t][0] for t in texts]
        result.reasons = [answers[t][1] for t in texts]
        return result.labels, result, counts

    def _answers_of(self, state):
        """The fit's ``text -> (label, reason, source)``, started from the seed."""
        if self._answers is None:
            self._answers = {}
            if not len(state.labeled):  # a cold start: no seed to answer from
                return self._answers
            seed = state.labeled.source == "seed"
            seed_labels = np.asarray(state.labeled.y)[seed]
            if state.multi_label:  # indicator rows back to the teacher's sets
                seed_labels = label_sets(seed_labels, state.classes)
            for text, label in zip(take(state.labeled.X, np.flatnonzero(seed)),
                                   seed_labels):
                if isinstance(text, str):
                    self._answers.setdefault(text, (label, None, "seed"))
        return self._answers

def ask_teacher(state, items):
    """The teacher's answer about ``items``: one label each, or, for
    multi-label targets, a collection of labels each."""
    if state.multi_label:
        return state.teacher.label(items, list(state.classes), multi_label=True)
    return state.teacher.label(items, list(state.classes))


def _missing(state):
    """The classes not labelled yet."""
    return [c for c in state.classes if c not in set(state.labeled.y.tolist())]


def _checked_labels(state, result, n_items):
    name = type(state.teacher).__name__
    labels = check_teacher_labels(getattr(result, "labels", None), n_items, name)
    return check_label_sets(labels, name) if state.multi_label else labels


def _warn_duplicates(state, counts):
    if not state.first_warning("duplicates"):
        return
    warn(
        f"the pool repeats texts ({counts['n_duplicates']} copies of texts "
        f"already answered, {counts['n_seed_duplicates']} copies of seed texts "
        "in this round); each text is asked once and its copies take that "
        "label (or the seed's) for free. history_ counts them in n_duplicates "
        "and n_seed_duplicates; drop the copies from X_pool to silence this."
    )
