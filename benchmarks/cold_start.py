"""Starting from nothing but the label list (issue 30): cold start vs a seed.

Two measurements on banking77 (77 classes) and trec (6), bundled with skakd
(:func:`skakd.datasets.load_dataset`), with a text student,
``make_pipeline(StaticEmbedder(), LogisticRegression(C=10))`` (Model2Vec
embeddings, :class:`skakd.text.StaticEmbedder`), and an
:class:`~skakd.teachers.OracleTeacher` that knows the class descriptions an
LLM teacher would be given (banking77: none, its names say it; trec: the
six words of Li & Roth's coarse taxonomy):

* **coverage**: the share of the classes that the first batch of a cold
  start hits when it has as many items as there are classes, for each
  ``cold_start`` of the samplers (``random``: 1 - 1/e, about 63%, on balanced
  classes; ``diverse``: one item per k-means cluster of the student's
  embeddings; ``coverage``: the same batch, whose top-up comes after);
* **labels to 90%**: M-RARU (the defaults, batch 25) from one labelled
  example per class (``seed``: the seed's labels are counted) and from no
  seed (``cold_<method>``: the cold start's labels are counted), until the
  student reaches 90% of the accuracy the same student gets from the whole
  training split. The target: the cold start needs at most 10% more labels.

Usage::

    python -m benchmarks.cold_start               # banking77 + trec, 3 seeds
    python -m benchmarks.cold_start --quick       # trec, 1 seed
    python -m benchmarks.cold_start --datasets trec --seeds 10 --name cold_start_trec10

Writes ``benchmarks/results/cold_start{_quick}.{csv,json,png}`` and the
generated section of ``docs/benchmarks/cold_start.md``.
"""

import argparse
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Callback
from skakd.datasets import load_dataset
from skakd.sampling import COLD_STARTS, MRARU, class_texts, cold_select
from skakd.teachers import OracleTeacher
from skakd.text import StaticEmbedder

from ._common import one_per_class
from ._report import (
    DOCS,
    RESULTS,
    command_line,
    fmt,
    machine_info,
    markdown_table,
    write_csv,
    write_generated,
    write_json,
)

__all__ = ["StopAtTarget", "coverage", "labels_to_target", "main", "run_curve"]

TARGET = 0.90  # share of the full-data accuracy
MAX_EXTRA = 0.10  # the cold start may take this share of labels more
MODES = ("seed",) + tuple(f"cold_{method}" for method in COLD_STARTS)
# What an LLM teacher's class_descriptions would say (Li & Roth's taxonomy).
DESCRIPTIONS = {"trec": {
    "ABBR": "abbreviation: what an acronym stands for",
    "DESC": "description of an abstract concept",
    "ENTY": "entity", "HUM": "human being", "LOC": "location",
    "NUM": "numeric value"}}


class StopAtTarget(Callback):
    """Score on the test split each round; stop once ``target`` is reached."""

    def __init__(self, X, y, target):
        self.X, self.y, self.target = X, y, target

    def on_fit_begin(self, clf):
        return self._score(clf, clf.history_[0])

    def on_round_end(self, clf, record):
        return self._score(clf, record)

    def _score(self, clf, record):
        record["accuracy"] = float(clf.estimator_.score(self.X, self.y))
        return record["accuracy"] >= self.target


def student():
    return make_pipeline(StaticEmbedder(), LogisticRegression(C=10, max_iter=1000))


def coverage(X, y, method, seed, descriptions=None):
    """``(share, topped_up, labels)``: the share of the classes of ``y`` hit
    by a cold batch of one item per class; for ``"coverage"``, the share
    after its top-up of the missing classes and the labels that took."""
    classes, rng = np.unique(y), np.random.default_rng(seed)
    candidates = np.arange(len(y))
    texts = class_texts(classes, descriptions)
    chosen = cold_select(method, student(), X, candidates, len(classes), rng,
                         missing=texts)
    share = len(np.unique(y[chosen])) / len(classes)
    missing = np.setdiff1d(classes, y[chosen])
    if method == "coverage" and len(missing):
        chosen = np.r_[chosen, cold_select(
            method, student(), X, np.setdiff1d(candidates, chosen), len(missing),
            rng, missing={c: texts[c] for c in missing})]
    return share, len(np.unique(y[chosen])) / len(classes), len(chosen)


