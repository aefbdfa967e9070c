"""Plots of distillation runs: learning, acceptance-rate and cost curves.

Every function takes one or more runs: a fitted
:class:`~skakd.ActiveDistillationClassifier`, its ``history_``, a list of
per-round dicts (e.g. read back from ``skakd distill``'s history JSON), or a
``{name: run}`` dict to compare several runs on the same axes. Each draws on
``ax`` (a new figure when ``None``) and returns it. Needs matplotlib
(``pip install 'skakd[plot]'``).
"""

try:
    import matplotlib  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "skakd.plotting needs matplotlib: pip install 'skakd[plot]'."
    ) from exc

import numpy as np

__all__ = [
    "plot_acceptance_rate",
    "plot_cost",
    "plot_learning_curve",
    "plot_summary",
    "pick_metric",
]

# Readable axis labels for the usual history keys.
AXIS_LABELS = {
    "n_labeled": "labelled examples",
    "teacher_cost_total": "teacher cost (USD)",
    "round": "round",
}
# Keys Scoring-style callbacks and strategies write, in order of preference.
# micro_f1 first: Scoring writes it only for multi-label targets, where it
# (rather than subset accuracy) is the learning curve.
METRIC_KEYS = ("micro_f1", "accuracy", "val_accuracy", "score", "val_macro_f1", "f1")


def _runs(histories):
    """``[(label, list of records)]`` from whatever the caller passed."""
    if isinstance(histories, dict):
        return [(str(name), _records(run)) for name, run in histories.items()]
    return [(None, _records(histories))]


def _records(run):
    records = getattr(run, "history_", run)
    if not isinstance(records, (list, tuple)) or not all(
        isinstance(record, dict) for record in records
    ):
        raise TypeError(
            f"expected a fitted ActiveDistillationClassifier, its history_ or a "
            f"list of per-round dicts; got {type(run).__name__}."
        )
    return list(records)


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots()[1]


def _column(records, key):
    return [record.get(key) for record in records]


def _finish(ax, runs, xlabel, ylabel, title):
    from matplotlib.ticker import MaxNLocator

    if xlabel == "round":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(AXIS_LABELS.get(xlabel, xlabel))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if any(label is not None for label, _ in runs):
        ax.legend()
    return ax


def pick_metric(records):
    """The first of :data:`METRIC_KEYS` present in ``records``, or ``None``.

    Examples
    --------
    >>> from skakd.plotting import pick_metric
    >>> pick_metric([{"round": 0, "accuracy": 0.5}])
    'accuracy'
    """
    for key in METRIC_KEYS:
        if any(record.get(key) is not None for record in records):
            return key
    return None


def plot_learning_curve(histories, metric=None, *, x="n_labeled", ax=None,
                        forecast=None):
    """Score of the student versus labelled examples.

    Parameters
    ----------
    histories : classifier, history, list of dicts, or dict of those
        One run, or ``{name: run}`` for several curves with a legend.
    metric : str or None, default=None
        History key to plot; ``None`` takes the first of ``micro_f1`` (a
        multi-label fit's), ``accuracy``, ``val_accuracy``, ``score``,
        ``val_macro_f1``, ``f1`` that is there.
    x : str, default="n_labeled"
        History key for the horizontal axis (e.g. ``"teacher_cost_total"``).
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` creates a figure.
    forecast : LearningCurveForecast or None, default=None
        A fitted :class:`~skakd.stopping.LearningCurveForecast`: its curve
        (``accuracy_at``) is drawn dashed from its first point to twice the
        labelled-set size, with its bootstrap band shaded (``x`` must be
        ``"n_labeled"``).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from skakd.plotting import plot_learning_curve
    >>> history = [{"n_labeled": 10, "accuracy": 0.5},
    ...            {"n_labeled": 35, "accuracy": 0.7}]
    >>> ax = plot_learning_curve({"M-RARU": history})
    >>> ax.get_ylabel(), len(ax.lines)
    ('accuracy', 1)
    """
    runs = _runs(histories)
    ax = _axes(ax)
    if metric is None:
        found = [pick_metric(records) for _, records in runs]
        metric = next((key for key in found if key is not None), None)
    if metric is None:
        raise ValueError(
            "metric=None but no history has a score to plot (any of "
            f"{', '.join(METRIC_KEYS)}); record one with skakd.callbacks.Scoring "
            "or pass metric=."
        )
    for label, records in runs:
        points = [(xv, yv) for xv, yv in zip(_column(records, x),
                                            _column(records, metric))
                  if xv is not None and yv is not None]
        if points:
            ax.plot(*zip(*points), marker=".", label=label)
    if forecast is not None:
        _draw_forecast(ax, forecast, x)
        runs = [*runs, ("forecast", [])]  # a legend names the dashed line
    return _finish(ax, runs, x, metric, "Learning curve")


