"""A round's answers into the labelled set, and the record of what it did.

Known labels join ``state.labeled``; answers outside the classes are
rejected and the items the teacher could not label counted per reason (each
warned about once per fit); what the teacher was paid is added to the state
whether the round succeeded or failed.
"""

import warnings
from collections import Counter

import numpy as np

from ._history import round_record
from ._items import take
from .reasons import UNKNOWN
from .strategy import Acquisition

__all__ = ["absorb", "bill_failed_round"]


def absorb(acquisition, state):
    """Add a round's answers to the labelled set; return its record."""
    labels = np.empty(len(acquisition.y), dtype=object)
    labels[:] = list(acquisition.y)
    answered = np.array([label is not None for label in labels], dtype=bool)
    known = np.isin(labels, state.classes) & answered
    rejected = answered & ~known
    if rejected.any():
        _warn_unknown(labels[rejected], state)
    unlabeled = _unlabeled_reasons(acquisition.result, ~answered)
    if unlabeled:
        _warn_unlabeled(unlabeled, state)
    pool_index = acquisition.pool_indices
    if pool_index is not None:
        state.unlabeled[pool_index] = False
    keep = np.flatnonzero(known)
    state.labeled.add(
        take(acquisition.X, keep),
        labels[keep],
        acquisition.source,
        state.round,
        None if pool_index is None else pool_index[keep],
    )
    state.n_used += len(labels)
    usage = acquisition.usage()
    state.teacher_cost += usage["teacher_cost"]
    counts = {
        "n_unlabeled": int((~answered).sum()),
        "n_rejected": int(rejected.sum()),
        "n_visited": len(labels),
        "acceptance_rate": 1.0,
    }
    record = round_record(state, len(keep), len(labels), counts, usage,
                          {f"n_unlabeled_{why}": n for why, n in unlabeled.items()})
    record.update(acquisition.stats)
    return record


def bill_failed_round(exc, state):
    """What a failed round paid for (``exc.teacher_result``): add it to the
    state and return its record, or ``None`` when it paid nothing known."""
    result = getattr(exc, "teacher_result", None)
    if result is None:
        return None
    usage = Acquisition(None, [], "teacher", result=result).usage()
    state.teacher_cost += usage["teacher_cost"]
    return round_record(state, 0, 0, {}, usage, {"error": type(exc).__name__})


def _unlabeled_reasons(result, unanswered):
    """``{reason: count}`` of the items the teacher could not label."""
    if not unanswered.any():
        return {}
    reasons = getattr(result, "reasons", None)
    if reasons is None or len(reasons) != len(unanswered):
        reasons = [None] * len(unanswered)
    return dict(Counter(reasons[i] or UNKNOWN for i in np.flatnonzero(unanswered)))


def _warn_unlabeled(counts, state):
    """Warn, once per fit, that the teacher could not label some items."""
    if not state.first_warning("unlabeled"):
        return
    shown = ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))
    warnings.warn(
        f"the teacher could not label some items ({shown} this round); they "
        "leave the pool without a label and are counted in history_ "
        "(n_unlabeled, n_unlabeled_<reason>). A caching teacher does not pay "
        "for them again.",
        UserWarning,
        stacklevel=4,
    )


def _warn_unknown(labels, state):
    """Warn, once per fit, that the teacher answered outside ``classes``."""
    if not state.first_warning("unknown"):
        return
    classes = state.classes
    shown = sorted({repr(label) for label in labels})[:5]
    warnings.warn(
        f"the teacher answered labels outside classes ({', '.join(shown)}); "
        f"they were rejected, not added (expected one of {list(classes)[:10]}"
        f"{'...' if len(classes) > 10 else ''}). history_ counts them in "
        "n_rejected; pass the full label set as classes= if they are valid.",
        UserWarning,
        stacklevel=4,
    )
