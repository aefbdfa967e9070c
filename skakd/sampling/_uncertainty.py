"""Exhaustive uncertainty sampling: score every candidate, keep the top."""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..parallel import map_chunks
from ._base import BaseSampler
from ._multilabel import AGGREGATIONS
from ._scores import STRATEGIES, score_rows

__all__ = ["UncertaintySampler"]


class UncertaintySampler(BaseSampler):
    """Label the pool items the student is least sure about.

    The classic active-learning baseline: every unlabelled candidate is
    scored with the current student and the ``batch_size`` most uncertain are
    chosen. The pool is scored in chunks of ``chunk_size`` items and only the
    running top ``batch_size`` is kept, so memory stays bounded by the chunk,
    but time grows linearly with the pool (see :class:`MRARU` for the
    sub-linear alternative).

    Parameters
    ----------
    batch_size : int, default=25
        Items to label per round.
    strategy : {"least_confidence", "margin", "entropy"}, default="least_confidence"
        Uncertainty measure, see :func:`skakd.sampling.uncertainty_score`.
    chunk_size : int, default=10000
        Candidates scored per ``predict_proba`` call.
    n_jobs : int or None, default=None
        Workers scoring chunks in parallel through joblib (see
        :mod:`skakd.parallel`); ``None`` means 1 unless inside a
        ``joblib.parallel_backend`` context such as ``"dask"``. The selection
        does not depend on it.
    label_aggregation : {"max", "mean", "cardinality"}, default="mean"
        For a multi-label student: how per-label uncertainties make a row's
        score (see :func:`multilabel_uncertainty`); the mean needed 40%
        fewer teacher labels than the most uncertain label on GoEmotions
        (the "Multi-label" benchmark page).
    cold_start : {"diverse", "random"}, default="diverse"
        How a fit from no seed picks its first items (see :class:`BaseSampler`).
    weight_by_confidence : bool, default=False
        Whether the student weights each row by the teacher's confidence in
        its label, 1 where unknown (see :class:`BaseSampler`).

    Attributes
    ----------
    last_stats_ : dict
        ``n_visited`` (= candidates scored), ``acceptance_rate``
        (batch / visited) and ``seconds`` of the last :meth:`select`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skakd.sampling import UncertaintySampler
    >>> X = np.linspace(-3, 3, 61).reshape(-1, 1)
    >>> student = LogisticRegression().fit(X, X[:, 0] > 0)
    >>> chosen = UncertaintySampler(strategy="margin").select(
    ...     student, X, np.arange(61), 2, random_state=0)
    >>> sorted(X[chosen, 0].round(1).tolist())
    [0.0, 0.1]
    """

    _needs_proba = True

    _parameter_constraints: dict = {
        **BaseSampler._parameter_constraints,
        "strategy": [StrOptions(set(STRATEGIES))],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "label_aggregation": [StrOptions(set(AGGREGATIONS))],
    }

    def __init__(self, batch_size=25, *, strategy="least_confidence",
                 chunk_size=10_000, n_jobs=None, label_aggregation="mean",
                 cold_start="diverse", weight_by_confidence=False):
        super().__init__(batch_size=batch_size, cold_start=cold_start,
                         weight_by_confidence=weight_by_confidence)
        self.strategy = strategy
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.label_aggregation = label_aggregation

    def _select(self, estimator, X_pool, candidates, n_samples, rng):
        best_idx = np.empty(0, dtype=np.intp)
        best_score = np.empty(0)
        best_tie = np.empty(0)
        chunks = [candidates[begin : begin + self.chunk_size]
                  for begin in range(0, len(candidates), self.chunk_size)]
        scores = map_chunks(score_rows, X_pool, chunks, n_jobs=self.n_jobs,
                            args=(estimator, self.strategy, 1.0,
                                  self.label_aggregation))
        for idx, score in zip(chunks, scores):
            # A random tie-breaker keeps equal scores from favouring pool order.
            tie = rng.random(len(idx))
            idx, score, tie = _at_least_top(n_samples, idx, score, tie)
            best_idx = np.concatenate([best_idx, idx])
            best_score = np.concatenate([best_score, score])
            best_tie = np.concatenate([best_tie, tie])
            keep = np.lexsort((best_tie, -best_score))[:n_samples]
            best_idx, best_score = best_idx[keep], best_score[keep]
            best_tie = best_tie[keep]
        stats = {
            "n_visited": len(candidates),
            "acceptance_rate": n_samples / len(candidates) if len(candidates) else 0.0,
        }
        return best_idx, stats


def _at_least_top(n, idx, score, tie):
    """Drop what cannot reach the top ``n``: keeps every score tied with the
    n-th largest, so the random tie-break still decides among them."""
    if n == 0 or len(score) <= n:
        return idx, score, tie
    kth = np.partition(score, len(score) - n)[len(score) - n]
    keep = score >= kth
    return idx[keep], score[keep], tie[keep]

