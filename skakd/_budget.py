"""How many items the next round may add under the budgets, or why none."""

from .reasons import MAX_COST, MAX_LABELS

__all__ = ["round_size"]


def round_size(batch_size, state, *, max_labels=None, max_cost=None):
    """``(n_wanted, None)``, or ``(0, reason)`` when the next round must not start.

    ``max_labels`` caps the items sent to the teacher or written by it;
    ``max_cost`` shrinks the round to what the USD left buys at the expected
    cost per item (see :func:`cost_per_item`), and, for a teacher that can
    say the most a round may cost (a cascade), to what it buys at that.
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
        n_wanted = _within_worst_case(state, n_wanted, left)
        if n_wanted <= 0:
            return 0, MAX_COST
    return n_wanted, None


def _within_worst_case(state, n_wanted, left):
    """``n_wanted``, shrunk so that a teacher whose cost per item varies
    (a cascade: one item is paid once, another at every stage) cannot pass
    the budget even at its most expensive; teachers say it with
    ``estimate_max_cost(n_items, classes)``."""
    most = getattr(state.teacher, "estimate_max_cost", None)
    if most is None or n_wanted <= 0:
        return n_wanted
    classes = list(state.classes)
    cost = most(n_wanted, classes)
    while n_wanted > 0 and cost > left + 1e-12:
        # The worst case is about linear in n: one step lands near the
        # bound, the loop only corrects rounding.
        n_wanted = min(n_wanted - 1, int(left / (cost / n_wanted) + 1e-9))
        cost = most(n_wanted, classes) if n_wanted > 0 else 0.0
    return n_wanted


def cost_per_item(state, n_wanted):
    """Expected USD per item: max of running average and teacher estimate."""
    average = state.teacher_cost / state.n_used if state.teacher_cost else 0.0
    estimate = getattr(state.teacher, "estimate_cost", None)
    if estimate is None or n_wanted == 0:
        return average
    predicted = float(estimate(n_wanted, classes=list(state.classes))) / n_wanted
    return max(average, predicted)
