"""The cold start: teacher rounds before the first student exists.

A fit from no seed (or a seed of one class) with ``classes=`` has nothing to
train a student on. Its first rounds are chosen without one (the pool
strategy's ``cold_start``, see :func:`skakd.sampling.cold_select`), labelled
by the teacher through the same cache and bill, and kept as round 0 (source
``"teacher"``); the student is fitted once two classes are labelled.
"""

import time

import numpy as np

from ._absorb import absorb, bill_failed_round
from ._budget import round_size
from .reasons import MAX_ITER, POOL_EXHAUSTED
from .strategy import is_generative

__all__ = ["check_cold_start", "cold_start", "n_labeled_classes", "prepare"]

# A record's keys that are not per-round amounts, so not summed over the
# cold rounds into the first student's record.
_NOT_SUMMED = {"round", "n_labeled", "n_new", "teacher_cost_total", "acceptance_rate"}


def n_labeled_classes(labeled):
    """Number of distinct labels in ``labeled`` (a LabeledSet)."""
    return len(np.unique(labeled.y)) if len(labeled) else 0


def prepare(strategy, state, **budgets):
    """Prepare ``strategy`` and run the cold start (if the seed has fewer than
    two classes), in the order the strategy needs: a pool strategy is
    prepared first (its checks come before anything is paid), a generative
    one after its first texts are written (PGKD's validation split comes
    from them). ``budgets`` are :func:`cold_start`'s; returns its totals."""
    check_cold_start(strategy, state)
    written_first = state.cold and is_generative(strategy)
    if hasattr(strategy, "prepare") and not written_first:
        strategy.prepare(state)
    totals = cold_start(strategy, state, **budgets)
    if hasattr(strategy, "prepare") and written_first:
        strategy.prepare(state)
    return totals


def check_cold_start(strategy, state):
    """Refuse what cannot start from no seed, before the teacher is paid
    (nothing to check for a seed of two classes)."""
    if not state.cold:
        return
    if state.X_pool is None and not is_generative(strategy):
        raise ValueError(
            "X, y (the labelled seed) have fewer than two classes and X_pool "
            "is None; a fit from no seed needs a pool for the teacher to "
            "label (or a strategy that has the teacher write texts, PGKD).")
    if len(state.classes) < 2:
        raise ValueError(
            f"classes={list(state.classes)} has fewer than two classes; expected "
            "every class the teacher may answer (at least two).")


def cold_start(strategy, state, *, max_iter, max_labels, max_cost):
    """Label rounds chosen without a student until two classes are labelled.

    Each cold round asks about ``max(batch_size, len(classes))`` items (one
    per class, were the first picks to hit every class), within the budgets;
    ``max_iter`` bounds the number of cold rounds too. A strategy with
    ``cold_round_due(state)`` may ask for more cold rounds (a pool strategy
    whose sampler has ``cold_start="coverage"`` tops up the missing classes).

    Returns
    -------
    totals : dict
        Empty for a seed of two classes (no cold start); else the cold
        rounds' counts and usage, summed, with ``n_cold_rounds``,
        ``n_cold_labels`` (items sent to the teacher) and ``cold_seconds``:
        merged into ``history_[0]``, the record of the first student.

    Raises
    ------
    ValueError
        When the pool, the budget or ``max_iter`` ends the cold start before
        two classes are labelled: there is no student to fit.
    """
    if not state.cold:
        return {}
    start = time.perf_counter()
    totals, n_rounds = {}, 0
    due = getattr(strategy, "cold_round_due", None)
    while n_labeled_classes(state.labeled) < 2 or (due and due(state)):
        batch = max(int(strategy.batch_size), len(state.classes))
        n_wanted, reason = round_size(batch, state, max_labels=max_labels,
                                      max_cost=max_cost)
        if max_iter is not None and n_rounds >= max_iter:
            reason = MAX_ITER
        acquisition = None if reason else _acquire(strategy, state, n_wanted)
        if acquisition is None and n_labeled_classes(state.labeled) >= 2:
            break  # only a top-up was due: the student can be fitted
        if acquisition is None:
            raise ValueError(_no_student(state, n_rounds, reason or POOL_EXHAUSTED))
        record = absorb(acquisition, state)
        n_rounds += 1
        for key, value in record.items():
            if key not in _NOT_SUMMED and isinstance(value, (int, float)):
                totals[key] = totals.get(key, 0) + value
    state.cold = False
    return {**totals, "n_cold_rounds": n_rounds, "n_cold_labels": state.n_used,
            "cold_seconds": time.perf_counter() - start}


def _acquire(strategy, state, n_wanted):
    state.n_wanted = n_wanted
    state.rng = np.random.default_rng(state.seeds.spawn(1)[0])
    try:
        return strategy.acquire(state)
    except BaseException as exc:
        bill_failed_round(exc, state)
        raise


def _no_student(state, n_rounds, reason):
    labels = np.unique(state.labeled.y).tolist() if len(state.labeled) else []
    return (
        f"the cold start ended ({reason}) before two classes were labelled: "
        f"{n_rounds} rounds sent {state.n_used} items to the teacher "
        f"(USD {state.teacher_cost:.4f}) and got labels {labels} only, so "
        "there is no student to fit. Raise max_labels, max_cost or max_iter, "
        "check that the pool holds items of more than one of the classes, or "
        "seed one labelled example of two classes. A caching teacher (the "
        "LLM teachers) does not pay again for what it answered."
    )
