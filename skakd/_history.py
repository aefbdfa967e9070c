"""A list of per-round records, as skorch's ``History``."""

__all__ = ["History"]


class History(list):
    """One dict per round, appended as the distillation goes.

    Round 0 is the student trained on the labelled seed alone. Besides normal
    list indexing, ``history[:, "key"]`` returns that key of every round
    (``None`` where a round lacks it), and ``history[-1, "key"]`` one value.

    Examples
    --------
    >>> from skakd._history import History
    >>> h = History([{"round": 0, "n_labeled": 10}, {"round": 1, "n_labeled": 35}])
    >>> h[:, "n_labeled"]
    [10, 35]
    >>> h[-1, "round"]
    1
    """

    def __getitem__(self, index):
        if isinstance(index, tuple) and len(index) == 2:
            rows, key = index
            if isinstance(rows, slice):
                return [record.get(key) for record in super().__getitem__(rows)]
            return super().__getitem__(rows)[key]
        return super().__getitem__(index)


def round_record(state, n_new, n_queried, counts, usage, after=None):
    """One round's ``history_`` record: its common keys, in their order.

    ``counts`` (items visited, unlabelled, rejected...) come after the
    round's size, ``usage`` (the teacher's cost and tokens) before the running
    total ``teacher_cost_total``, and ``after`` last.
    """
    return {
        "round": state.round,
        "n_labeled": len(state.labeled),
        "n_new": n_new,
        "n_queried": n_queried,
        **counts,
        **usage,
        "teacher_cost_total": state.teacher_cost,
        **(after or {}),
    }
