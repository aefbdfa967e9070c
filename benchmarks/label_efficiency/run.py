"""Label efficiency of M-RARU versus random and exhaustive uncertainty sampling.

Reproduces the M-RARU paper's claim (arXiv:2511.11574) offline: an
``OracleTeacher`` answers from a dataset's true labels (optionally with label
noise), students learn from a seed of one example per class, and every
sampler buys batches of 25 labels. For each run the script records the
learning curve (accuracy and balanced accuracy on the test split versus
teacher labels), the labels needed to reach 90% and 95% of the accuracy the
same student gets from the whole training set, acceptance rates, selection
seconds and total seconds. The peers small-text and modAL run their
least-confidence and random strategies with the same student, rows, seeds,
batch size and teacher budget in the same process.

Usage::

    python benchmarks/label_efficiency.py --quick          # < 10 min, 2 cores
    python benchmarks/label_efficiency.py                  # full grid
    python benchmarks/label_efficiency.py --data path/to/folder --students lr

Any folder with ``train.csv`` and ``test.csv`` (header ``text,label``) works
as ``--data``. Finished runs are appended to ``<out>_runs.jsonl`` and skipped
when the command is repeated, so a long grid can be resumed; ``--summarize``
only rebuilds the tables and plots from that file.
"""

import argparse
import csv
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Scoring
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler, uncertainty_score
from skakd.teachers import OracleTeacher

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script
from _common import (  # noqa: E402
    DEFAULT_DATA,
    PAPER_RULE,
    RESULTS,
    embed,
    load_csv_folder,
    machine_info,
    one_per_class,
    write_json,
)
from _peers import PEERS, FitTimer, run_peer  # noqa: E402


class _ShuffledThirds:
    """3-fold shuffled KFold without the ``n_splits`` attribute.

    CalibratedClassifierCV refuses a splitter with ``n_splits`` when a class
    has fewer examples than folds, which a seed of one example per class
    always has; without the attribute it calibrates on the folds, mapping
    classes a fold's model never saw, as it does for any splitter.
    """

    def __init__(self, random_state):
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        return KFold(3, shuffle=True, random_state=self.random_state).split(X)

    def get_n_splits(self, X=None, y=None, groups=None):
        return 3


STUDENTS = {
    # name: (features, factory(random_state) -> unfitted student)
    "lr": ("minilm", lambda rs: LogisticRegression(C=10, max_iter=1000)),
    "svc": ("minilm", lambda rs: CalibratedClassifierCV(
        LinearSVC(C=1.0), cv=_ShuffledThirds(rs))),
    "lda": ("minilm", lambda rs: LinearDiscriminantAnalysis()),
    "rf": ("minilm", lambda rs: RandomForestClassifier(
        n_estimators=100, n_jobs=1, random_state=rs)),
    # Without l2_regularization the Newton steps of 77 one-vs-rest trees
    # diverge once a class has dozens of rows (banking77: raw scores in the
    # thousands, 0.25 test accuracy from the whole training split).
    "hgb": ("minilm", lambda rs: HistGradientBoostingClassifier(
        max_iter=30, l2_regularization=1.0, early_stopping=False,
        random_state=rs)),
    "tfidf_lr": ("text", lambda rs: make_pipeline(
        TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=20, max_iter=1000))),
}
# LDA needs more samples than classes: its seed gets one random extra example.
EXTRA_SEED = {"lda": 1}
SAMPLERS = {
    "random": lambda b: RandomSampler(batch_size=b),
    "mraru": lambda b: MRARU(batch_size=b, **PAPER_RULE),
    "lc": lambda b: UncertaintySampler(batch_size=b, strategy="least_confidence"),
    "margin": lambda b: UncertaintySampler(batch_size=b, strategy="margin"),
    "entropy": lambda b: UncertaintySampler(batch_size=b, strategy="entropy"),
}
TARGETS = (0.90, 0.95)
DEFAULT_MRARU = "mraru_margin_a0.1"  # MRARU() with its default parameters


