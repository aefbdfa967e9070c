"""The learning curve's law, and the points a run measured for it."""

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

__all__ = ["SCORE_KEYS", "agreement_points", "fit_power_law", "labels_for",
           "n_sizes", "power_law", "records_until", "score_points"]

# History keys a Scoring callback writes (``skakd distill`` scores its
# validation split as "accuracy"; a multi-label fit's also as "micro_f1"),
# in the order skakd.plotting picks them.
SCORE_KEYS = ("micro_f1", "accuracy", "val_accuracy", "score", "val_macro_f1", "f1")


def power_law(n, a, b, c):
    """Inverse power law ``a - b * n ** -c``: accuracy after ``n`` labels.

    Examples
    --------
    >>> from skakd.stopping import power_law
    >>> round(float(power_law(100, 0.9, 0.5, 0.5)), 2)
    0.85
    """
    return a - b * np.power(np.asarray(n, dtype=float), -c)


def fit_power_law(n, accuracy):
    """``(a, b, c)`` of the inverse power law through the points, or ``None``
    when the fit fails (too few or degenerate points).

    Residuals weigh ``sqrt(n)``: the first rounds (a seed of one text per
    class, a student that jumps from batch to batch) follow a power law
    worst, and the curve's tail, which the forecast extrapolates, is read
    from the later points. On the committed runs of ``benchmarks.stopping``
    and ``benchmarks.label_efficiency`` this lowers the error of the labels
    forecast to 95% of the final accuracy against unweighted points.
    """
    spread = accuracy.max() - accuracy.min()
    start = (min(1.0, accuracy.max() + 0.02), max(1e-3, spread), 0.5)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            # a is an accuracy (at most 1); c > 0 makes the curve rise.
            params, _ = curve_fit(power_law, n, accuracy, p0=start,
                                  sigma=n ** -0.25,
                                  bounds=([0.0, 0.0, 1e-3], [1.0, np.inf, 3.0]),
                                  maxfev=5000)
    except (RuntimeError, ValueError):
        return None
    return params


def labels_for(params, target):
    """Labels at which the curve ``params`` reaches ``target`` (inf: never)."""
    a, b, c = params
    if target >= a:
        return np.inf
    if b <= 0:
        return 1.0
    return float((b / (a - target)) ** (1.0 / c))


def records_until(history, until):
    """The rounds of ``history`` up to the last with ``<= until`` labels."""
    if until is None:
        return list(history)
    records = [record for record in history if record["n_labeled"] <= until]
    if not records:
        raise ValueError(
            f"until={until}: the seed alone has {history[0]['n_labeled']} "
            "labelled items; expected at least that many."
        )
    return records


def score_points(records, metric):
    """``(n, score)`` of the held-out scores in ``records`` (``metric``, or
    the first of :data:`SCORE_KEYS` there); empty arrays when none."""
    keys = SCORE_KEYS if metric is None else (metric,)
    key = next((k for k in keys if any(r.get(k) is not None for r in records)), None)
    scored = [r for r in records if key is not None and r.get(key) is not None]
    return (np.array([r["n_labeled"] for r in scored], dtype=float),
            np.array([r[key] for r in scored], dtype=float))


def n_sizes(n, accuracy):
    """Distinct labelled-set sizes with a finite accuracy."""
    return len(np.unique(n[np.isfinite(accuracy)]))


def agreement_points(records):
    """``(n, agreement)``: round ``r``'s agreement measures the student fitted
    on round ``r - 1``'s labelled set."""
    agreement = [record.get("teacher_agreement") for record in records]
    if all(value is None for value in agreement):
        raise ValueError(
            "LearningCurveForecast(source='agreement') needs the "
            "'teacher_agreement' of history_: add skakd.stopping."
            "TeacherAgreement() to the classifier's callbacks, or use "
            "source='cv'."
        )
    n = np.array([record["n_labeled"] for record in records[:-1]], dtype=float)
    accuracy = np.array([np.nan if a is None else a for a in agreement[1:]],
                        dtype=float)
    return n, accuracy
