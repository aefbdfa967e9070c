"""How many items the next round may add under the budgets, or why none."""

from .reasons import MAX_COST, MAX_LABELS

__all__ = ["round_size"]


def round_size(batch_size, state, *, max_labels=None, max_cost=None):
    """``(n_wanted, None)``, or ``(0, reason)`` when the next round must not start.

    ``max_labels`` caps the items sent to the teacher or written by it;
    ``max_cost`` shrinks the round to what the USD left buys at the expected
    cost per item (see :func:`cost_per_item`).
    """
    n_wanted = int(batch_size)
    if max_labels is not None:
        n_wanted = min(n_wanted, max_labels - state.n_used)
        if n_wanted <= 0:
            return 0, MAX_LABELS
    if max_cost is not None:
        left = max_cost - state.teacher_cost
        per_item = cost_per_item(state, n_wanted)
        if left <= 0:
            return 0, MAX_COST
        if per_item > 0:
            # The epsilon keeps float rounding (0.05 / 0.01 = 4.999...)
            # from losing an affordable item.
            n_wanted = min(n_wanted, int(left / per_item + 1e-9))
            if n_wanted <= 0:
                return 0, MAX_COST
    return n_wanted, None


def cost_per_item(state, n_wanted):
    """Expected USD per item: max of running average and teacher estimate."""
    average = state.teacher_cost / state.n_used if state.teacher_cost else 0.0
    estimate = getattr(state.teacher, "estimate_cost", None)
    if estimate is None or n_wanted == 0:
        return average
    predicted = float(estimate(n_wanted, classes=list(state.classes))) / n_wanted
    return max(average, predicted)