class AutoTemperatureMRARU(MRARU):
    """Prototype (item 4): MRARU whose temperature targets an acceptance rate.

    Before each selection it scores ``n_probe`` random candidates and picks,
    by bisection on ``log T``, the temperature at which their mean normalised
    uncertainty (the expected acceptance rate) is ``target_acceptance``; the
    accept/reject visits then run at that fixed temperature, so their
    distribution is MRARU's. Flat students get sharpened (T < 1, more
    selective), overconfident ones softened (T > 1, fewer wasted visits).
    """

    def __init__(self, batch_size=25, *, target_acceptance=0.2, n_probe=500):
        super().__init__(batch_size=batch_size)
        self.target_acceptance = target_acceptance
        self.n_probe = n_probe

    def select(self, estimator, X_pool, candidates, n_samples, random_state):
        rng = np.random.default_rng(random_state)
        probe = rng.choice(candidates, min(self.n_probe, len(candidates)),
                           replace=False)
        proba = estimator.predict_proba(X_pool[probe])
        low, high = np.log(1e-2), np.log(1e3)
        for _ in range(30):
            mid = (low + high) / 2
            rate = uncertainty_score(proba, temperature=np.exp(mid)).mean()
            low, high = (mid, high) if rate < self.target_acceptance else (low, mid)
        self.temperature = float(np.exp((low + high) / 2))
        chosen = super().select(estimator, X_pool, candidates, n_samples, rng)
        self.last_stats_["temperature"] = self.temperature
        return chosen


MRARU_OPTIONS = {  # name part prefix -> MRARU parameter
    "t": ("temperature", float), "v": ("max_visits", int),
    "a": ("target_acceptance", float),
}
MRARU_STRATEGIES = {"lc": "least_confidence", "margin": "margin",
                    "entropy": "entropy"}


def make_sampler(name, batch_size):
    """A sampler of :data:`SAMPLERS`, ``mraru_auto<rate>``
    (:class:`AutoTemperatureMRARU`) or ``mraru_<part>_<part>...`` with parts
    ``t<T>`` (temperature), ``v<N>`` (max_visits), ``a<rate>``
    (target_acceptance) and ``lc``/``margin``/``entropy`` (strategy), e.g.
    ``mraru_margin_a0.1``."""
    if name.startswith("mraru_auto"):
        return AutoTemperatureMRARU(batch_size,
                                    target_acceptance=float(name[len("mraru_auto"):]))
    if name.startswith("mraru_"):
        params = {}
        for part in name.split("_")[1:]:
            if part in MRARU_STRATEGIES:
                params["strategy"] = MRARU_STRATEGIES[part]
            else:
                key, kind = MRARU_OPTIONS[part[0]]
                params[key] = kind(part[1:])
        return MRARU(batch_size=batch_size, **params)
    return SAMPLERS[name](batch_size)


def _sampler_name(name):
    if name in SAMPLERS or name in PEERS:
        return name
    try:
        make_sampler(name, 1)._validate_params()
    except (ValueError, KeyError) as exc:
        raise argparse.ArgumentTypeError(
            f"unknown sampler {name!r}; expected one of {[*SAMPLERS, *PEERS]} or "
            "mraru_<parts> such as mraru_t0.5 or mraru_margin_a0.1") from exc
    return name


def load(data_dir, max_train=None, max_test=None, features=("minilm",)):
    """A dataset as a dict of arrays: texts, embeddings, labels."""
    texts, y, texts_test, y_test = load_csv_folder(data_dir)
    rng = np.random.default_rng(0)
    keep = _subsample(y, max_train, rng)
    keep_test = _subsample(y_test, max_test, rng)
    data = {"name": Path(data_dir).name, "y": y[keep], "y_test": y_test[keep_test],
            "text": np.asarray(texts, dtype=object)[keep],
            "text_test": np.asarray(texts_test, dtype=object)[keep_test]}
    if "minilm" in features:  # whole splits: one embedding cache per dataset
        data["minilm"] = embed(texts)[keep]
        data["minilm_test"] = embed(texts_test)[keep_test]
    return data


def _subsample(y, limit, rng):
    if limit is None or limit >= len(y):
        return np.arange(len(y))
    # Keep every class present: one per class first, then uniform.
    first = one_per_class(y, rng.integers(2**31))
    rest = np.setdiff1d(np.arange(len(y)), first)
    extra = rng.choice(rest, max(0, limit - len(first)), replace=False)
    return np.sort(np.concatenate([first, extra]))


def full_accuracy(data, student):
    """Test accuracy of ``student`` trained on the whole training split."""
    features, factory = STUDENTS[student]
    model = factory(0).fit(data[features], data["y"])
    predicted = model.predict(data[features + "_test"])
    return float(accuracy_score(data["y_test"], predicted))


