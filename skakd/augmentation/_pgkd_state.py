"""What PGKD works on during one fit (``state.strategy_state``).

The validation split it moved out of the seed, the screen of generated
texts, the allocation's credit, the scores of each round's student and the
best one so far: every piece of PGKD's working state, with the steps that
change it. PGKD publishes its fitted attributes from it when the fit ends.
"""

import copy
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.metrics import f1_score, log_loss
from sklearn.utils import _safe_indexing

from .._items import is_text_items, warn
from ..reasons import REJECTION_REASONS, SURPLUS
from ..sampling import PoolStrategy
from ..strategy import sample_weight_param
from ._allocation import prior_weights
from ._label_sets import (
    label_report,
    label_set_mask,
    label_set_scores,
    per_label_summary,
)
from ._request import GenerationRequest
from ._screen import SampleScreen

__all__ = ["PGKDState", "pool_strategy", "stratified_mask", "validation_mask"]


@dataclass
class PGKDState:
    """PGKD's working state during one fit."""

    X_val: object  # the validation split, moved out of the seed
    y_val: np.ndarray
    validation_indices: np.ndarray  # its positions in the seed
    screen: SampleScreen
    pool: PoolStrategy | None
    prior: object  # label -> share, "balanced", or None (no correction)
    selects: bool  # whether the validation loss stops and picks the round
    n_remembered: int = 0
    # What the allocation still owes each class (see ``allocate``): carried
    # across rounds so that small batches rotate over the classes.
    credit: np.ndarray | None = None
    val_proba: np.ndarray | None = None
    best_estimator: object = None
    rounds_since_best: int = 0
    last_round: int = 0
    best_round: int = 0
    best_val_loss: float = np.inf
    seed_scores: dict = field(default_factory=dict)
    n_generated: int = 0
    n_rejected: dict = field(
        default_factory=lambda: dict.fromkeys((*REJECTION_REASONS, SURPLUS), 0))
    last_request: GenerationRequest | None = None
    # Where the validation rows came from: the seed, or a cold start's texts.
    val_source: str = "seed"
    # With label sets: the label names, the last predicted sets, each
    # round's report per label, and the texts asked for and kept per label.
    label_names: np.ndarray | None = None
    val_pred: np.ndarray | None = None
    reports: dict = field(default_factory=dict)
    asked: Counter = field(default_factory=Counter)
    kept: Counter = field(default_factory=Counter)

    def score(self, estimator, round_, *, keep_best, patience):
        """Score ``estimator`` (round ``round_``'s student) on the validation
        split; return its metrics and whether ``patience`` rounds passed
        without a new lowest loss (only when the loss selects the round)."""
        if self.label_names is not None:
            proba, self.val_pred, metrics = label_set_scores(
                estimator, self.X_val, self.y_val)
            self.reports[round_] = label_report(self.y_val, self.val_pred,
                                                self.label_names)
        else:
            proba, metrics = _class_scores(estimator, self.X_val, self.y_val)
        self.val_proba, self.last_round = proba, round_
        loss = metrics["val_loss"]
        if round_ == 0:
            self.seed_scores = dict(metrics)
        if loss < self.best_val_loss:
            self.best_round, self.best_val_loss = round_, loss
            if self.selects and keep_best:
                self.best_estimator = copy.deepcopy(estimator)
            self.rounds_since_best = 0
        else:
            self.rounds_since_best += 1
        metrics["best_round"] = self.best_round
        stop = (self.selects and patience is not None
                and self.rounds_since_best >= patience)
        return metrics, stop

    def remember_new_rows(self, labeled):
        """Teach the screen the training rows it has not seen (the seed,
        pool labels); generated rows were remembered when accepted."""
        new = slice(self.n_remembered, None)
        not_generated = labeled.source[new] != "generated"
        self.screen.remember(np.asarray(labeled.X[new])[not_generated])
        self.n_remembered = len(labeled)

    def count(self, samples, rejected, asked, kept):
        """Count a batch the teacher wrote, what the screen dropped of it, and
        the texts asked for and kept per label (``Counter``)."""
        self.n_generated += len(samples)
        for reason, n in rejected.items():
            self.n_rejected[reason] += n
        self.asked.update(asked)
        self.kept.update(kept)

    def fitted_attributes(self, chosen_round, patience):
        """PGKD's fitted attributes, its ``summary_`` included."""
        attributes = {
            "validation_indices_": self.validation_indices,
            "validation_size_": len(self.y_val),
            "select_by_validation_": self.selects,
            "best_round_": self.best_round,
            "best_val_loss_": self.best_val_loss,
            "chosen_round_": chosen_round,
            "seed_scores_": self.seed_scores,
            "n_generated_": self.n_generated,
            "n_rejected_": self.n_rejected,
            "last_request_": self.last_request,
        }
        stops_early = self.selects and patience is not None
        attributes["summary_"] = {
            "validation_size": len(self.y_val),
            "validation_indices": self.validation_indices,
            "n_generated": self.n_generated,
            "n_rejected": dict(self.n_rejected),
            "best_round": self.best_round,
            "chosen_round": chosen_round,
            "early_stopping": (
                f"its validation loss had not improved for {patience} rounds"
                if stops_early else None
            ),
        }
        if self.label_names is not None:
            attributes["summary_"]["per_label"] = per_label_summary(
                self.reports.get(chosen_round), self.asked, self.kept,
                self.label_names)
        return attributes

    def refit_with_validation(self, state, chosen_round):
        """Fit the chosen student on its rows plus the validation split, and
        add the split to the labelled set (its source, round 0)."""
        n_before = len(state.labeled)
        state.labeled.add(self.X_val, self.y_val, self.val_source, 0)
        rows = np.flatnonzero(state.labeled.rounds <= chosen_round)
        y = state.labeled.y[rows]
        params = dict(state.fit_params)
        if self.prior is not None:
            params[sample_weight_param(state.estimator)] = prior_weights(y, self.prior)
        try:
            state.estimator.fit(_safe_indexing(state.labeled.X, rows), y, **params)
        except Exception as exc:  # keep the chosen student as it was
            state.labeled.remove(np.arange(len(state.labeled)) >= n_before)
            warn(
                f"PGKD could not refit the student with the validation split "
                f"({type(exc).__name__}: {exc}); the chosen student is kept "
                "without it."
            )


