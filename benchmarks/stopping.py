"""Label-free stopping and learning-curve forecasts on real distillation runs.

Each run distils an oracle teacher (the dataset's labels) into a student up to
the full budget, with every stopping criterion attached as an observer: the
criteria of ``skakd.stopping`` (several settings) and small-text's
(``KappaAverage``, ``ClassificationChange``, ``OverallUncertainty``) record,
round by round, whether they would stop; none changes which items are
labelled, so one run scores them all. Many more settings of ours, and
both kappa and the teacher-agreement plateau together, are replayed offline
on the statistics the probes recorded (:data:`SWEEP`). From the runs: labels
at stop, test accuracy at stop and at the full budget, labels saved, the
Pareto front of budget against loss, the stop of an oracle that knows the
test accuracy (is the target reachable at all?), the rule the evidence
chooses as the default (and the same choice left one dataset out); and the
error of the forecast of labels to 95% of the full-budget accuracy made
after a third of the budget.

Usage::

    python -m benchmarks.stopping --quick
    python -m benchmarks.stopping --data trec banking77 --students tfidf_lr \\
        --samplers mraru_margin_a0.1 random --seeds 3
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Callback, Scoring
from skakd.stopping import (
    ConfidenceStop,
    LearningCurveForecast,
    ProjectedChange,
    StabilizingPredictions,
    TargetNotReachable,
    TeacherAgreement,
    default,
    projected_change,
)
from skakd.teachers import OracleTeacher

from ._common import DEFAULT_DATA, one_per_class
from ._report import (
    DOCS,
    RESULTS,
    append_run,
    command_line,
    fmt,
    machine_info,
    markdown_table,
    read_runs,
    write_csv,
    write_generated,
    write_json,
)
from .label_efficiency.run import (
    DEFAULT_MRARU,
    STUDENTS,
    load,
    make_sampler,
    quiet_expected_warnings,
)

SOURCE = "benchmarks.stopping"
BUDGETS = {"trec": 1000, "ag_news": 1000}  # others: 2,000 labels
DEFAULT_BUDGET = 2000
MIN_ROUNDS = 10
# Ours run with min_rounds=0 inside the probe; the minimum is applied when
# the decisions are read, so each setting is scored with and without it.
OURS = {
    "default": default,
    "kappa(0.98,w3)": lambda: StabilizingPredictions(threshold=0.98, window=3),
    "kappa(0.995,w5)": lambda: StabilizingPredictions(threshold=0.995, window=5),
    "uncertainty(0.1)": lambda: ConfidenceStop(threshold=0.1),
    "uncertainty(0.2)": lambda: ConfidenceStop(threshold=0.2),
    "agreement(plateau,w5)": lambda: TeacherAgreement(window=5),
    "agreement(plateau,w10)": lambda: TeacherAgreement(window=10),
    "projected(0.4,w3)": lambda: ProjectedChange(window=3),
}



def _windowed(values, window):
    last = np.asarray(values[-window:], dtype=float)
    return np.nan if np.isnan(last).all() else float(np.nanmean(last))


def _kappa_rule(threshold, window):
    return lambda s: (len(s["kappa"]) >= window
                      and _windowed(s["kappa"], window) >= threshold)


def _uncertainty_rule(threshold):
    return lambda s: s["uncertainty"][-1] <= threshold


def _plateau_rule(window, min_delta):
    return lambda s: (len(s["agreement"]) >= 2 * window
                      and _windowed(s["agreement"], window)
                      <= _windowed(s["agreement"][:-window], window) + min_delta)


def _projected_rule(threshold, window):
    return lambda s: (len(s["projected"]) >= window
                      and _windowed(s["projected"], window) <= threshold)


def _both(first, second):
    return lambda s: first(s) and second(s)


# The statistics the probes of OURS record, by the name the rules read them
# under (all StabilizingPredictions probes share one stop set, drawn from the
# fit's random_state, so one kappa curve serves every kappa setting).
STATISTICS = {"kappa": "kappa(0.98,w3)", "uncertainty": "uncertainty(0.1)",
              "agreement": "agreement(plateau,w5)"}
KAPPAS = (0.95, 0.97, 0.98, 0.985, 0.99, 0.995)
# More settings of our criteria, scored offline: each rule replayed round by
# round on the statistics the run recorded. Both kappa and the agreement
# plateau together: the agreement is a second, label-based opinion on
# whether the student still learns.
SWEEP = {
    **{f"kappa({t},w{w})": _kappa_rule(t, w) for t in KAPPAS for w in (3, 5, 10)},
    **{f"projected({t},w{w})": _projected_rule(t, w)
       for t in (0.2, 0.3, 0.4, 0.5, 0.6) for w in (3, 5, 10)},
    **{f"uncertainty({t})": _uncertainty_rule(t) for t in (0.1, 0.2, 0.3, 0.4)},
    **{f"agreement(plateau,w{w},{d})": _plateau_rule(w, d)
       for w in (5, 10, 15) for d in (0.005, 0.02)},
    **{f"kappa({t},w{w})&agreement(plateau,w{p},{d})":
       _both(_kappa_rule(t, w), _plateau_rule(p, d))
       for t in (0.97, 0.98, 0.99) for w in (3, 5) for p in (5, 10)
       for d in (0.005, 0.02)},
}
# The stop that knows the test accuracy: the first round within this many
# points of the full budget's accuracy. No label-free rule can do better
# while losing at most that much, so it says whether the target is reachable.
ORACLE_POINTS = 1.0
ORACLE = "oracle (knows the test accuracy)"
# The setting default() returns, as SWEEP names it.
DEFAULT_RULE = "projected(0.4,w10)"


def replay(run):
    """Per-round decisions of the :data:`SWEEP` settings on one run."""
    stats = {name: np.array([np.nan if v is None else v
                             for v in run["curve"][f"stat:{probe}"]], dtype=float)
             for name, probe in STATISTICS.items()}
    # ProjectedChange's statistic, from the kappa and the labelled-set sizes.
    n = np.asarray(run["curve"]["n_labeled"])
    stats["projected"] = np.array([projected_change(k, after, after - before)
                                   for k, after, before in zip(stats["kappa"], n[1:],
                                                               n[:-1])])
    known = [{name: values[:i] for name, values in stats.items()}
             for i in range(1, len(stats["kappa"]) + 1)]
    return {name: [bool(rule(seen)) for seen in known] for name, rule in SWEEP.items()}


def oracle(run):
    """Per-round decisions of the oracle stop (:data:`ORACLE_POINTS`)."""
    accuracy = np.asarray(run["curve"]["accuracy"], dtype=float)
    return [bool(a >= accuracy[-1] - ORACLE_POINTS / 100) for a in accuracy[1:]]


def _small_text():
    from small_text.stopping_criteria import (
        ClassificationChange,
        KappaAverage,
        OverallUncertainty,
    )

    class FastOverallUncertainty(OverallUncertainty):
        """small-text's rule (mean entropy / log k below ``threshold``) with
        the entropy computed for all rows at once: small-text 1.4 calls
        scipy's entropy row by row, over a second a round for 1,000 rows."""

        def stop(self, active_learner=None, predictions=None, proba=None,
                 indices_stopping=None):
            rows = proba[indices_stopping]
            with np.errstate(divide="ignore", invalid="ignore"):
                entropy = -np.where(rows > 0, rows * np.log(rows), 0.0).sum(axis=1)
            return bool(np.mean(entropy / np.log(self.num_classes)) < self.threshold)

    # DeltaFScore is for binary problems only; none of the datasets is.
    return {
        "st:KappaAverage": lambda k: KappaAverage(k),
        "st:ClassificationChange": lambda k: ClassificationChange(k),
        "st:OverallUncertainty": lambda k: FastOverallUncertainty(k),
    }


