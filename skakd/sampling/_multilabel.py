"""Uncertainty of a multi-label student: one score in [0, 1] per row, from
one probability per label."""

import numpy as np

__all__ = ["AGGREGATIONS", "multilabel_uncertainty"]

AGGREGATIONS = ("max", "mean", "cardinality")


def multilabel_uncertainty(proba, strategy="margin", aggregation="mean", *,
                           threshold=0.5, temperature=1.0, cardinality=None):
    """Score how uncertain a multi-label student is about each row.

    Each label is a yes/no decision at its ``threshold``: its uncertainty is
    1 where the label's probability sits on the threshold and 0 where it is
    0 or 1 (``margin`` and ``least_confidence``: the distance to the
    threshold, scaled to the room on that side; ``entropy``: the binary
    entropy in bits). The row's score aggregates them.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_labels)
        Probability of each label.
    strategy : {"least_confidence", "margin", "entropy"}, default="margin"
        The per-label uncertainty (the first two are the same for a yes/no
        decision).
    aggregation : {"max", "mean", "cardinality"}, default="mean"
        ``mean``: the mean over labels (how much of the row's label set is
        in doubt; the samplers' default, measured best on GoEmotions);
        ``max``: the most uncertain label (a row is worth asking about when
        any of its labels is in doubt);
        ``cardinality``: label-cardinality inconsistency, how far the
        expected number of labels ``sum_l p_l`` is from ``cardinality``,
        scaled to [0, 1].
    threshold : float or ndarray of shape (n_labels,), default=0.5
        The decision threshold of each label.
    temperature : float > 0, default=1.0
        Each label's odds are softened (> 1) or sharpened (< 1) as
        ``p ** (1/T) / (p ** (1/T) + (1 - p) ** (1/T))``.
    cardinality : float or None, default=None
        Mean labels per row of the training set (``aggregation="cardinality"``
        only; ``None`` reads 1).

    Returns
    -------
    scores : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.sampling import multilabel_uncertainty
    >>> proba = np.array([[0.5, 0.0], [0.9, 0.1], [1.0, 0.0]])
    >>> multilabel_uncertainty(proba).round(2).tolist()
    [0.5, 0.2, 0.0]
    >>> multilabel_uncertainty(proba, aggregation="max").round(2).tolist()
    [1.0, 0.2, 0.0]
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(
            f"proba must be 2-D (n_samples, n_labels), got shape {proba.shape}."
        )
    if temperature != 1.0:
        proba = _soften(proba, temperature)
    if aggregation == "cardinality":
        return _cardinality_inconsistency(proba, cardinality)
    per_label = _per_label(proba, strategy, np.asarray(threshold, dtype=float))
    if aggregation == "max":
        score = per_label.max(axis=1)
    elif aggregation == "mean":
        score = per_label.mean(axis=1)
    else:
        raise ValueError(
            f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}."
        )
    return np.clip(score, 0.0, 1.0)


def _per_label(proba, strategy, threshold):
    if strategy == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            q = 1.0 - proba
            bits = -(np.where(proba > 0, proba * np.log2(proba), 0.0)
                     + np.where(q > 0, q * np.log2(q), 0.0))
        return bits
    if strategy not in ("margin", "least_confidence"):
        raise ValueError(
            "strategy must be one of ('least_confidence', 'margin', 'entropy'),"
            f" got {strategy!r}."
        )
    room = np.where(proba < threshold, threshold, 1.0 - threshold)
    return 1.0 - np.abs(proba - threshold) / room


def _cardinality_inconsistency(proba, cardinality):
    expected = proba.sum(axis=1)
    target = 1.0 if cardinality is None else float(cardinality)
    room = max(target, proba.shape[1] - target, 1e-12)
    return np.clip(np.abs(expected - target) / room, 0.0, 1.0)


def _soften(proba, temperature):
    with np.errstate(divide="ignore"):
        yes = proba ** (1.0 / temperature)
        no = (1.0 - proba) ** (1.0 / temperature)
    return yes / (yes + no)
