"""A teacher cascade: a cheap teacher first, the strong one where it is unsure.

Simulated teachers on banking77 (77 classes) and hwu64 (64 classes; no
150-class task is available offline, clinc150 is not in ../shared/data):

* **strong**: a perfect teacher at 1.0 per label;
* **cheap**: 1/10 of the price, right 75% of the time, its wrong answers
  among classes with similar names, with a calibrated confidence
  (``OracleTeacher(noise_rate=0.25, confusion="names",
  confidence="calibrated")``);
* **cascade**: :class:`skakd.teachers.TeacherCascade` of the two, with fixed
  thresholds, and with a threshold calibrated on 200 random pool items for
  95% agreement: the calibration's bill is added to the fit's, and its 200
  strong labels join the seed (the active learner then buys 200 fewer, so
  every student ends with the same number of labels).

Each distils a TF-IDF + logistic regression student with M-RARU (batches of
100) from one seed text per class to ``--labels`` labels, scored on the test
set after every round. Targets: the cascade's student within 1 point of the
strong-only student at the same number of labels, for at most 0.35 of the
strong-only bill.

    python -m benchmarks.cascade            # 2 datasets, 2 seeds
    python -m benchmarks.cascade --quick    # banking77, 1 seed, 500 labels

Writes ``benchmarks/results/cascade[_quick][_k<concentration>].{json,csv,png}``
and, for a run without ``--quick``, the generated section of
``docs/benchmarks/cascade.md`` (from every full run's JSON found).
"""

import argparse
import json
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Scoring
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import OracleTeacher, TeacherCascade

from ._common import DEFAULT_DATA, load_csv_folder, one_per_class
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

CHEAP_PRICE, STRONG_PRICE = 0.1, 1.0
CHEAP_ACCURACY = 0.75
CALIBRATION_ITEMS, TARGET_AGREEMENT = 200, 0.95
THRESHOLDS = (0.5, 0.7)
CONFIGS = ["strong", "cheap", *(f"cascade_t{t}" for t in THRESHOLDS),
           "cascade_calibrated"]