def run_curve(data, mode, seed, max_labels):
    """``[(n_labeled, accuracy), ...]`` of one M-RARU run until the target."""
    X, y, target = data["X"], data["y"], data["target"]
    if mode == "seed":
        seed_idx = one_per_class(y, seed)
        X_seed, y_seed, sampler = X[seed_idx], y[seed_idx], MRARU()
    else:
        seed_idx, X_seed, y_seed = [], X[:0], []
        sampler = MRARU(cold_start=mode.removeprefix("cold_"))
    pool = np.setdiff1d(np.arange(len(y)), seed_idx)
    teacher = OracleTeacher(X, y)
    # The descriptions an LLM teacher would hold (cold_start="coverage").
    teacher.class_descriptions = DESCRIPTIONS.get(data["name"])
    clf = ActiveDistillationClassifier(
        student(), teacher=teacher, sampler=sampler, max_iter=None,
        max_labels=max_labels, classes=np.unique(y), random_state=seed,
        callbacks=[StopAtTarget(data["X_test"], data["y_test"], target)],
    ).fit(X_seed, y_seed, X_pool=X[pool])
    cold = clf.history_[0].get("n_cold_labels", 0)
    return [(int(r["n_labeled"]), r["accuracy"]) for r in clf.history_], cold


def labels_to_target(curve, target):
    """Labels at the first point of ``curve`` at or above ``target``, or None."""
    return next((n for n, accuracy in curve if accuracy >= target), None)


def load(name):
    bunch = load_dataset(name)
    y, y_test = np.asarray(bunch.y_train), np.asarray(bunch.y_test)
    X = np.asarray(bunch.X_train, dtype=object)
    X_test = np.asarray(bunch.X_test, dtype=object)
    full = float(student().fit(X, y).score(X_test, y_test))
    return {"name": name, "X": X, "y": y, "X_test": X_test, "y_test": y_test,
            "full_accuracy": full, "target": TARGET * full}


def main(argv=None):
    args = _parse(argv)
    out = RESULTS / args.name
    started, start = machine_info(), time.perf_counter()
    runs, summary = [], []
    with threadpool_limits(1):
        for name in args.datasets:
            data = load(name)
            for seed in range(args.seeds):
                for method in COLD_STARTS:
                    share, topped_up, n_labels = coverage(
                        data["X"], data["y"], method, seed, DESCRIPTIONS.get(name))
                    runs.append({"dataset": name, "kind": "coverage", "mode": method,
                                 "seed": seed, "coverage": share,
                                 "topped_up": topped_up, "labels": n_labels})
                for mode in MODES:
                    t0 = time.perf_counter()
                    curve, cold = run_curve(data, mode, seed, args.max_labels)
                    to90 = labels_to_target(curve, data["target"])
                    runs.append({"dataset": name, "kind": "curve", "mode": mode,
                                 "seed": seed, "cold_labels": cold,
                                 "labels_to_90": to90, "curve": curve,
                                 "seconds": time.perf_counter() - t0})
                    print(f"{name} {mode} seed={seed}: to90 "
                          f"{runs[-1]['labels_to_90']} (cold {cold})", flush=True)
            summary += _summarize(runs, data)
    _write(out, args, started, time.perf_counter() - start, runs, summary)


def _summarize(runs, data):
    name, rows = data["name"], []
    for method in COLD_STARTS:
        done = [r for r in runs if r["dataset"] == name
                and r["kind"] == "coverage" and r["mode"] == method]
        values = [r["coverage"] for r in done]
        met = None if method == "random" else bool(np.mean(values) >= 0.8)
        rows.append({"dataset": name, "measure": "coverage", "mode": method,
                     "mean": float(np.mean(values)), "std": float(np.std(values)),
                     "topped_up": float(np.mean([r["topped_up"] for r in done])),
                     "labels": float(np.mean([r["labels"] for r in done])),
                     "target_met": met})
    curves = {mode: [r for r in runs if r["dataset"] == name and r["kind"] == "curve"
                     and r["mode"] == mode] for mode in MODES}
    seeded = _mean_labels(curves["seed"])
    for mode in MODES:
        labels = _mean_labels(curves[mode])
        ratio = None if None in (labels, seeded) else labels / seeded
        rows.append({"dataset": name, "measure": "labels_to_90", "mode": mode,
                     "mean": labels, "std": _std_labels(curves[mode]),
                     "cold_labels": float(np.mean([r["cold_labels"]
                                                   for r in curves[mode]])),
                     "full_accuracy": data["full_accuracy"], "ratio_to_seed": ratio,
                     "target_met": None if mode == "seed" or ratio is None
                     else bool(ratio <= 1 + MAX_EXTRA)})
    return rows