def run_one(data, student, sampler, seed, noise, rounds, batch_size):
    """One learning curve: a list of per-round records."""
    features, factory = STUDENTS[student]
    X, y = data[features], data["y"]
    X_test, y_test = data[features + "_test"], data["y_test"]
    seed_idx = one_per_class(y, seed)
    if student in EXTRA_SEED:
        rest = np.setdiff1d(np.arange(len(y)), seed_idx)
        extra = np.random.default_rng(seed).choice(rest, EXTRA_SEED[student],
                                                   replace=False)
        seed_idx = np.concatenate([seed_idx, extra])
    pool_idx = np.setdiff1d(np.arange(len(y)), seed_idx)
    teacher = OracleTeacher(X, y, noise_rate=noise, random_state=seed)
    classes = np.unique(y)
    if sampler in PEERS:
        return run_peer(sampler, factory(seed), X[seed_idx], y[seed_idx],
                        X[pool_idx], teacher, classes, X_test, y_test,
                        rounds=rounds, batch_size=batch_size, random_state=seed)
    clf = ActiveDistillationClassifier(
        FitTimer(factory(seed)), teacher=teacher,
        sampler=make_sampler(sampler, batch_size), max_iter=rounds, classes=classes,
        callbacks=[Scoring(X_test, y_test),
                   Scoring(X_test, y_test, scoring="balanced_accuracy")],
        random_state=seed,
    ).fit(X[seed_idx], y[seed_idx], X_pool=X[pool_idx])
    keys = ("n_labeled", "accuracy", "balanced_accuracy", "acceptance_rate",
            "n_visited", "select_seconds", "fit_seconds", "seconds")
    return [{k: record.get(k, 0.0) for k in keys} for record in clf.history_]


def labels_to_reach(curve, target):
    """Teacher labels (seed excluded) at the first round with accuracy >= target."""
    seed = curve[0]["n_labeled"]
    for record in curve:
        if record["accuracy"] >= target:
            return record["n_labeled"] - seed
    return None


def summarize_run(curve, full_acc):
    """Per-run scalars: labels to targets, acceptance, seconds."""
    rounds = curve[1:]
    out = {"final_accuracy": curve[-1]["accuracy"],
           "final_balanced_accuracy": curve[-1]["balanced_accuracy"],
           "teacher_labels": curve[-1]["n_labeled"] - curve[0]["n_labeled"],
           "select_seconds": sum(r["select_seconds"] for r in rounds),
           "fit_seconds": sum(r["fit_seconds"] for r in rounds),
           "total_seconds": sum(r["seconds"] for r in curve),
           "seconds_per_round": float(np.mean([r["seconds"] for r in rounds])),
           # What the loop itself costs: neither the student's fit nor the
           # sampler's selection (reported apart), the rest of each round.
           "overhead_per_round": float(np.mean(
               [r["seconds"] - r["fit_seconds"] - r["select_seconds"]
                for r in rounds]))}
    if "acceptance_rate" in rounds[0]:
        rates = [r["acceptance_rate"] for r in rounds]
        out.update(acceptance_mean=float(np.mean(rates)),
                   acceptance_min=float(np.min(rates)),
                   acceptance_max=float(np.max(rates)))
    for target in TARGETS:
        out[f"labels_to_{round(target * 100)}"] = labels_to_reach(
            curve, target * full_acc)
    return out


def run_grid(args):
    """Run every missing (dataset, student, sampler, seed, noise) combination."""
    runs_path = Path(f"{args.out}_runs.jsonl")
    done = {_key(run) for run in read_runs(runs_path)}
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    for data_dir in args.data:
        features = {STUDENTS[s][0] for s in args.students}
        data = load(data_dir, args.max_train, args.max_test, features)
        pending = [spec for spec in _grid(args, data) if _key(spec) not in done]
        full = {student: _cached_full_accuracy(args.out, data, student)
                for student in dict.fromkeys(s["student"] for s in pending)}
        for spec in _execute_all(pending, data, args.jobs, args.blas_threads):
            acc = full[spec["student"]]
            spec.update(full_accuracy=acc, **summarize_run(spec["curve"], acc))
            with runs_path.open("a") as handle:
                handle.write(json.dumps(spec) + "\n")
            print(f"  {spec['student']:>8} {spec['sampler']:>16} "
                  f"noise={spec['noise']} seed={spec['seed']}: "
                  f"acc {spec['final_accuracy']:.3f}, to90 "
                  f"{spec['labels_to_90']}, {spec['wall_seconds']:.1f} s",
                  flush=True)