def pool_strategy(pool_sampler, X_pool):
    """The strategy of PGKD's pool rounds, or ``None`` (no pool, or no
    ``pool_sampler`` to pick from it)."""
    if X_pool is None:
        return None
    if pool_sampler is None:
        warn(
            "PGKD ignores X_pool unless pool_sampler is set (e.g. "
            "PGKD(pool_sampler=MRARU())) to alternate generation with "
            "pool labelling."
        )
        return None
    if not is_text_items(X_pool):
        raise TypeError(
            "PGKD(pool_sampler=...) needs X_pool to be a sequence of "
            f"texts, like the seed; got {type(X_pool).__name__}."
        )
    return PoolStrategy(clone(pool_sampler))


def _class_scores(estimator, X_val, y_val):
    """A one-label student's validation probabilities and metrics."""
    proba = estimator.predict_proba(X_val)
    classes = estimator.classes_
    y_pred = classes[proba.argmax(axis=1)]
    return proba, {
        "val_loss": float(log_loss(y_val, proba, labels=classes)),
        "val_accuracy": float(np.mean(y_pred == np.asarray(y_val))),
        "val_macro_f1": float(
            f1_score(y_val, y_pred, average="macro", zero_division=0)
        ),
    }


def validation_mask(y, fraction, rng, multi_label):
    """The validation split of the seed: stratified by class, or for label
    sets random rows keeping each label a training row
    (:func:`~._label_sets.label_set_mask`). Refuses a seed too small for
    any."""
    if multi_label:
        mask = label_set_mask(y, fraction, rng)
        if not mask.any():
            raise ValueError(
                f"PGKD holds seed rows out for validation, keeping a row of "
                f"each label for training, but no row of the {len(y)}-row "
                "seed can go: each carries a label no other row carries; "
                "expected a seed with at least two rows of some label set."
            )
        return mask
    mask = stratified_mask(y, fraction, rng)
    if not mask.any():
        raise ValueError(
            "PGKD holds seed examples out for validation, keeping one of "
            "each class for training, but every seed class has a single "
            "example; expected a seed with at least two examples of some "
            "class (two of each is best)."
        )
    return mask


def stratified_mask(y, fraction, rng):
    """Mark ``round(fraction * n_c)`` random items of each class, keeping at
    least one per class for training.

    When that marks nothing (a small seed: two per class at 0.2), one item of
    each class that has two or more is marked instead: a validation split of
    a few texts steers the teacher better than none, which would stop PGKD.
    """
    y = np.asarray(y)
    mask = np.zeros(len(y), dtype=bool)
    classes = [rng.permutation(np.flatnonzero(y == label)) for label in np.unique(y)]
    for members in classes:
        n_val = min(int(round(fraction * len(members))), len(members) - 1)
        mask[members[:n_val]] = True
    if not mask.any():
        for members in classes:
            mask[members[:min(1, len(members) - 1)]] = True
    return mask
