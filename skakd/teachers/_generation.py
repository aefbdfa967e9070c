"""GenerationResult: generated samples that also carry their usage."""

__all__ = ["GenerationResult"]


class GenerationResult(list):
    """The ``(text, label)`` pairs a teacher wrote, with usage and cost.

    A plain list for code that only wants the samples; strategies such as
    :class:`~skakd.augmentation.PGKD` can pass it on as the
    :class:`~skakd.Acquisition`'s ``result`` so that tokens and cost reach
    ``history_`` and ``teacher_cost_``, as for
    :class:`~skakd.teachers.TeacherResult`.

    Parameters
    ----------
    samples : iterable of (text, label)
        The generated samples.
    input_tokens, output_tokens : int, default=0
        Token usage of the calls behind them.
    cost : float, default=0.0
        USD paid.
    latency : float, default=0.0
        Seconds spent waiting for the teacher.
    n_cached : int, default=0
        Samples replayed from a cache (they cost nothing).
    info : dict or None, default=None
        Extra figures, e.g. ``n_invalid`` samples dropped.

    Examples
    --------
    >>> from skakd.teachers import GenerationResult
    >>> result = GenerationResult([("cheap flight", "travel")], cost=0.01)
    >>> list(result), result.cost
    ([('cheap flight', 'travel')], 0.01)
    """

    def __init__(self, samples=(), *, input_tokens=0, output_tokens=0, cost=0.0,
                 latency=0.0, n_cached=0, info=None):
        super().__init__(samples)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost = cost
        self.latency = latency
        self.n_cached = n_cached
        self.info = dict(info or {})

    def __repr__(self):
        return (f"GenerationResult({list(self)!r}, cost={self.cost!r}, "
                f"n_cached={self.n_cached!r})")
