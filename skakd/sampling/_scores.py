"""Uncertainty scores computed from predicted class probabilities."""

import numpy as np

from ._multilabel import multilabel_uncertainty

__all__ = ["STRATEGIES", "score_rows", "uncertainty_score"]

STRATEGIES = ("least_confidence", "margin", "entropy")


def uncertainty_score(proba, strategy="least_confidence", temperature=1.0):
    """Score how uncertain a classifier is about each row, in ``[0, 1]``.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Predicted class probabilities.
    strategy : {"least_confidence", "margin", "entropy"}, default="least_confidence"
        ``least_confidence`` is ``(1 - max_k p_k) / (1 - 1/K)``, the
        normalised uncertainty that M-RARU uses as an acceptance probability;
        ``margin`` is ``1 - (p_(1) - p_(2))``, one minus the gap between the
        two most likely classes; ``entropy`` is ``-sum_k p_k log p_k / log K``.
        Each equals 1 for a uniform prediction and 0 for a certain one.
    temperature : float > 0, default=1.0
        Probabilities are sharpened (< 1) or softened (> 1) as
        ``p_k ** (1 / temperature)``, renormalised, before scoring. Softening
        counteracts overconfident students.

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.sampling import uncertainty_score
    >>> uncertainty_score(np.array([[0.5, 0.5], [1.0, 0.0], [0.75, 0.25]]))
    array([1. , 0. , 0.5])
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(
            f"proba must be 2-D (n_samples, n_classes), got shape {proba.shape}."
        )
    n_classes = proba.shape[1]
    if n_classes < 2:
        return np.zeros(proba.shape[0])
    if temperature != 1.0:
        proba = _soften(proba, temperature)
    if strategy == "least_confidence":
        score = (1.0 - proba.max(axis=1)) / (1.0 - 1.0 / n_classes)
    elif strategy == "margin":
        score = 1.0 - _top_two_gap(proba)
    elif strategy == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            plogp = np.where(proba > 0, proba * np.log(proba), 0.0)
        score = -plogp.sum(axis=1) / np.log(n_classes)
    else:
        raise ValueError(
            f"strategy must be one of {STRATEGIES}, got {strategy!r}."
        )
    return np.clip(score, 0.0, 1.0)


def _top_two_gap(proba):
    # The top two by masking the top one: a third of a partition's time over
    # 77 classes, and the same two numbers. NaN, which argmax ranks first and
    # partition last, goes the partition's way.
    rows = np.arange(len(proba))
    best = proba.argmax(axis=1)
    rest = proba.copy()
    rest[rows, best] = -np.inf
    gap = proba[rows, best] - rest.max(axis=1)
    if np.isnan(gap).any():
        top2 = -np.partition(-proba, 1, axis=1)[:, :2]
        gap = top2[:, 0] - top2[:, 1]
    return gap


def _soften(proba, temperature):
    with np.errstate(divide="ignore"):
        logits = np.log(proba) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def score_rows(rows, estimator, strategy, temperature=1.0, aggregation="mean"):
    """``uncertainty_score`` of ``estimator.predict_proba(rows)``.

    A multi-label student (``estimator.multilabel_``, one probability per
    label) is scored by :func:`multilabel_uncertainty` with ``aggregation``,
    at its thresholds (``threshold_``) and label cardinality.

    The student's own input checks stay on: pools on disk and DataFrames
    reach the sampler unchecked, and a binary LogisticRegression turns an
    infinite feature into a finite probability.
    """
    if getattr(estimator, "multilabel_", False):
        return multilabel_uncertainty(
            estimator.predict_proba(rows), strategy, aggregation,
            threshold=getattr(estimator, "threshold_", 0.5),
            temperature=temperature,
            cardinality=getattr(estimator, "label_cardinality_", None))
    return uncertainty_score(estimator.predict_proba(rows), strategy, temperature)
