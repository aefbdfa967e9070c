"""How far a cheap teacher's answers can be trusted, measured against a
stronger one's (pure functions)."""

import math

import numpy as np

from ._base import UNLABELED

__all__ = ["agreement_threshold", "measure_agreement"]


def measure_agreement(answers, reference, target):
    """The threshold at which ``answers`` agree with ``reference`` ``target``
    of the time.

    Parameters
    ----------
    answers : list of (label, confidence)
        A stage's answers (``None`` where it gave no label or no confidence:
        such answers are always passed on, and not measured).
    reference : list
        The reference stage's labels for the same items.
    target : float
        The agreement wanted of the answers kept.

    Returns
    -------
    report : dict
        ``n_items`` (answers measured), ``threshold``, ``agreement`` (of the
        answers kept at the threshold), ``kept_share``, ``agreement_all``
        (of every answer measured) and ``target_agreement``.

    Examples
    --------
    >>> from skakd.teachers._calibration import measure_agreement
    >>> answers = [("a", 0.99), ("b", 0.9), ("a", 0.5), ("b", None)]
    >>> measure_agreement(answers, ["a", "b", "b", "b"], 0.9)["threshold"]
    0.9
    """
    both = [(a, r) for a, r in zip(answers, reference)
            if a[0] is not UNLABELED and a[1] is not None and r is not UNLABELED]
    confidence = np.array([a[1] for a, _ in both], dtype=float)
    agree = np.array([a[0] == r for a, r in both])
    threshold, agreement, kept = agreement_threshold(confidence, agree, target)
    return {"n_items": len(both), "threshold": threshold, "agreement": agreement,
            "kept_share": kept,
            "agreement_all": float(agree.mean()) if both else None,
            "target_agreement": target}


def agreement_threshold(confidence, agree, target):
    """The lowest confidence whose kept answers agree ``target`` of the time.

    Answers with a confidence at or above the threshold are kept; of the
    thresholds that meet ``target``, the one that keeps most answers wins.

    Returns
    -------
    threshold, agreement, kept_share
        ``(inf, None, 0.0)`` where no threshold meets ``target``.

    Examples
    --------
    >>> from skakd.teachers._calibration import agreement_threshold
    >>> agreement_threshold([0.99, 0.95, 0.9, 0.6, 0.5], [1, 1, 1, 0, 1], 0.9)
    (0.9, 1.0, 0.6)
    """
    confidence = np.asarray(confidence, dtype=float)
    agree = np.asarray(agree, dtype=float)
    order = np.argsort(-confidence, kind="stable")
    confidence, agree = confidence[order], agree[order]
    running = np.cumsum(agree) / np.arange(1, len(agree) + 1)
    # A cut falls between two distinct confidences, never inside a tie.
    cut = np.r_[confidence[1:] != confidence[:-1], True] if len(agree) else []
    good = np.flatnonzero(cut & (running >= target)) if len(agree) else []
    if not len(good):
        return math.inf, None, 0.0
    j = good[-1]
    return float(confidence[j]), float(running[j]), float((j + 1) / len(agree))