class _Probe(Callback):
    """Runs a criterion as an observer: records each round whether it would
    stop, and never stops the fit itself."""

    def __init__(self, criterion=None):
        self.criterion = criterion

    def on_fit_begin(self, clf):
        self.criterion_ = clone(self.criterion).set_params(min_rounds=0)
        self.criterion_.on_fit_begin(clf)
        self.decisions_, self.statistic_ = [], []

    def on_acquisition(self, clf, state, acquisition):
        self.criterion_.on_acquisition(clf, state, acquisition)

    def on_round_end(self, clf, record):
        mine = dict(record)  # a copy: the probe's statistic stays out of history_
        self.decisions_.append(bool(self.criterion_.on_round_end(clf, mine)))
        # The raw statistic, so that other thresholds can be scored offline.
        self.statistic_.append(mine.get(self.criterion_.key))
        return False

    def on_fit_end(self, clf):
        self.criterion_.on_fit_end(clf)


class _SmallTextProbe(Callback):
    """A small-text criterion fed the student's predictions on a stop set of
    1,000 pool items (the same size as ours), each round."""

    def __init__(self, make=None, random_state=0):
        self.make = make
        self.random_state = random_state

    def on_fit_begin(self, clf):
        self.criterion_, self.stop_X_, self.decisions_ = None, None, []

    def on_acquisition(self, clf, state, acquisition):
        if self.criterion_ is None:
            rng = np.random.default_rng(self.random_state)
            n_pool = len(state.X_pool)
            rows = rng.choice(n_pool, min(1000, n_pool), replace=False)
            self.stop_X_, self.classes_ = state.X_pool[rows], np.asarray(state.classes)
            self.criterion_ = self.make(len(self.classes_))

    def on_round_end(self, clf, record):
        student = clf.estimator_
        proba = np.zeros((len(self.stop_X_), len(self.classes_)))
        proba[:, np.searchsorted(self.classes_, student.classes_)] = (
            student.predict_proba(self.stop_X_))
        predictions = proba.argmax(axis=1)
        self.decisions_.append(bool(self.criterion_.stop(
            predictions=predictions, proba=proba,
            indices_stopping=np.arange(len(predictions)))))
        return False

    def on_fit_end(self, clf):
        self.stop_X_ = None