def _mean_labels(runs):
    values = [r["labels_to_90"] for r in runs]
    return None if None in values or not values else float(np.mean(values))


def _std_labels(runs):
    values = [r["labels_to_90"] for r in runs]
    return None if None in values or not values else float(np.std(values))


def _write(out, args, started, seconds, runs, summary):
    meta = {"command": command_line("cold_start", argv=args.argv), "machine": started,
            "finished": machine_info(), "seconds": seconds, "target": TARGET,
            "max_extra": MAX_EXTRA, "max_labels": args.max_labels}
    write_json(f"{out}.json", {**meta, "summary": summary, "runs": runs})
    write_csv(f"{out}.csv", summary)
    _plot(out, runs)
    if args.name == "cold_start":  # the page shows the default run
        write_generated(DOCS / "cold_start.md", _page(meta, summary),
                        "benchmarks/cold_start.py")


def _page(meta, summary):
    load = ", ".join(f"{x:.1f}" for x in meta["machine"]["loadavg"])
    machine = meta["machine"]
    lines = [f"Reproduce: `{meta['command']}` (started {machine['timestamp_utc']}, "
             f"load average {load} on {machine['cpu_count']} CPUs, "
             f"{meta['seconds'] / 60:.1f} min).", ""]
    coverage_rows = [[r["dataset"], r["mode"], f"{r['mean']:.1%} ± {r['std']:.1%}",
                      fmt(r["target_met"], "{}"), f"{r['topped_up']:.1%}",
                      f"{r['labels']:.0f}"]
                     for r in summary if r["measure"] == "coverage"]
    lines += ["## Class coverage of a first batch of one item per class", "",
              *markdown_table(["dataset", "cold_start", "classes hit", "≥ 80%",
                               "after the top-up", "labels"], coverage_rows,
                              "llrlrr"), ""]
    label_rows = [[r["dataset"], r["mode"], fmt(r["mean"], "{:.0f}"),
                   fmt(r["std"], "{:.0f}"), f"{r['cold_labels']:.0f}",
                   fmt(r["ratio_to_seed"], "{:.2f}"), fmt(r["target_met"], "{}")]
                  for r in summary if r["measure"] == "labels_to_90"]
    lines += ["## Teacher labels to 90% of full-data accuracy (M-RARU, batch 25)", "",
              *markdown_table(["dataset", "start", "labels", "std", "cold labels",
                               "vs seed", "≤ 1.10"], label_rows, "llrrrrl"), "",
              "![cold start](../../benchmarks/results/cold_start.png)"]
    return lines


def _plot(out, runs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["dataset"] for r in runs))
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for mode in MODES:
            for i, run in enumerate(r for r in runs if r["dataset"] == name
                                    and r["kind"] == "curve" and r["mode"] == mode):
                n, accuracy = zip(*run["curve"])
                ax.plot(n, accuracy, color=f"C{MODES.index(mode)}", alpha=0.7,
                        label=mode if i == 0 else None)
        ax.set(title=name, xlabel="teacher labels (seed or cold start included)",
               ylabel="test accuracy")
        ax.legend()
    fig.tight_layout()
    fig.savefig(f"{out}.png", dpi=100)
    plt.close(fig)


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="trec, 1 seed")
    parser.add_argument("--datasets", nargs="+", default=None,
                        choices=["banking77", "trec"])
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--max-labels", type=int, default=2000)
    parser.add_argument("--name", default=None, help="results file names "
                        "(default: cold_start, or cold_start_quick); only "
                        "cold_start updates the docs page")
    args = parser.parse_args(argv)
    args.argv = argv
    args.datasets = args.datasets or (["trec"] if args.quick else ["banking77", "trec"])
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.name = args.name or ("cold_start_quick" if args.quick else "cold_start")
    return args


if __name__ == "__main__":
    main()