def _draw_forecast(ax, forecast, x):
    """The forecast's curve and band over its points and as far again."""
    if x != "n_labeled":
        raise ValueError(f"forecast= is drawn against x='n_labeled', got x={x!r}.")
    start = float(np.min(forecast.n_labels_))
    end = 2.0 * max(float(forecast.n_labeled_), float(np.max(forecast.n_labels_)))
    grid = np.linspace(start, end, 60)
    point, low, high = np.array(
        [forecast.accuracy_at(n, return_band=True) for n in grid]).T
    line, = ax.plot(grid, point, linestyle="--", label="forecast")
    ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2,
                    linewidth=0)


def plot_acceptance_rate(histories, *, ax=None):
    """M-RARU's acceptance rate (accepted / visited pool items) per round.

    A low rate means the sampler visits many items per batch: the student is
    confident about most of the pool (see ``MRARU(temperature=...)``).
    Round 0 (the seed) has no selection and is left out.

    Parameters
    ----------
    histories : classifier, history, list of dicts, or dict of those
        One run, or ``{name: run}``.
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` creates a figure.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from skakd.plotting import plot_acceptance_rate
    >>> history = [{"round": 0, "acceptance_rate": 0.0},
    ...            {"round": 1, "acceptance_rate": 0.4},
    ...            {"round": 2, "acceptance_rate": 0.3}]
    >>> plot_acceptance_rate(history).lines[0].get_ydata().tolist()
    [0.4, 0.3]
    """
    runs = _runs(histories)
    ax = _axes(ax)
    for label, records in runs:
        rounds = [r for r in records[1:] if r.get("acceptance_rate") is not None]
        ax.plot(_column(rounds, "round"), _column(rounds, "acceptance_rate"),
                marker=".", label=label)
    ax.set_ylim(bottom=0)
    return _finish(ax, runs, "round", "acceptance rate", "Acceptance rate")


def plot_cost(histories, *, x="n_labeled", ax=None):
    """Cumulative teacher cost in USD versus labelled examples.

    Parameters
    ----------
    histories : classifier, history, list of dicts, or dict of those
        One run, or ``{name: run}``.
    x : str, default="n_labeled"
        History key for the horizontal axis (e.g. ``"round"``).
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` creates a figure.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> from skakd.plotting import plot_cost
    >>> history = [{"n_labeled": 10, "teacher_cost_total": 0.0},
    ...            {"n_labeled": 35, "teacher_cost_total": 0.02}]
    >>> plot_cost(history).get_ylabel()
    'teacher cost (USD)'
    """
    runs = _runs(histories)
    ax = _axes(ax)
    for label, records in runs:
        ax.plot(_column(records, x),
                [r.get("teacher_cost_total") or 0.0 for r in records],
                marker=".", label=label)
    ax.set_ylim(bottom=0)
    return _finish(ax, runs, x, "teacher cost (USD)", "Teacher cost")


def plot_summary(histories, *, figure=None, forecast=None):
    """Learning curve (when a score was recorded), acceptance rate and cost.

    Parameters
    ----------
    histories : classifier, history, list of dicts, or dict of those
        One run, or ``{name: run}``.
    figure : matplotlib Figure or None, default=None
        Where to draw the panels side by side; ``None`` creates one.
    forecast : LearningCurveForecast or None, default=None
        Drawn on the learning curve (see :func:`plot_learning_curve`).

    Returns
    -------
    axes : list of matplotlib Axes

    Examples
    --------
    >>> from skakd.plotting import plot_summary
    >>> history = [{"round": 0, "n_labeled": 10, "acceptance_rate": 0.0},
    ...            {"round": 1, "n_labeled": 35, "acceptance_rate": 0.5}]
    >>> [ax.get_title() for ax in plot_summary(history)]
    ['Acceptance rate', 'Teacher cost']
    """
    runs = _runs(histories)
    has_metric = any(pick_metric(records) for _, records in runs)
    if figure is None:
        import matplotlib.pyplot as plt

        figure = plt.figure(figsize=(4.3 * (2 + has_metric), 3.8),
                            layout="constrained")
    axes = figure.subplots(1, 2 + has_metric, squeeze=False)[0].tolist()
    named = dict(runs) if runs[0][0] is not None else runs[0][1]
    if has_metric:
        plot_learning_curve(named, ax=axes[0], forecast=forecast)
    plot_acceptance_rate(named, ax=axes[-2])
    plot_cost(named, ax=axes[-1])
    return axes