def run_one(data, student, sampler, seed, budget, batch_size):
    """One run to the full budget with every criterion observing it."""
    features, factory = STUDENTS[student]
    X, y = data[features], data["y"]
    seed_idx = one_per_class(y, seed)
    pool_idx = np.setdiff1d(np.arange(len(y)), seed_idx)
    probes = {name: _Probe(make()) for name, make in OURS.items()}
    probes.update({name: _SmallTextProbe(make, seed)
                   for name, make in _small_text().items()})
    clf = ActiveDistillationClassifier(
        factory(seed), teacher=OracleTeacher(X, y),
        sampler=make_sampler(sampler, batch_size), max_iter=None,
        max_labels=budget, classes=np.unique(y), random_state=seed,
        callbacks=[Scoring(data[features + "_test"], data["y_test"]),
                   TeacherAgreement(min_rounds=10**9), *probes.values()],
    ).fit(X[seed_idx], y[seed_idx], X_pool=X[pool_idx])
    curve = {"n_labeled": clf.history_[:, "n_labeled"],
             "accuracy": clf.history_[:, "accuracy"],
             "teacher_agreement": clf.history_[:, "teacher_agreement"]}
    fitted = dict(zip(probes, clf.callbacks_[2:]))
    curve.update({f"stat:{name}": probe.statistic_ for name, probe in fitted.items()
                  if name in OURS})
    decisions = {name: probe.decisions_ for name, probe in fitted.items()}
    return curve, decisions, forecasts(clf, len(seed_idx), budget)


# Where the forecast reads its accuracy. "validation" is the Scoring curve of
# the run: here the test split (the benchmark has no separate validation
# split, so its noise is shared with the truth; simulated_validation() says
# what an independent one would do). It and "agreement" are scored offline
# from the logged curves, by the forecaster of this checkout whenever the
# report is made; "cv" needs the fitted students: its numbers are the ones
# logged when the runs were made (the forecaster of that time).
OFFLINE_SOURCES = ("validation", "agreement")
FORECAST_SOURCES = (*OFFLINE_SOURCES, "cv")
# simulated_validation(): a validation split of this many texts, redrawn
# this many times.
SIMULATED_SIZE = 500
SIMULATED_DRAWS = 10