TARGETS = {"max_accuracy_gap": 0.01, "max_bill_ratio": 0.35}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="banking77, one seed, 500 labels")
    parser.add_argument("--datasets", nargs="+", default=["banking77", "hwu64"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--concentration", type=float, default=1.0,
                        help="the cheap teacher's confidence_concentration")
    parser.add_argument("--configs", nargs="+", default=CONFIGS,
                        help="teachers to compare; a '_w' suffix weights the "
                             "student's rows by the teacher's confidence")
    parser.add_argument("--tag", default="",
                        help="added to the results' file names")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.seeds, args.labels = ["banking77"], 1, 500
        args.batch_size = 50
    return args


def load(name):
    """``(X_train, y_train, X_test, y_test)`` as object / str arrays."""
    if name in ("banking77", "trec"):
        data = load_dataset(name)
        parts = data.X_train, data.y_train, data.X_test, data.y_test
    else:
        parts = load_csv_folder(DEFAULT_DATA / name)
    X, y, X_test, y_test = parts
    return (np.asarray(X, dtype=object), np.asarray(y).astype(str),
            np.asarray(X_test, dtype=object), np.asarray(y_test).astype(str))


def teachers(X, y, seed, concentration):
    """The simulated strong and cheap teachers of one run."""
    strong = OracleTeacher(X, y, cost_per_item=STRONG_PRICE)
    cheap = OracleTeacher(X, y, noise_rate=1 - CHEAP_ACCURACY, confusion="names",
                          confidence="calibrated", random_state=seed,
                          cost_per_item=CHEAP_PRICE,
                          confidence_concentration=concentration)
    return strong, cheap


def run_one(data, config, seed, args):
    X, y, X_test, y_test = data
    weighted = config.endswith("_w")
    kind = config.removesuffix("_w")
    seed_idx = one_per_class(y, seed)
    pool = np.setdiff1d(np.arange(len(y)), seed_idx)
    strong, cheap = teachers(X[pool], y[pool], seed, args.concentration)
    classes = sorted(np.unique(y))
    X_seed, y_seed, budget = X[seed_idx], y[seed_idx], args.labels
    before, calibration = 0.0, None
    if kind == "strong":
        teacher = strong
    elif kind == "cheap":
        teacher = cheap
    elif kind == "cascade_calibrated":
        teacher = TeacherCascade([("cheap", cheap), ("strong", strong)])
        sample = pool[np.random.default_rng(seed).choice(
            len(pool), CALIBRATION_ITEMS, replace=False)]
        teacher.calibrate(X[sample], classes, target_agreement=TARGET_AGREEMENT)
        calibration = teacher.calibration_[0]
        before = calibration["cost"]
        # The strong labels paid for are training labels too (replayed free).
        X_seed = np.concatenate([X_seed, X[sample]])
        y_seed = np.concatenate([y_seed, teacher.label(X[sample], classes).labels])
        pool, budget = np.setdiff1d(pool, sample), budget - CALIBRATION_ITEMS
    else:
        threshold = float(kind.rsplit("_t", 1)[1])
        teacher = TeacherCascade([("cheap", cheap), ("strong", strong)],
                                 min_confidence=threshold)
    student = make_pipeline(TfidfVectorizer(sublinear_tf=True),
                            LogisticRegression(C=20, max_iter=1000))
    clf = ActiveDistillationClassifier(
        student, teacher=teacher,
        sampler=MRARU(batch_size=args.batch_size, weight_by_confidence=weighted),
        max_iter=-(-budget // args.batch_size), max_labels=budget,
        random_state=seed, callbacks=[Scoring(X_test, y_test)])
    start = time.perf_counter()
    clf.fit(X_seed, y_seed, X_pool=X[pool])
    history = clf.history_
    # Every label beyond the one-per-class seed came from a teacher.
    truth = dict(zip(X.tolist(), y.tolist()))
    taught = list(zip(clf.labeled_X_, clf.labeled_y_))[len(seed_idx):]
    return {
        "config": config, "seed": seed, "n_labeled": history[-1, "n_labeled"],
        "accuracy": history[-1, "accuracy"],
        "bill": clf.teacher_cost_ + before,
        "calibration_cost": before,
        "label_accuracy": float(np.mean([truth[x] == lab for x, lab in taught])),
        "n_escalated": int(sum(r.get("n_escalated", 0) for r in history[1:])),
        "n_cheap": int(sum(r.get("n_stage_0", 0) for r in history[1:])),
        "threshold": (calibration or {}).get("threshold"),
        "calibrated_agreement": (calibration or {}).get("agreement"),
        "seconds": time.perf_counter() - start,
        "curve": list(zip(history[:, "n_labeled"], history[:, "accuracy"],
                          np.cumsum([0, *history[1:, "teacher_cost"]]) + before)),
    }


def summarise(rows):
    """Per dataset and configuration: means over seeds, and the targets."""
    summary = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        runs = [r for r in rows if r["dataset"] == dataset]
        strong = [r for r in runs if r["config"] == "strong"]
        base_acc = np.mean([r["accuracy"] for r in strong])
        base_bill = np.mean([r["bill"] for r in strong])
        for config in dict.fromkeys(r["config"] for r in runs):
            mine = [r for r in runs if r["config"] == config]
            accuracy = float(np.mean([r["accuracy"] for r in mine]))
            bill = float(np.mean([r["bill"] for r in mine]))
            gap = float(base_acc - accuracy)
            ratio = float(bill / base_bill)
            summary.append({
                "dataset": dataset, "config": config, "n_seeds": len(mine),
                "n_labeled": int(np.mean([r["n_labeled"] for r in mine])),
                "accuracy": accuracy, "accuracy_gap": gap,
                "bill": bill, "bill_ratio": ratio,
                "label_accuracy": float(np.mean([r["label_accuracy"] for r in mine])),
                # Of the items the cascade labelled, those the strong one did.
                "escalated_share": float(np.mean(
                    [r["n_escalated"] / max(r["n_escalated"] + r["n_cheap"], 1)
                     for r in mine])),
                "met": (config.startswith("cascade")
                        and gap <= TARGETS["max_accuracy_gap"]
                        and ratio <= TARGETS["max_bill_ratio"]),
            })
    return summary


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    fig, axes = plt.subplots(len(datasets), 2, figsize=(11, 4 * len(datasets)),
                             squeeze=False)
    for row_axes, dataset in zip(axes, datasets):
        runs = [r for r in rows if r["dataset"] == dataset]
        for config in dict.fromkeys(r["config"] for r in runs):
            curves = [np.array(r["curve"], dtype=float) for r in runs
                      if r["config"] == config]
            size = min(len(c) for c in curves)
            mean = np.mean([c[:size] for c in curves], axis=0)
            row_axes[0].plot(mean[:, 0], mean[:, 1], label=config)
            row_axes[1].plot(mean[:, 2], mean[:, 1], label=config)
        row_axes[0].set(title=f"{dataset}: accuracy by labels",
                        xlabel="labels", ylabel="test accuracy")
        row_axes[1].set(title=f"{dataset}: accuracy by bill", xscale="symlog",
                        xlabel="bill (strong label = 1)")
        row_axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs():
    """The page's generated section, from the full runs' JSON files."""
    lines = []
    for path in sorted(RESULTS.glob("cascade*.json")):
        result = json.loads(path.read_text())
        if "quick" in path.name or "cheap_confidence_concentration" not in result:
            continue  # a smoke run, or another benchmark's (cascade_bill)
        machine = result["machine"]
        lines += [
            f"**Cheap teacher's confidence concentration "
            f"{result['cheap_confidence_concentration']:g}** (`{path.name}`): "
            f"`{result['command']}`, {result['labels']} labels, batches of "
            f"{result['batch_size']}, {machine['cpu_count']} CPUs at load "
            f"{', '.join(f'{x:.1f}' for x in machine['loadavg'])}, "
            f"{machine['timestamp_utc']}.", ""]
        summary = summarise(result["runs"])
        rows = [[s["dataset"], s["config"], str(s["n_seeds"]),
                 fmt(s["accuracy"], "{:.4f}"), fmt(s["accuracy_gap"] * 100, "{:+.2f}"),
                 fmt(s["bill_ratio"], "{:.3f}"), fmt(s["label_accuracy"], "{:.3f}"),
                 fmt(s["escalated_share"], "{:.2f}"), "yes" if s["met"] else "no"]
                for s in summary]
        lines += markdown_table(
            ["dataset", "teacher", "seeds", "accuracy", "points below strong",
             "bill / strong", "labels right", "escalated", "targets met"],
            rows, "llrrrrrrl") + [""]
    write_generated(DOCS / "cascade.md", lines, "benchmarks.cascade")


def main(argv=None):
    args = parse_args(argv)
    configs = args.configs
    rows = []
    for dataset in args.datasets:
        data = load(dataset)
        for seed in range(args.seeds):
            for config in configs:
                row = run_one(data, config, seed, args)
                row["dataset"] = dataset
                rows.append(row)
                print(f"{dataset} seed {seed} {config}: accuracy "
                      f"{row['accuracy']:.4f} bill {row['bill']:.1f} labels "
                      f"right {row['label_accuracy']:.3f} "
                      f"({row['seconds']:.0f}s)", flush=True)
    summary = summarise(rows)
    name = "cascade_quick" if args.quick else "cascade"
    if args.concentration != 1.0:
        name += f"_k{args.concentration:g}"
    name += f"_{args.tag}" if args.tag else ""
    meta = {"command": command_line("cascade", argv), "machine": machine_info(),
            "targets": TARGETS, "cheap_price": CHEAP_PRICE,
            "strong_price": STRONG_PRICE, "cheap_accuracy": CHEAP_ACCURACY,
            "calibration_items": CALIBRATION_ITEMS,
            "cheap_confidence_concentration": args.concentration,
            "target_agreement": TARGET_AGREEMENT, "labels": args.labels,
            "batch_size": args.batch_size}
    write_json(RESULTS / f"{name}.json", {**meta, "summary": summary, "runs": rows})
    write_csv(RESULTS / f"{name}.csv", summary)
    plot(rows, RESULTS / f"{name}.png")
    if not args.quick:
        write_docs()
    for entry in summary:
        print(f"{entry['dataset']:10s} {entry['config']:20s} acc "
              f"{entry['accuracy']:.4f} gap {entry['accuracy_gap']:+.4f} bill "
              f"x{entry['bill_ratio']:.3f} labels right "
              f"{entry['label_accuracy']:.3f} met {entry['met']}")


if __name__ == "__main__":
    main()
