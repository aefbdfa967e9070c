"""A round's answers into the labelled set, and the record of what it did.

Known labels join ``state.labeled``; answers outside the classes are
rejected and the items the teacher could not label counted per reason (each
warned about once per fit); what the teacher was paid is added to the state
whether the round succeeded, failed or was interrupted; and whether the
round's answers say to stop (all rejected).
"""

from collections import Counter

import numpy as np

from ._history import round_record
from ._items import label_matcher, take, warn
from ._multilabel import to_indicator
from .reasons import BLANK, EARLY_STOPPING, LABELS_REJECTED, UNKNOWN
from .strategy import Acquisition

__all__ = ["absorb", "bill_failed_round", "blank_count", "interrupted", "stop_reason"]

# The once-per-fit warning of a round whose labels were all rejected: given,
# it also stops the fit.
ALL_REJECTED = "all_rejected"


def absorb(acquisition, state):
    """Add a round's answers to the labelled set; return its record."""
    labels, n_loose = _match_labels(acquisition.y, state)
    answered = np.array([label is not None for label in labels], dtype=bool)
    known = _known(labels, state) & answered
    rejected = answered & ~known
    if rejected.any():
        _warn_unknown(_unknown(labels[rejected], state), state,
                      all_rejected=not known.any())
    unlabeled = _unlabeled_reasons(acquisition.result, ~answered)
    if unlabeled:
        _warn_unlabeled(unlabeled, state)
    pool_index = acquisition.pool_indices
    if pool_index is not None:
        state.unlabeled[pool_index] = False
    keep = np.flatnonzero(known)
    provenance = _provenance(acquisition.result, keep)
    state.labeled.add(
        take(acquisition.X, keep),
        to_indicator(labels[keep], state.classes) if state.multi_label
        else labels[keep],
        acquisition.source,
        state.round,
        None if pool_index is None else pool_index[keep],
        **provenance,
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
    if n_loose:  # added to what an LLM teacher already matched itself
        record["n_loose_labels"] = record.get("n_loose_labels", 0) + n_loose
    stated = provenance.get("confidence", np.empty(0))
    if np.isfinite(stated).any():
        record["teacher_confidence"] = float(np.nanmean(stated))
    return record


def _provenance(result, keep):
    """Who gave each kept label (a cascade's stage) and how sure it was, as a
    teacher's result says; ``None`` where it says nothing."""
    found = {}
    for name, column in (("teacher", "sources"), ("confidence", "confidence")):
        values = getattr(result, column, None)
        if values is not None:
            values = np.asarray(values, dtype=object)[keep]
            found[name] = (values if name == "teacher" else
                           np.array([np.nan if v is None else v for v in values],
                                    dtype=float))
    return found


def blank_count(state):
    """The seed record's count of the blank pool texts left out at the start
    (``n_unlabeled_blank``), when there are any."""
    if state.unlabeled is None or state.unlabeled.all():
        return {}
    return {f"n_unlabeled_{BLANK}": int((~state.unlabeled).sum())}


def stop_reason(state, stop):
    """Why the loop stops after this round, or ``None``.

    A round whose labels were all outside the classes stops the fit
    (:data:`~skakd.reasons.LABELS_REJECTED`): the next rounds would buy
    labels to throw away, up to the end of the budget. (Texts a generating
    strategy's screen drops are its own business: they stop nothing.)
    ``stop`` is the strategy's own early stopping.
    """
    if ALL_REJECTED in state.warned:
        return LABELS_REJECTED
    return EARLY_STOPPING if stop else None


def _match_labels(answers, state):
    """The answers as an object array, each matched to a class up to case
    and spaces where it names one alone; and how many needed that. Label
    sets are taken as they are (the teacher matched them)."""
    labels = np.empty(len(answers), dtype=object)
    labels[:] = list(answers)
    classes = state.classes
    if state.multi_label:
        return labels, 0
    exact = np.isin(labels, classes)
    if exact.all() or classes.dtype.kind not in "UO":
        return labels, 0
    match = label_matcher([str(name) for name in classes])
    n_loose = 0
    for i in np.flatnonzero(~exact):
        name = match(labels[i])
        if name is not None:
            labels[i], n_loose = name, n_loose + 1
    return labels, n_loose


def _known(labels, state):
    """Which answers are labels of ``state.classes`` (for label sets: every
    label of the set; the empty set is an answer)."""
    if not state.multi_label:
        return np.isin(labels, state.classes)
    classes = set(np.asarray(state.classes).tolist())
    return np.array([labels_ is not None and classes.issuperset(labels_)
                     for labels_ in labels], dtype=bool)


def _unknown(labels, state):
    """The answered labels outside ``state.classes``, for the warning."""
    if not state.multi_label:
        return labels
    classes = set(np.asarray(state.classes).tolist())
    return [label for labels_ in labels for label in labels_
            if label not in classes]


def bill_failed_round(exc, state):
    """What a failed round paid for (``exc.teacher_result``): add it to the
    state and return its record, or ``None`` when it paid nothing known."""
    result = getattr(exc, "teacher_result", None)
    if result is None:
        return None
    usage = Acquisition(None, [], "teacher", result=result).usage()
    state.teacher_cost += usage["teacher_cost"]
    return round_record(state, 0, 0, {}, usage, {"error": type(exc).__name__})


def interrupted(state, history):
    """Ctrl-C: keep what the recorded rounds learned, and say so.

    A round interrupted after its answers joined the labelled set but before
    its record (during the refit, the scoring, the callbacks) is taken back
    out: the labels, ``history_`` and the budget used then tell the same
    story, and what the teacher was paid for it is recorded as a failed
    round's is. Returns whether the student must be refitted on the rounds
    kept (the interrupted refit may have left it half-fitted).
    """
    warn("fit interrupted: the student trained on the labels obtained so "
         "far is kept.")
    added = state.labeled.rounds == state.round
    if history[-1]["round"] == state.round or not added.any():
        return False
    paid = state.teacher_cost - history[-1]["teacher_cost_total"]
    state.labeled.remove(added)
    state.n_rounds = state.round - 1  # callbacks saw it counted as complete
    history.append(round_record(state, 0, 0, {}, {"teacher_cost": paid},
                                {"error": "KeyboardInterrupt"}))
    return True


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
    warn(
        f"the teacher could not label some items ({shown} this round); they "
        "leave the pool without a label and are counted in history_ "
        "(n_unlabeled, n_unlabeled_<reason>). A caching teacher does not pay "
        "for them again."
    )


def _warn_unknown(labels, state, all_rejected):
    """Warn, once per fit, that the teacher answered outside ``classes``;
    and when a whole round was, that the fit stops (a warning of its own)."""
    if not state.first_warning(ALL_REJECTED if all_rejected else "unknown"):
        return
    classes = state.classes.tolist()
    shown = sorted({repr(_plain(label)) for label in labels})[:5]
    expected = f"{classes[:10]}{'...' if len(classes) > 10 else ''}"
    if all_rejected:
        what = (f"every answer of round {state.round} was a label outside classes "
                f"({', '.join(shown)}; expected one of {expected}), so the fit "
                "stops rather than buy more labels to throw away")
    else:
        what = (f"the teacher answered labels outside classes "
                f"({', '.join(shown)}); they were rejected, not added "
                f"(expected one of {expected})")
    warn(
        f"{what}. history_ counts them in n_rejected. Labels that differ from "
        "a class only in case or spaces are matched (n_loose_labels); if the "
        "teacher's labels are valid, pass the full label set as classes=, "
        "or make the teacher answer from the classes."
    )


def _plain(label):
    """``np.str_('x')`` as ``'x'``: labels are shown as the user wrote them."""
    return label.item() if isinstance(label, np.generic) else label