def forecasts(clf, n_seed, budget):
    """The ``cv`` forecast of labels to 95% (see :func:`forecast_labels`)
    made from the fitted run after a third of the budget, or the reason it
    failed."""
    forecast = LearningCurveForecast(source="cv", n_bootstrap=0, random_state=0,
                                     progress=False)
    try:
        forecast.fit(clf, until=n_seed + budget // 3)
    except ValueError as exc:  # too few points to fit
        return {"cv_labels_to_95": None, "cv_error": str(exc)}
    return {"cv_labels_to_95": forecast_labels(forecast, n_seed, budget)}


def forecast_labels(forecast, n_seed, budget):
    """Teacher labels the fitted ``forecast`` needs to 95% of its own value
    at the full budget (it does not know the run's full-budget accuracy), or
    ``None`` when it says the target is not reachable."""
    target = 0.95 * forecast.accuracy_at(n_seed + budget)
    try:
        # A target the curve reaches before the seed: no label needed.
        return max(0, forecast.labels_to(target) - n_seed)
    except TargetNotReachable:
        return None


def observed_labels(run):
    """Teacher labels of the first round whose test accuracy reaches 95% of
    the run's full-budget test accuracy (the truth)."""
    n = np.asarray(run["curve"]["n_labeled"])
    accuracy = np.asarray(run["curve"]["accuracy"], dtype=float)
    return int(n[np.argmax(accuracy >= 0.95 * accuracy[-1])] - n[0])


def relative_error(labels, observed):
    """``(labels - observed) / observed``; ``None`` for no forecast (or no
    truth to divide by)."""
    return None if labels is None or not observed else (labels - observed) / observed


def forecast_points(run, source, draw=None):
    """``(n, accuracy)`` of ``source`` that the run knew after a third of its
    budget, and ``(n, score)`` held out, which the forecast must not
    contradict. ``draw`` (an int): each score redrawn as a validation split
    of :data:`SIMULATED_SIZE` texts would measure it."""
    n = np.asarray(run["curve"]["n_labeled"], dtype=float)
    pilot = n <= n[0] + run["budget"] // 3
    scores = np.asarray(run["curve"]["accuracy"], dtype=float)
    if draw is not None:
        rng = np.random.default_rng([draw, run["seed"], len(run["dataset"])])
        scores = rng.binomial(SIMULATED_SIZE, scores) / SIMULATED_SIZE
    if source != "agreement":
        return (n[pilot], scores[pilot]), (n[pilot], scores[pilot])
    # Round r's agreement is the accuracy of round r - 1's student. Scored as
    # a run without a validation split has it: no held-out score to respect.
    agreement = np.array([np.nan if a is None else a
                          for a in run["curve"]["teacher_agreement"]], dtype=float)
    rounds = np.flatnonzero(pilot)
    return (n[rounds[:-1]], agreement[rounds[1:]]), ([], [])


def offline_forecast(run, source, draw=None):
    """Labels to 95% forecast from the logged curve of ``source``."""
    points, measured = forecast_points(run, source, draw)
    forecast = LearningCurveForecast(n_bootstrap=0, random_state=0)
    try:
        forecast.fit_points(*points, measured=measured)
    except ValueError:  # too few points to fit
        return None
    return forecast_labels(forecast, run["curve"]["n_labeled"][0], run["budget"])


def simulated_validation(runs):
    """Per dataset, the ``validation`` forecast's median absolute error (as
    :func:`forecast_verdicts`) when the scores come from an independent
    validation split of :data:`SIMULATED_SIZE` texts: each test score
    redrawn binomially, :data:`SIMULATED_DRAWS` times. Pessimistic: the
    draw adds its noise to the test split's own."""
    errors = {}
    for draw in range(SIMULATED_DRAWS):
        per_run = {}
        for run in runs:
            error = relative_error(offline_forecast(run, "validation", draw),
                                   observed_labels(run))
            per_run.setdefault(run["dataset"], []).append(
                np.inf if error is None else abs(error))
        for dataset, values in per_run.items():
            errors.setdefault(dataset, []).append(float(np.median(values)))
    return {dataset: {"median_abs_error": float(np.median(values)),
                      "lowest": min(values), "highest": max(values),
                      "draws_met": sum(v <= 0.25 for v in values),
                      "draws": len(values)}
            for dataset, values in errors.items()}


def stop_round(decisions, min_rounds):
    """First round (1-based) at or after ``min_rounds`` where a criterion said
    stop, or None."""
    for round_, stop in enumerate(decisions, 1):
        if stop and round_ >= min_rounds:
            return round_
    return None


def summarize(run):
    """Per criterion and minimum: labels and accuracy at stop vs full budget."""
    n, accuracy = run["curve"]["n_labeled"], run["curve"]["accuracy"]
    n_seed, full, budget = n[0], accuracy[-1], run["budget"]
    rows = []
    # Ours as replayed (the replay decides as the probes did in the run).
    small_text = {k: v for k, v in run["decisions"].items() if k.startswith("st:")}
    every = {**replay(run), **small_text, ORACLE: oracle(run)}
    for name, decisions in every.items():
        # small-text's criteria have no minimum: scored as published and
        # with ours (10 rounds).
        variants = ([(0, name), (MIN_ROUNDS, f"{name} (min 10)")]
                    if name.startswith("st:") else [(MIN_ROUNDS, name)])
        for minimum, label in variants:
            r = stop_round(decisions, minimum)
            at = len(n) - 1 if r is None else r
            rows.append({
                "criterion": label, "stopped": r is not None, "stop_round": r,
                "labels_at_stop": n[at] - n_seed, "accuracy_at_stop": accuracy[at],
                "accuracy_full": full, "loss_points": 100 * (full - accuracy[at]),
                "budget_used": (n[at] - n_seed) / budget,
                **{k: run[k] for k in ("dataset", "student", "sampler", "seed")},
            })
    return rows


def run_grid(args):
    """Run every missing combination; append each run to the JSONL file."""
    path = Path(f"{args.out}_runs.jsonl")
    done = {_key(run) for run in read_runs(path)}
    for name in args.data:
        features = {STUDENTS[s][0] for s in args.students}
        data = load(_folder(name), args.max_train, args.max_test, features)
        budget = args.budget or BUDGETS.get(data["name"], DEFAULT_BUDGET)
        for student in args.students:
            for sampler in args.samplers:
                for seed in range(args.seeds):
                    spec = {"dataset": data["name"], "student": student,
                            "sampler": sampler, "seed": seed, "budget": budget,
                            "batch_size": args.batch_size}
                    if _key(spec) in done:
                        continue
                    start = time.perf_counter()
                    curve, decisions, forecast = run_one(
                        data, student, sampler, seed, budget, args.batch_size)
                    spec.update(curve=curve, decisions=decisions, forecast=forecast,
                                wall_seconds=time.perf_counter() - start,
                                machine=machine_info())
                    append_run(path, spec)
                    print(f"{data['name']} {student} {sampler} seed={seed}: "
                          f"full acc {curve['accuracy'][-1]:.3f}, "
                          f"{spec['wall_seconds']:.0f} s", flush=True)


def _key(spec):
    return tuple(spec[k] for k in ("dataset", "student", "sampler", "seed", "budget",
                                   "batch_size"))


def _folder(name):
    path = Path(name)
    return path if path.is_dir() else DEFAULT_DATA / name


def aggregate(runs):
    """Mean over seeds per (dataset, student, sampler, criterion)."""
    rows = [row for run in runs for row in summarize(run)]
    groups = {}
    for row in rows:
        key = (row["dataset"], row["student"], row["sampler"], row["criterion"])
        groups.setdefault(key, []).append(row)
    table = []
    for (dataset, student, sampler, criterion), members in groups.items():
        table.append({
            "dataset": dataset, "student": student, "sampler": sampler,
            "criterion": criterion, "runs": len(members),
            "stopped": sum(m["stopped"] for m in members),
            **{k: float(np.mean([m[k] for m in members])) for k in (
                "labels_at_stop", "budget_used", "accuracy_at_stop",
                "accuracy_full", "loss_points")},
            "max_loss_points": float(max(m["loss_points"] for m in members)),
            "min_stop_round": min((m["stop_round"] for m in members
                                   if m["stop_round"] is not None), default=None),
        })
    return table


def verdicts(table, criterion=None):
    """Per dataset: does ``criterion`` stop within 1 point of the full-budget
    accuracy on <= 60% of the budget (mean over its runs)? ``None``: the
    default."""
    criterion = criterion or DEFAULT_RULE
    out = {}
    for dataset in dict.fromkeys(row["dataset"] for row in table):
        mine = [r for r in table
                if r["dataset"] == dataset and r["criterion"] == criterion]
        runs = sum(r["runs"] for r in mine)
        loss = sum(r["loss_points"] * r["runs"] for r in mine) / runs
        used = sum(r["budget_used"] * r["runs"] for r in mine) / runs
        out[dataset] = {"loss_points": loss, "budget_used": used,
                        "met": bool(loss <= 1.0 and used <= 0.6)}
    return out


def forecast_rows(runs):
    """One row per run: observed and forecast labels to 95%, per source of
    :data:`FORECAST_SOURCES` (the offline ones forecast now, ``cv`` as
    logged), with the relative error."""
    rows = []
    for run in runs:
        row = {k: run[k] for k in ("dataset", "student", "sampler", "seed")}
        row["observed_labels_to_95"] = observed = observed_labels(run)
        for source in FORECAST_SOURCES:
            labels = (offline_forecast(run, source) if source in OFFLINE_SOURCES
                      else run["forecast"].get("cv_labels_to_95"))
            row[f"{source}_labels_to_95"] = labels
            row[f"{source}_rel_error"] = relative_error(labels, observed)
        rows.append(row)
    return rows


def forecast_verdicts(rows):
    """Per dataset and source (each ``<source>_rel_error`` of the rows): share
    of runs within +-25% of the truth, and the median absolute error (an
    unreachable or failed forecast counts as infinitely wrong); the target
    is met when that median is <= 25%."""
    sources = [key.removesuffix("_rel_error") for key in rows[0]
               if key.endswith("_rel_error")]
    out = {}
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        for source in sources:
            errors = [np.inf if r[f"{source}_rel_error"] is None
                      else abs(r[f"{source}_rel_error"]) for r in mine]
            labels = [np.inf if r[f"{source}_labels_to_95"] is None else abs(
                r[f"{source}_labels_to_95"] - r["observed_labels_to_95"]) for r in mine]
            median, median_labels = float(np.median(errors)), float(np.median(labels))
            out[f"{dataset}|{source}"] = {
                "within_25": float(np.mean([e <= 0.25 for e in errors])),
                "median_abs_error": None if np.isinf(median) else median,
                # In labels too: a truth of 100 labels is 4 rounds of 25, and
                # 25% of it is one batch.
                "median_abs_error_labels": (None if np.isinf(median_labels)
                                            else median_labels),
                "unreachable_or_failed": int(np.sum(np.isinf(errors))),
                "met": bool(median <= 0.25)}
    return out


def report(runs, out, docs, argv):
    """Write the CSV/JSON summaries, the plots and the docs' generated section."""
    table = aggregate(runs)
    frows = forecast_rows(runs)
    ranked = candidates(table)
    summary = {"command": command_line("stopping", argv), "machine": machine_info(),
               "runs": len(runs), "default": DEFAULT_RULE,
               "verdicts": verdicts(table), "feasibility": verdicts(table, ORACLE),
               "candidates": ranked, "choices": choices(table, ranked),
               "versus_small_text": versus_small_text(ranked),
               "forecast_verdicts": forecast_verdicts(frows),
               "forecast_simulated_validation": simulated_validation(runs)}
    write_csv(f"{out}_summary.csv", table)
    write_csv(f"{out}_candidates.csv", ranked)
    write_csv(f"{out}_forecast.csv", frows)
    write_json(f"{out}.json", {**summary, "table": table})
    plot(runs, f"{out}.png")
    plot_tradeoff(ranked, f"{out}_tradeoff.png")
    write_generated(docs, _report_lines(table, summary, out), SOURCE)
    return summary


def _kind(criterion):
    if criterion == ORACLE:
        return "oracle"
    return "small-text" if criterion.startswith("st:") else "ours"


def candidates(table):
    """One row per criterion over every run: how often it fired, budget used,
    loss, on how many datasets it meets the target, and whether it is on the
    label-free Pareto front (no other label-free criterion uses at most as
    much budget and loses at most as much, one of them strictly); cheapest
    first."""
    rows = []
    datasets = list(dict.fromkeys(r["dataset"] for r in table))
    for criterion in dict.fromkeys(r["criterion"] for r in table):
        mine = [r for r in table if r["criterion"] == criterion]
        runs = sum(r["runs"] for r in mine)
        met = verdicts(table, criterion)
        rows.append({
            "criterion": criterion, "kind": _kind(criterion), "runs": runs,
            "stopped": sum(r["stopped"] for r in mine),
            "budget_used": sum(r["budget_used"] * r["runs"] for r in mine) / runs,
            "loss_points": sum(r["loss_points"] * r["runs"] for r in mine) / runs,
            "worst_loss_points": max(r["max_loss_points"] for r in mine),
            "worst_dataset_loss_points": max(v["loss_points"] for v in met.values()),
            "datasets_met": sum(v["met"] for v in met.values()),
            "n_datasets": len(datasets),
            "min_stop_round": min((r["min_stop_round"] for r in mine
                                   if r["min_stop_round"] is not None), default=None),
        })
    label_free = [r for r in rows if r["kind"] != "oracle"]
    for row in rows:
        row["pareto"] = row["kind"] != "oracle" and not any(
            _dominates(other, row) for other in label_free)
    return sorted(rows, key=lambda r: (r["budget_used"], r["loss_points"]))


def _dominates(a, b):
    keys = ("budget_used", "loss_points")
    return (all(a[k] <= b[k] for k in keys)
            and any(a[k] < b[k] for k in keys))


# How choose() reads "loses at most 1 point": on every dataset (the unit
# of the target), or pooled over all runs.
LOSS_READINGS = {"every dataset": "worst_dataset_loss_points",
                 "pooled over runs": "loss_points"}


def choose(ranked, loss="worst_dataset_loss_points", max_loss=1.0):
    """The rule of ours that uses the least budget while losing at most
    ``max_loss`` points (``loss``: a column of :func:`candidates`; ties: the
    lower loss); when none does, the one that loses least."""
    ours = [r for r in ranked if r["kind"] == "ours"]
    within = [r for r in ours if r[loss] <= max_loss]
    if within:
        return min(within, key=lambda r: (r["budget_used"], r[loss]))
    return min(ours, key=lambda r: (r[loss], r["budget_used"]))


def choices(table, ranked):
    """Per reading of :data:`LOSS_READINGS`: the rule :func:`choose` picks
    on all datasets, and per dataset the rule it picks on the others with
    how that rule does on the one left out (is the choice fitted to the
    data?)."""
    out = {}
    datasets = list(dict.fromkeys(r["dataset"] for r in table))
    for reading, loss in LOSS_READINGS.items():
        left_out = {}
        for dataset in datasets if len(datasets) > 1 else []:
            rest = candidates([r for r in table if r["dataset"] != dataset])
            pick = choose(rest, loss)["criterion"]
            left_out[dataset] = {"criterion": pick, **verdicts(table, pick)[dataset]}
        out[reading] = {"choice": choose(ranked, loss), "left_out": left_out}
    return out


def versus_small_text(ranked):
    """Per small-text criterion: the rule of ours that uses the least budget
    while losing no more, and the budget (share of it) it saves more."""
    ours = [r for r in ranked if r["kind"] == "ours"]
    out = {}
    for theirs in (r for r in ranked if r["kind"] == "small-text"):
        peers = [r for r in ours if r["loss_points"] <= theirs["loss_points"]]
        best = min(peers, key=lambda r: r["budget_used"], default=None)
        out[theirs["criterion"]] = {
            "budget_used": theirs["budget_used"], "loss_points": theirs["loss_points"],
            "ours": best and best["criterion"],
            "ours_budget_used": best and best["budget_used"],
            "ours_loss_points": best and best["loss_points"],
            "budget_saved": best and theirs["budget_used"] - best["budget_used"]}
    return out


def _report_lines(table, summary, out):
    machine = summary["machine"]
    lines = [f"Command: `{summary['command']}`; {summary['runs']} runs; "
             f"{machine['cpu_count']} cores, load {machine['loadavg'][0]:.1f}, "
             f"{machine['timestamp_utc']}.", ""]
    lines += _feasibility_lines(summary)
    lines += _tradeoff_lines(summary, out)
    lines += _choice_lines(summary)
    lines += _per_run_lines(table, summary)
    lines += _forecast_lines(summary)
    lines += ["", f"![learning curves and stops]({_relative(out, '.png')})"]
    return lines


def _feasibility_lines(summary):
    feasible = summary["feasibility"]
    reachable = sum(v["met"] for v in feasible.values())
    lines = ["### Is the target reachable?", "",
             f"The oracle stops at the first round (from round {MIN_ROUNDS}) whose "
             f"test accuracy is within {ORACLE_POINTS:g} point of the same run's "
             "full-budget accuracy: it knows the test labels, so no label-free "
             "criterion saves more at that loss. Budget it uses, mean over runs, "
             f"beside the default (`{summary['default']}`):", ""]
    lines += markdown_table(
        ["dataset", "oracle budget used", "oracle loss (pts)", "target reachable",
         "default budget used", "default loss (pts)"],
        [[d, fmt(v["budget_used"], "{:.0%}"), fmt(v["loss_points"], "{:.2f}"),
          "yes" if v["met"] else "no",
          fmt(summary["verdicts"][d]["budget_used"], "{:.0%}"),
          fmt(summary["verdicts"][d]["loss_points"], "{:.2f}")]
         for d, v in feasible.items()], "lrrrrr")
    return lines + ["", f"Even the oracle meets the target on {reachable} of "
                    f"{len(feasible)} datasets.", ""]


def _tradeoff_lines(summary, out):
    lines = ["### Budget against loss", "",
             "Every criterion over all runs: ours replayed offline on the "
             "statistics the runs recorded (kappa on the stop set, mean scaled "
             "uncertainty, teacher agreement; `&`: both must hold), small-text's "
             "as published and with our 10-round minimum. Budget used and loss "
             "(accuracy points against the same run at its full budget) are means "
             "over runs; a dataset meets the target when its mean loss is <= 1 "
             "point on <= 60% of the budget. Shown: the Pareto front of the "
             "label-free criteria, the default, small-text's and the oracle "
             f"(every setting in `{Path(out).name}_candidates.csv`).", ""]
    shown = [c for c in summary["candidates"] if c["pareto"] or c["kind"] != "ours"
             or c["criterion"] == summary["default"]]
    lines += markdown_table(
        ["criterion", "front", "fired", "budget used", "loss (pts)", "worst run loss",
         "datasets met", "earliest stop (round)"],
        [[c["criterion"], "yes" if c["pareto"] else "", f"{c['stopped']}/{c['runs']}",
          fmt(c["budget_used"], "{:.0%}"), fmt(c["loss_points"], "{:.2f}"),
          fmt(c["worst_loss_points"], "{:.2f}"),
          f"{c['datasets_met']}/{c['n_datasets']}", fmt(c["min_stop_round"], "{}")]
         for c in shown], "llrrrrrr")
    lines += ["", "Small-text's criteria against the cheapest of ours that loses no "
              "more (budget saved: share of the budget ours does not spend):", ""]
    lines += markdown_table(
        ["small-text", "budget used", "loss (pts)", "ours", "budget used",
         "loss (pts)", "budget saved"],
        [[name, fmt(v["budget_used"], "{:.0%}"), fmt(v["loss_points"], "{:.2f}"),
          fmt(v["ours"], "{}"), fmt(v["ours_budget_used"], "{:.0%}"),
          fmt(v["ours_loss_points"], "{:.2f}"), fmt(v["budget_saved"], "{:+.1%}")]
         for name, v in summary["versus_small_text"].items()], "lrrlrrr")
    return lines + ["", f"![budget against loss]({_relative(out, '_tradeoff.png')})",
                    ""]


def _choice_lines(summary):
    lines = ["### Choosing the default", "",
             "The rule of ours with the least budget among those losing <= 1 "
             "point, the loss read on every dataset (mean over its runs) or pooled "
             "over all runs; and the same choice made without one dataset, scored "
             "on the dataset left out:", ""]
    rows = []
    for reading, found in summary["choices"].items():
        choice = found["choice"]
        rows.append([reading, "all", choice["criterion"], "all",
                     fmt(choice["budget_used"], "{:.0%}"),
                     f"{choice['loss_points']:.2f} (worst dataset "
                     f"{choice['worst_dataset_loss_points']:.2f})"])
        rows += [[reading, f"all but {d}", v["criterion"], d,
                  fmt(v["budget_used"], "{:.0%}"), fmt(v["loss_points"], "{:.2f}")]
                 for d, v in found["left_out"].items()]
    lines += markdown_table(["loss read on", "chosen on", "rule", "scored on",
                             "budget used", "loss (pts)"], rows, "llllrr")
    return lines + [""]


def _per_run_lines(table, summary):
    lines = ["### Per dataset, student and sampler", "",
             f"The default (`{summary['default']}`), small-text's criteria and the "
             "oracle (mean over seeds; every setting in `stopping_summary.csv`):", ""]
    shown = [r for r in table if r["criterion"] in (summary["default"], ORACLE)
             or (r["criterion"].startswith("st:") and "(min" not in r["criterion"])]
    lines += markdown_table(
        ["dataset", "student", "sampler", "criterion", "stopped", "labels at stop",
         "budget used", "acc. at stop", "acc. full", "loss (pts)", "worst loss"],
        [[r["dataset"], r["student"], r["sampler"], r["criterion"],
          f"{r['stopped']}/{r['runs']}", fmt(r["labels_at_stop"], "{:.0f}"),
          fmt(r["budget_used"], "{:.0%}"), fmt(r["accuracy_at_stop"]),
          fmt(r["accuracy_full"]), fmt(r["loss_points"], "{:.2f}"),
          fmt(r["max_loss_points"], "{:.2f}")] for r in shown], "llllrrrrrrr")
    lines += ["", "Default criterion per dataset (target: loss <= 1 point on <= 60% "
              "of the budget):", ""]
    lines += markdown_table(
        ["dataset", "loss (pts)", "budget used", "met"],
        [[d, fmt(v["loss_points"], "{:.2f}"), fmt(v["budget_used"], "{:.0%}"),
          "yes" if v["met"] else "no"] for d, v in summary["verdicts"].items()])
    return lines + [""]


def _forecast_lines(summary):
    lines = ["### Forecast", "",
             "Labels to 95% of the full-budget accuracy, forecast after a third of "
             "the budget (target: median error within ±25% on at least 3 of the 4 "
             "datasets). `validation`: the run's Scoring curve (the test split, "
             "whose noise the truth shares) and `agreement` are forecast from the "
             "logged curves by the forecaster of this checkout; `cv` is as logged "
             "when the runs were made:", ""]
    lines += markdown_table(
        ["dataset", "source", "runs within ±25%", "median abs. error",
         "median abs. error (labels)", "unreachable / failed", "met"],
        [[*k.split("|"), fmt(v["within_25"], "{:.0%}"),
          fmt(v["median_abs_error"], "{:.0%}"),
          fmt(v["median_abs_error_labels"], "{:.0f}"),
          v["unreachable_or_failed"], "yes" if v["met"] else "no"]
         for k, v in summary["forecast_verdicts"].items()])
    lines += ["", f"The `validation` forecast with an independent validation split "
              f"of {SIMULATED_SIZE} texts, simulated (each test score redrawn "
              f"binomially, {SIMULATED_DRAWS} draws; pessimistic, as the draw adds "
              "its noise to the test split's): median absolute error over the "
              "draws, and the draws that meet ±25%:", ""]
    return lines + markdown_table(
        ["dataset", "median abs. error", "lowest", "highest", "draws met"],
        [[d, fmt(v["median_abs_error"], "{:.0%}"), fmt(v["lowest"], "{:.0%}"),
          fmt(v["highest"], "{:.0%}"), f"{v['draws_met']}/{v['draws']}"]
         for d, v in summary["forecast_simulated_validation"].items()], "lrrrr")


def _relative(out, suffix):
    return f"../../benchmarks/results/{Path(out).name}{suffix}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(runs, path):
    """Test accuracy per run, with where the default and small-text's
    KappaAverage would stop."""
    plt = _pyplot()
    datasets = list(dict.fromkeys(run["dataset"] for run in runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.5),
                             squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for run in (r for r in runs if r["dataset"] == dataset):
            n, acc = run["curve"]["n_labeled"], run["curve"]["accuracy"]
            line, = ax.plot(n, acc, lw=0.8, alpha=0.6)
            stops = ((replay(run)[DEFAULT_RULE], MIN_ROUNDS, "o"),
                     (run["decisions"]["st:KappaAverage"], 0, "x"))
            for decisions, first, marker in stops:
                r = stop_round(decisions, first)
                if r is not None:
                    ax.plot(n[r], acc[r], marker, color=line.get_color())
        ax.set(title=dataset, xlabel="labelled items", ylabel="test accuracy")
    fig.suptitle("o: default stops, x: small-text KappaAverage stops")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _family(row):
    if row["kind"] != "ours":
        return row["kind"]
    return "kappa & agreement" if "&" in row["criterion"] else (
        row["criterion"].split("(")[0])


def plot_tradeoff(ranked, path):
    """Mean budget used against mean loss, one point per criterion (by
    family), with the label-free Pareto front, the default and the target's
    corner."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for i, family in enumerate(dict.fromkeys(_family(r) for r in ranked)):
        mine = [r for r in ranked if _family(r) == family]
        marker = {"small-text": "s", "oracle": "*"}.get(family, "o")
        color = "k" if family == "oracle" else f"C{i}"
        ax.scatter([100 * r["budget_used"] for r in mine],
                   [r["loss_points"] for r in mine], c=color, marker=marker,
                   s=24, alpha=0.75, label=family)
    front = [r for r in ranked if r["pareto"]]
    ax.plot([100 * r["budget_used"] for r in front],
            [r["loss_points"] for r in front], c="grey", lw=0.8, label="front")
    chosen = next(r for r in ranked if r["criterion"] == DEFAULT_RULE)
    ax.scatter([100 * chosen["budget_used"]], [chosen["loss_points"]], s=140,
               facecolors="none", edgecolors="k", label=f"default: {DEFAULT_RULE}")
    ax.axhline(1.0, c="grey", ls=":", lw=0.8)
    ax.axvline(60, c="grey", ls=":", lw=0.8)
    ax.set(xlabel="budget used (%, mean over runs)",
           ylabel="accuracy lost (points, mean over runs)", ylim=(-0.3, None))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parse(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stopping",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+",
                        default=["banking77", "trec", "ag_news", "hwu64"])
    parser.add_argument("--students", nargs="+", default=["tfidf_lr", "lr"],
                        choices=["tfidf_lr", "lr"],
                        help="tfidf_lr: TF-IDF + LR; lr: MiniLM embeddings + LR")
    parser.add_argument("--samplers", nargs="+", default=[DEFAULT_MRARU, "random"],
                        choices=[DEFAULT_MRARU, "random"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=None,
                        help="teacher labels per run (default 2,000; 1,000 for "
                             "trec and ag_news)")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--max-train", type=int, default=None)
    parser.add_argument("--max-test", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="trec, TF-IDF + LR, M-RARU, one seed, 400 labels "
                             "(< 2 minutes)")
    parser.add_argument("--out", default=None,
                        help="results prefix (default benchmarks/results/stopping"
                             "[_quick])")
    parser.add_argument("--docs", default=None,
                        help="page whose generated section gets the tables "
                             "(default docs/benchmarks/stopping.md; none for --quick)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.data, args.students = ["trec"], ["tfidf_lr"]
        args.samplers = [DEFAULT_MRARU]
        args.seeds, args.budget = 1, args.budget or 400
    stem = "stopping_quick" if args.quick else "stopping"
    args.out = args.out or str(RESULTS / stem)
    if args.docs is None and not args.quick:
        args.docs = str(DOCS / "stopping.md")
    return args


def main(argv=None):
    args = _parse(argv)
    quiet_expected_warnings()
    with threadpool_limits(1):  # a shared machine: one BLAS thread is faster
        if not args.report_only:
            run_grid(args)
    runs = read_runs(f"{args.out}_runs.jsonl")
    docs = args.docs or f"{args.out}.md"
    summary = report(runs, args.out, docs, argv)
    print(json.dumps({"verdicts": summary["verdicts"],
                      "forecast": summary["forecast_verdicts"],
                      "forecast_simulated_validation":
                      summary["forecast_simulated_validation"]}, indent=1))
    return summary


if __name__ == "__main__":
    main()