def _grid(args, data):
    """The runs of the grid on one dataset, all samplers of a seed together."""
    for student in args.students:
        for noise in args.noise:
            for seed in range(args.seeds):
                for sampler in args.samplers:
                    if sampler in PEERS and STUDENTS[student][0] == "text":
                        continue  # the peers' datasets hold numeric rows
                    yield {"dataset": data["name"], "student": student,
                           "sampler": sampler, "seed": seed, "noise": noise,
                           "rounds": args.rounds, "batch_size": args.batch_size,
                           "n_train": len(data["y"]), "n_test": len(data["y_test"])}


def _execute(spec, data):
    start = time.perf_counter()
    curve = run_one(data, spec["student"], spec["sampler"], spec["seed"],
                    spec["noise"], spec["rounds"], spec["batch_size"])
    return {**spec, "curve": curve, "wall_seconds": time.perf_counter() - start,
            "machine": machine_info()}


def _execute_all(specs, data, jobs, blas_threads):
    """Yield each spec with its curve, in order or as worker processes finish."""
    if jobs == 1:
        for spec in specs:
            yield _execute(spec, data)
        return
    # Runs are independent and single-threaded (BLAS capped), so on a machine
    # with many cores a pool of processes runs the grid that many times faster.
    with ProcessPoolExecutor(jobs, initializer=_init_worker,
                             initargs=(data, blas_threads)) as pool:
        futures = [pool.submit(_execute_in_worker, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()


_WORKER_DATA = {}


def _init_worker(data, blas_threads):
    _WORKER_DATA.update(data)
    threadpool_limits(blas_threads or None)
    _quiet_expected_warnings()


def _execute_in_worker(spec):
    return _execute(spec, _WORKER_DATA)


# -- report ----------------------------------------------------------------

GROUP = ("dataset", "student", "noise", "sampler")


def read_runs(path):
    """The finished runs of a runs file, as dicts."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def aggregate(runs):
    """One summary row per (dataset, student, noise, sampler) over seeds."""
    groups = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in GROUP), []).append(run)
    rows = []
    for key, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        # Recomputed from the curves, so a changed metric applies to old runs.
        members = [{**m, **summarize_run(m["curve"], m["full_accuracy"])}
                   for m in members]
        curve = mean_curve(members)
        full_acc = members[0]["full_accuracy"]
        row = dict(zip(GROUP, key), seeds=len(members), full_accuracy=full_acc,
                   budget=members[0]["teacher_labels"],
                   final_accuracy=curve["accuracy"][-1],
                   final_accuracy_std=curve["accuracy_std"][-1],
                   final_balanced_accuracy=curve["balanced_accuracy"][-1])
        for target in TARGETS:
            name = f"labels_to_{round(target * 100)}"
            reached = np.flatnonzero(curve["accuracy"] >= target * full_acc)
            row[name] = int(curve["labels"][reached[0]]) if len(reached) else None
            per_seed = [m[name] for m in members]
            row[name + "_seeds"] = per_seed
        for field in ("select_seconds", "total_seconds", "seconds_per_round",
                      "overhead_per_round", "acceptance_mean", "acceptance_min",
                      "acceptance_max"):
            values = [m[field] for m in members if field in m]
            row[field] = float(np.mean(values)) if values else None
        row["select_seconds_per_round"] = row["select_seconds"] / max(
            1, members[0]["rounds"])
        rows.append(row)
    _add_reductions(rows)
    return rows


def _by_group(rows):
    """Summary rows keyed by (dataset, student, noise, sampler)."""
    return {tuple(r[k] for k in GROUP): r for r in rows}


def mean_curve(members):
    """Mean and standard deviation over seeds, round by round."""
    n = min(len(m["curve"]) for m in members)
    out = {"labels": np.array([r["n_labeled"] - members[0]["curve"][0]["n_labeled"]
                               for r in members[0]["curve"][:n]])}
    for metric in ("accuracy", "balanced_accuracy"):
        values = np.array([[r[metric] for r in m["curve"][:n]] for m in members])
        out[metric] = values.mean(axis=0)
        out[metric + "_std"] = values.std(axis=0)
    return out


def _add_reductions(rows):
    # Savings against random and the gap to exhaustive least confidence, from
    # the seed-averaged curves; an unreached target counts as "> budget", so
    # the reduction is then a lower bound (flagged by reduction_bound).
    index = _by_group(rows)
    for row in rows:
        key = (row["dataset"], row["student"], row["noise"])
        for target in ("labels_to_90", "labels_to_95"):
            random, lc = index.get(key + ("random",)), index.get(key + ("lc",))
            mine = row[target]
            row[f"{target}_reduction_vs_random"] = None
            row[f"{target}_reduction_bound"] = False
            if random is not None and mine is not None and random[target] != 0:
                base = random[target]
                if base is None:
                    base = random["budget"] + 1
                    row[f"{target}_reduction_bound"] = True
                row[f"{target}_reduction_vs_random"] = 1 - mine / base
            row[f"{target}_vs_lc"] = (
                mine / lc[target] if lc and mine is not None and lc[target] else None)


def write_report(args, seconds):
    """CSV, JSON, PNG learning curves and the markdown summary."""
    runs = read_runs(f"{args.out}_runs.jsonl")
    if not runs:
        print("no finished runs to report")
        return
    rows = aggregate(runs)
    _write_csv(f"{args.out}_summary.csv", rows)
    _write_csv(f"{args.out}_runs.csv", [
        {k: v for k, v in run.items() if k not in ("curve", "machine")}
        for run in runs])
    curves = []
    groups = {}
    for run in runs:
        groups.setdefault(tuple(run[k] for k in GROUP), []).append(run)
    for key, members in groups.items():
        curve = mean_curve(members)
        for i, labels in enumerate(curve["labels"]):
            curves.append({**dict(zip(GROUP, key)), "teacher_labels": int(labels),
                           **{m: float(curve[m][i]) for m in (
                               "accuracy", "accuracy_std", "balanced_accuracy",
                               "balanced_accuracy_std")}})
    _write_csv(f"{args.out}_curves.csv", curves)
    write_json(f"{args.out}.json", {
        "command": "python benchmarks/label_efficiency.py " + " ".join(sys.argv[1:]),
        "machine": machine_info(), "this_invocation_seconds": seconds,
        "run_seconds_total": sum(r["wall_seconds"] for r in runs),
        "summary": rows})
    plots = _plot(args.out, runs)
    if args.docs != "none":
        _write_markdown(args, rows, runs, plots)


def _write_csv(path, rows):
    fields = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(rows)


def _plot(out, runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    by_panel = {}
    for run in runs:
        panel = (run["dataset"], run["noise"])
        by_panel.setdefault(panel, {}).setdefault(run["student"], {}).setdefault(
            run["sampler"], []).append(run)
    for (dataset, noise), students in sorted(by_panel.items()):
        for metric in ("accuracy", "balanced_accuracy"):
            n_cols = min(3, len(students))
            n_rows = -(-len(students) // n_cols)
            fig, axes = plt.subplots(n_rows, n_cols, squeeze=False,
                                     figsize=(4.6 * n_cols, 3.6 * n_rows))
            for ax in axes.flat[len(students):]:
                ax.set_visible(False)
            for ax, (student, samplers) in zip(axes.flat, sorted(students.items())):
                for sampler, members in sorted(samplers.items()):
                    _plot_curve(ax, sampler, mean_curve(members), metric)
                if metric == "accuracy":
                    full = members[0]["full_accuracy"]
                    ax.axhline(0.9 * full, color="grey", ls="--", lw=0.8)
                ax.set(title=f"{student}", xlabel="teacher labels", ylabel=metric)
                ax.legend(fontsize=7)
            fig.suptitle(f"{dataset}, teacher noise {noise:g} (mean ± std over seeds; "
                         "dashed: 90% of full-data accuracy)", fontsize=9)
            fig.tight_layout()
            path = f"{out}_{dataset}_noise{noise:g}_{metric}.png"
            fig.savefig(path, dpi=90)
            plt.close(fig)
            paths.append(path)
    return paths


# Fixed colours for the samplers every panel has, so that a colour means the
# same sampler across panels; variants and peers take the remaining cycle.
SAMPLER_STYLE = {"random": ("black", "-", 1.3), DEFAULT_MRARU: ("tab:blue", "-", 2.0),
                 "mraru": ("tab:orange", "-", 1.3), "lc": ("tab:green", "-", 1.3),
                 "margin": ("tab:purple", "-", 1.3), "entropy": ("tab:brown", "-", 1.3)}


def _plot_curve(ax, sampler, curve, metric):
    color, style, width = SAMPLER_STYLE.get(
        sampler, (None, "--" if sampler in PEERS else ":", 1.1))
    line, = ax.plot(curve["labels"], curve[metric], style, color=color, lw=width,
                    label=sampler)
    ax.fill_between(curve["labels"], curve[metric] - curve[metric + "_std"],
                    curve[metric] + curve[metric + "_std"],
                    color=line.get_color(), alpha=0.12)


def _fmt(value, pattern="{:.3f}"):
    return "—" if value is None else pattern.format(value)


def _write_markdown(args, rows, runs, plots):
    docs = Path(args.docs) if args.docs else (
        Path(f"{args.out}.md") if args.quick
        else RESULTS.parents[1] / "docs" / "benchmarks" / "label_efficiency.md")
    machine = runs[-1]["machine"]
    command = "python benchmarks/label_efficiency.py " + " ".join(sys.argv[1:])
    lines = [
        MARK_BEGIN,
        f"Generated by `{command.strip()}` from `{Path(args.out).name}_runs.jsonl` "
        f"({len(runs)} runs, {sum(r['wall_seconds'] for r in runs) / 60:.1f} min "
        f"of run time; {machine['cpu_count']} CPUs, load average "
        f"{machine['loadavg'][0]:.1f} at {machine['timestamp_utc']}).",
        "",
        "### Headline: labels to 90% of full-data accuracy",
        "",
        *_headline_table(rows),
        "",
        "### Peers at equal teacher labels (accuracy, mean over seeds)",
        "",
        *_peer_table(runs, rows),
        "",
        "### All runs",
        "",
        "Labels are teacher labels, seed excluded. `to 90%`/`to 95%`: labels at "
        "which the seed-averaged accuracy curve first reaches that share of the "
        "same student's full-training-set accuracy (`—`: not within the budget). "
        "reduction = 1 − labels / random's labels (`≥`: random never reached the "
        "target, its budget + 1 is used). `vs lc`: labels / exhaustive "
        "least-confidence labels. acceptance: accepted / visited (for exhaustive "
        "samplers batch / pool). Seconds per round, averaged over rounds and seeds;"
        " overhead = round − student fit − selection (the loop's own cost: teacher"
        " call and bookkeeping, measured the same way for the peers).",
        "",
        "| dataset | student | noise | sampler | seeds | full acc | final acc (± std)"
        " | to 90% | reduction | vs lc | to 95% | acceptance | select s/round |"
        " s/round | overhead s/round |",
        "|" + "---|" * 15,
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['student']} | {r['noise']:g} | {r['sampler']} | "
            f"{r['seeds']} | {r['full_accuracy']:.3f} | {r['final_accuracy']:.3f} ± "
            f"{r['final_accuracy_std']:.3f} | {_fmt(r['labels_to_90'], '{}')} | "
            f"{_reduction(r, 'labels_to_90')} | "
            f"{_fmt(r['labels_to_90_vs_lc'], '{:.2f}')} | "
            f"{_fmt(r['labels_to_95'], '{}')} | "
            f"{_fmt(r['acceptance_mean'], '{:.1%}')} | "
            f"{_fmt(r['select_seconds_per_round'], '{:.4f}')} | "
            f"{r['seconds_per_round']:.3f} | {r['overhead_per_round']:.4f} |")
    lines += ["", "Learning curves (mean ± std over seeds):", ""]
    lines += [f"![{Path(p).stem}](../../benchmarks/results/{Path(p).name})"
              for p in plots if not p.endswith("balanced_accuracy.png")]
    lines.append(MARK_END)
    _replace_generated(docs, lines)
    if not args.docs and not args.quick:
        _write_overview(rows, command.strip())


def _replace_generated(path, lines):
    """Put ``lines`` (markers included) between the markers of ``path``."""
    path = Path(path)
    old = path.read_text() if path.is_file() else f"{MARK_BEGIN}\n{MARK_END}\n"
    if MARK_BEGIN not in old or MARK_END not in old:
        old = old + f"\n{MARK_BEGIN}\n{MARK_END}\n"
    head, rest = old.split(MARK_BEGIN, 1)
    tail = rest.split(MARK_END, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + "\n".join(lines) + tail)


def _write_overview(rows, command):
    """The label-efficiency summary table of docs/benchmarks.md."""
    lines = [
        MARK_BEGIN,
        "**Label efficiency** (generated by `benchmarks/label_efficiency.py`, "
        f"last `{command}`): teacher labels, seed excluded, at which the "
        "seed-averaged test accuracy first reaches 90% of the same student's "
        "full-training-set accuracy; 3 seeds, batches of 25, exact teacher. "
        "M-RARU with its defaults (margin, 10% acceptance) against random "
        "sampling, the paper's rule and the best of exhaustive least "
        "confidence, margin and entropy. Details: "
        "[label_efficiency](benchmarks/label_efficiency.md).",
        "",
        *_overview_table(rows),
        MARK_END,
    ]
    _replace_generated(RESULTS.parents[1] / "docs" / "benchmarks.md", lines)


def _overview_table(rows):
    index = _by_group(rows)
    lines = ["| dataset | student | budget | random | M-RARU | fewer than random |"
             " paper's rule | best exhaustive | M-RARU / best exhaustive |",
             "|" + "---|" * 9]
    for r in rows:
        if r["sampler"] != DEFAULT_MRARU or r["noise"] != 0:
            continue
        key = (r["dataset"], r["student"], 0.0)
        exhaustive = [index[key + (s,)] for s in ("lc", "margin", "entropy")
                      if key + (s,) in index]
        reached = [e for e in exhaustive if e["labels_to_90"] is not None]
        best = min(reached, key=lambda e: e["labels_to_90"]) if reached else None
        ratio = (r["labels_to_90"] / best["labels_to_90"]
                 if best and r["labels_to_90"] else None)
        lines.append(
            f"| {r['dataset']} | {r['student']} | {r['budget']} | "
            f"{_labels(index.get(key + ('random',)))} | {_labels(r)} | "
            f"{_reduction(r, 'labels_to_90')} | "
            f"{_labels(index.get(key + ('mraru',)))} | "
            + (f"{_labels(best)} ({best['sampler']})" if best
               else "—" if not exhaustive else f"> {r['budget']}")
            + f" | {_fmt(ratio, '{:.2f}')} |")
    return lines


MARK_BEGIN = "<!-- BEGIN GENERATED by benchmarks/label_efficiency.py -->"
MARK_END = "<!-- END GENERATED -->"


def _reduction(row, target):
    value = row[f"{target}_reduction_vs_random"]
    if value is None:
        return "—"
    return ("≥ " if row[f"{target}_reduction_bound"] else "") + f"{value:.0%}"


def _headline_table(rows):
    lines = ["| dataset | student | noise | sampler | random | M-RARU | least conf. |"
             " reduction vs random | M-RARU / lc labels | lc / M-RARU select time |"
             " M-RARU acceptance | to 95%: random / M-RARU / lc |",
             "|" + "---|" * 12]
    index = _by_group(rows)
    for r in rows:
        if not r["sampler"].startswith("mraru"):
            continue
        key = (r["dataset"], r["student"], r["noise"])
        random, lc = index.get(key + ("random",)), index.get(key + ("lc",))
        speedup = (lc["select_seconds"] / r["select_seconds"]
                   if lc and r["select_seconds"] else None)
        lines.append(
            f"| {r['dataset']} | {r['student']} | {r['noise']:g} | {r['sampler']} | "
            f"{_labels(random)} | {_labels(r)} | {_labels(lc)} | "
            f"{_reduction(r, 'labels_to_90')} | "
            f"{_fmt(r['labels_to_90_vs_lc'], '{:.2f}')} | "
            f"{_fmt(speedup, '{:.1f}x')} | {_fmt(r['acceptance_mean'], '{:.1%}')} | "
            + " / ".join(_labels(x, "labels_to_95") for x in (random, r, lc)) + " |")
    return lines


def _labels(row, target="labels_to_90"):
    if row is None:
        return "not run"
    if row[target] is None:
        return f"> {row['budget']}"
    return str(row[target])


def _peer_table(runs, rows):
    ours = sorted({r["sampler"] for r in runs if r["sampler"].startswith("mraru")})
    peers = [s for s in ("random", *ours, "lc", *PEERS)
             if any(r["sampler"] == s for r in runs)]
    if not any(s in PEERS for s in peers):
        return ["(no peer runs)"]
    lines = []
    for (dataset, student, noise) in sorted({(r["dataset"], r["student"], r["noise"])
                                             for r in runs if r["sampler"] in PEERS}):
        groups = {s: [r for r in runs if (r["dataset"], r["student"], r["noise"],
                                          r["sampler"]) == (dataset, student, noise, s)]
                  for s in peers}
        rounds = next(m[0]["rounds"] for s, m in groups.items() if s in PEERS and m)
        curves = {s: mean_curve(m) for s, m in groups.items()
                  if m and m[0]["rounds"] == rounds}
        labels = min(len(c["labels"]) for c in curves.values())
        points = sorted({int(p) for p in np.linspace(0, labels - 1, 6)})
        lines += [f"{dataset}, {student}, noise {noise:g}:", "",
                  "| sampler | " + " | ".join(
                      f"{int(next(iter(curves.values()))['labels'][i])} labels"
                      for i in points)
                  + " | s/round | select s/round | overhead s/round |",
                  "|" + "---|" * (len(points) + 4)]
        index = _by_group(rows)
        for sampler, curve in curves.items():
            row = index[(dataset, student, noise, sampler)]
            lines.append(f"| {sampler} | " + " | ".join(
                f"{curve['accuracy'][i]:.3f}" for i in points)
                + f" | {row['seconds_per_round']:.3f} | "
                f"{row['select_seconds_per_round']:.4f} | "
                f"{row['overhead_per_round']:.4f} |")
        lines.append("")
    return lines

def _cached_full_accuracy(out, data, student):
    # A full-data fit of a 77-class student takes minutes on a busy machine;
    # it depends only on the data and the student, so it is computed once.
    path = Path(f"{out}_full_accuracy.json")
    cache = json.loads(path.read_text()) if path.is_file() else {}
    key = f"{data['name']}|{student}|{len(data['y'])}|{len(data['y_test'])}"
    if key not in cache:
        start = time.perf_counter()
        cache[key] = full_accuracy(data, student)
        print(f"{data['name']}/{student}: full-data accuracy {cache[key]:.4f} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
        if path.is_file():  # another process may have added keys meanwhile
            cache = {**json.loads(path.read_text()), key: cache[key]}
        write_json(path, cache)
    return cache[key]


def _key(spec):
    return tuple(spec[k] for k in ("dataset", "student", "sampler", "seed", "noise",
                                   "rounds", "batch_size", "n_train", "n_test"))


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=None,
                        help="dataset folders (train.csv/test.csv with text,label) "
                             "or names under ../shared/data")
    parser.add_argument("--students", nargs="+", choices=list(STUDENTS))
    parser.add_argument("--samplers", nargs="+", type=_sampler_name,
                        help=f"any of {[*SAMPLERS, *PEERS]}, mraru_auto<rate> "
                             "(see AutoTemperatureMRARU) or MRARU settings joined "
                             "by '_': t<T> temperature, v<N> max_visits, a<rate> "
                             "target_acceptance, lc/margin/entropy strategy, "
                             "e.g. mraru_margin_a0.1")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0])
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs in parallel worker processes (each with "
                             "--blas-threads threads); finished runs are "
                             "written as they complete")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (0: library default); on a shared "
                             "machine one thread is many times faster")
    parser.add_argument("--max-train", type=int, default=None,
                        help="subsample the training split (pool) to this size")
    parser.add_argument("--max-test", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="small grid that runs in < 10 minutes on 2 cores")
    parser.add_argument("--out", default=None,
                        help="results prefix (default benchmarks/results/"
                             "label_efficiency[_quick])")
    parser.add_argument("--summarize", action="store_true",
                        help="only rebuild tables and plots from the runs file")
    parser.add_argument("--docs", default=None,
                        help="markdown summary path (default docs/benchmarks/"
                             "label_efficiency.md; 'none' to skip)")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "data": ["banking77"] if quick else ["banking77", "trec", "ag_news"],
        "students": ["lr", "lda"] if quick else list(STUDENTS),
        "samplers": (["random", DEFAULT_MRARU, "mraru", "lc", "smalltext_lc",
                      "modal_lc"] if quick else [*SAMPLERS, DEFAULT_MRARU, *PEERS]),
        "rounds": 12 if quick else 60,
        "max_train": 2000 if quick else None,
        "max_test": 1000 if quick else None,
        "out": str(RESULTS / ("label_efficiency_quick" if quick
                              else "label_efficiency")),
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.data = [d if Path(d).is_dir() else str(DEFAULT_DATA / d) for d in args.data]
    return args


def _quiet_expected_warnings():
    # One example per class is the benchmark's starting point by design.
    warnings.filterwarnings("ignore", message="The number of unique classes")
    warnings.filterwarnings("ignore", message="The least populated class")
    warnings.filterwarnings("ignore", message="Variables are collinear")


def main(argv=None):
    args = _parse(argv)
    _quiet_expected_warnings()
    start = time.perf_counter()
    if not args.summarize:
        with threadpool_limits(args.blas_threads or None):
            run_grid(args)
    write_report(args, time.perf_counter() - start)


if __name__ == "__main__":
    main()
