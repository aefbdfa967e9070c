"""The audit of suspect labels, and confidence weighting, under a noisy teacher.

Simulated teachers on banking77 (77 classes): a teacher wrong 20% of the
time (``OracleTeacher(noise_rate=0.2)``, its wrong answers among classes
with similar names by default, ``--confusion``) and a noise-free one, the
stronger teacher the audit asks again. Every arm distils a TF-IDF + logistic
regression student with M-RARU
from one seed text per class to the same ``--labels`` items bought (batches
of 100 as in the cascade benchmark, for time; M-RARU's other parameters are
its defaults):

* ``clean``: the noise-free teacher throughout (the ceiling);
* ``noisy``: the noisy teacher throughout (the floor);
* ``audit_share=<s>``: noisy, with :class:`skakd.audit.LabelAudit` asking
  the strong teacher about the rows confident learning finds, within a share
  ``s`` of the labels (``--shares``; its re-asks count in the same budget),
  at the end only;
* ``audit_share=<s>_every=<k>``: the same, auditing every ``k`` rounds as
  well (``--every``);
* ``drop``: noisy, then the student refitted without the teacher rows that
  :func:`skakd.audit.find_label_issues` finds (no re-ask, no extra label);
  ``drop_top=<s>`` (with ``--arms``) drops only the share ``s`` of the rows
  it ranks most implausible;
* ``calibrated`` / ``calibrated_weighted``: a noisy teacher that says how sure
  it is (``confidence="calibrated"``, right as often as it says, same 20%
  mean error), its rows unweighted or weighted by that confidence
  (``MRARU(weight_by_confidence=True)``); ``calibrated_weighted_audit``
  (with ``--arms``) also audits, at the first of ``--shares``.

Target: the audit recovers at least half of the accuracy lost to the noise
at the same budget: ``(audit - noisy) / (clean - noisy) >= 0.5``.

    python -m benchmarks.audit            # banking77, 3 seeds, 1000 labels
    python -m benchmarks.audit --quick    # 1 seed, 500 labels

Writes ``benchmarks/results/audit[_quick][_<confusion>].{json,csv,png}`` and,
for a run without ``--quick``, the generated section of
``docs/benchmarks/audit.md`` (from every full run's JSON found).
"""

import argparse
import json
import time

import numpy as np
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.audit import LabelAudit, find_label_issues
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import OracleTeacher

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

NOISE = 0.2
TARGET_RECOVERED = 0.5


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 500 labels")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.2],
                        help="the audit's budget_share values to try")
    parser.add_argument("--every", type=int, nargs="*", default=[3],
                        help="periodic audits to try, at the first share "
                             "(rounds between audits)")
    parser.add_argument("--confusion", choices=["names", "uniform"],
                        default="names")
    parser.add_argument("--arms", nargs="+", default=None,
                        help="only these arms (default: all; also drop_top=<s>: "
                             "drop only that share of the rows, the most "
                             "implausible)")
    parser.add_argument("--tag", default=None,
                        help="suffix of the result files' name")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.labels = 1, 500
    return args


def load():
    data = load_dataset("banking77")
    return (np.asarray(data.X_train, dtype=object),
            np.asarray(data.y_train).astype(str),
            np.asarray(data.X_test, dtype=object), np.asarray(data.y_test).astype(str))


def student():
    return make_pipeline(TfidfVectorizer(sublinear_tf=True),
                         LogisticRegression(C=20, max_iter=1000))


def run_one(data, arm, seed, args):
    X, y, X_test, y_test = data
    seed_idx = one_per_class(y, seed)
    pool = np.setdiff1d(np.arange(len(y)), seed_idx)
    confusion = None if args.confusion == "uniform" else "names"
    strong = OracleTeacher(X[pool], y[pool])
    noisy = OracleTeacher(X[pool], y[pool], noise_rate=NOISE, confusion=confusion,
                          random_state=seed,
                          confidence="calibrated" if arm.startswith("calibrated")
                          else None)
    teacher = strong if arm == "clean" else noisy
    callbacks = []
    if arm.startswith("audit"):
        options = dict(part.split("=") for part in arm.split("_")[1:])
        callbacks = [LabelAudit(strong, budget_share=float(options["share"]),
                                every=int(options.get("every", 0)) or None)]
    elif arm == "calibrated_weighted_audit":
        callbacks = [LabelAudit(strong, budget_share=args.shares[0])]
    sampler = MRARU(batch_size=args.batch_size,
                    weight_by_confidence=arm.startswith("calibrated_weighted"))
    clf = ActiveDistillationClassifier(
        student(), teacher=teacher, sampler=sampler, max_iter=None,
        max_labels=args.labels, random_state=seed, callbacks=callbacks)
    start = time.perf_counter()
    clf.fit(X[seed_idx], y[seed_idx], X_pool=X[pool])
    model, n_dropped = clf, 0
    if arm.startswith("drop"):
        top = float(arm.split("=")[1]) if "=" in arm else None
        model, n_dropped = _refit_without_issues(clf, seed, top)
    truth = dict(zip(X.tolist(), y.tolist()))
    right = np.array([truth[x] == label
                      for x, label in zip(clf.labeled_X_, clf.labeled_y_)])
    taught = clf.label_source_ == "teacher"
    audit = clf.callbacks_[0].summary_ if callbacks else {}
    return {
        "arm": arm, "seed": seed, "accuracy": float(model.score(X_test, y_test)),
        "n_bought": int(clf.history_[-1, "n_labeled"] - len(seed_idx)
                        + audit.get("n_asked", 0)),
        "n_rows": len(clf.labeled_y_),
        "labels_right": float(right[taught].mean()),
        "n_audits": audit.get("n_audits", 0),
        "n_flagged": audit.get("n_flagged", 0),
        "n_asked": audit.get("n_asked", 0),
        "n_changed": audit.get("n_changed", 0),
        "n_dropped": n_dropped,
        "termination": clf.termination_condition_,
        "seconds": time.perf_counter() - start,
    }


def _refit_without_issues(clf, seed, top=None):
    """The student refitted without the teacher rows confident learning
    finds: all of them, or the ``top`` share of the rows, most implausible
    first."""
    found = find_label_issues(clf.estimator_, clf.labeled_X_, clf.labeled_y_,
                              random_state=seed)
    drop = found.indices[clf.label_source_[found.indices] == "teacher"]
    if top is not None:
        drop = drop[:int(top * len(clf.labeled_y_))]
    keep = np.setdiff1d(np.arange(len(clf.labeled_y_)), drop)
    model = clone(clf.estimator_).fit(clf.labeled_X_[keep], clf.labeled_y_[keep])
    return model, len(drop)


def summarise(rows):
    """Per arm: means over seeds, and the share of the loss recovered."""
    by_arm = {}
    for row in rows:
        by_arm.setdefault(row["arm"], []).append(row)
    mean = {arm: float(np.mean([r["accuracy"] for r in runs]))
            for arm, runs in by_arm.items()}
    per_seed = {(r["arm"], r["seed"]): r["accuracy"] for r in rows}
    summary = []
    for arm, runs in by_arm.items():
        # Each noisy arm against its own teacher's loss: the coin-noise
        # teacher's, or the calibrated one's for the calibrated_* arms.
        base = "calibrated" if arm.startswith("calibrated_") else "noisy"
        lost = mean.get("clean", np.nan) - mean.get(base, np.nan)
        recovered = (mean[arm] - mean.get(base, np.nan)) / lost
        by_seed = [(per_seed[arm, r["seed"]] - per_seed.get((base, r["seed"]), np.nan))
                   / (per_seed.get(("clean", r["seed"]), np.nan)
                      - per_seed.get((base, r["seed"]), np.nan)) for r in runs]
        summary.append({
            "arm": arm, "n_seeds": len(runs), "accuracy": mean[arm],
            "accuracy_std": float(np.std([r["accuracy"] for r in runs])),
            "points_below_clean": (mean.get("clean", np.nan) - mean[arm]) * 100,
            "recovered": None if arm in ("clean", "noisy", "calibrated")
            else float(recovered),
            "recovered_by_seed": None if arm in ("clean", "noisy", "calibrated")
            else [float(x) for x in by_seed],
            **{key: float(np.mean([r[key] for r in runs]))
               for key in ("n_bought", "labels_right", "n_asked", "n_changed",
                           "n_dropped")},
            # The audit's target, for its re-asking and its dropping arms.
            "met": _audits(arm) and bool(recovered >= TARGET_RECOVERED),
        })
    return summary


def _audits(arm):
    """Whether the audit's target applies: an arm that re-asks or drops."""
    return arm.startswith(("audit", "drop")) or arm.endswith("audit")


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    arms = [s["arm"] for s in summary]
    ax.bar(arms, [s["accuracy"] for s in summary],
           yerr=[s["accuracy_std"] for s in summary], color="tab:blue")
    low = min(s["accuracy"] for s in summary)
    ax.set(ylim=(max(0, low - 0.08), None), ylabel="test accuracy",
           title="banking77: noisy teacher (20%), same label budget")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_docs():
    lines = []
    for path in sorted(RESULTS.glob("audit*.json")):
        if "quick" in path.name:
            continue
        result = json.loads(path.read_text())
        machine = result["machine"]
        lines += [
            f"**Confusion `{result['confusion']}`, "
            f"{len({r['seed'] for r in result['runs']})} seeds** "
            f"(`{path.name}`): "
            f"`{result['command']}`, {result['labels']} labels, batches of "
            f"{result['batch_size']}, "
            f"{machine['cpu_count']} CPUs at load "
            f"{', '.join(f'{x:.1f}' for x in machine['loadavg'])}, "
            f"{machine['timestamp_utc']}.", ""]
        rows = [[s["arm"], str(s["n_seeds"]),
                 f"{s['accuracy']:.4f} ± {s['accuracy_std']:.4f}",
                 fmt(s["points_below_clean"], "{:+.2f}"),
                 fmt(s["recovered"], "{:.2f}"),
                 " / ".join(f"{x:.2f}" for x in s["recovered_by_seed"] or []) or "—",
                 fmt(s["n_bought"], "{:.0f}"),
                 fmt(s["labels_right"], "{:.3f}"), fmt(s["n_asked"], "{:.0f}"),
                 fmt(s["n_changed"], "{:.0f}"), fmt(s["n_dropped"], "{:.0f}"),
                 "yes" if s["met"] else "no" if _audits(s["arm"]) else "—"]
                for s in summarise(result["runs"])]
        lines += markdown_table(
            ["arm", "seeds", "accuracy (± std over seeds)", "points below clean",
             "loss recovered", "per seed", "items bought", "teacher labels right",
             "re-asked", "changed", "dropped", "target met"], rows,
            "lrrrrrrrrrrl") + [""]
    write_generated(DOCS / "audit.md", lines, "benchmarks.audit")


def main(argv=None):
    args = parse_args(argv)
    arms = args.arms or [
        "clean", "noisy", *(f"audit_share={s:g}" for s in args.shares),
        *(f"audit_share={args.shares[0]:g}_every={k}" for k in args.every),
        "drop", "calibrated", "calibrated_weighted"]
    data = load()
    rows = []
    for seed in range(args.seeds):
        for arm in arms:
            row = run_one(data, arm, seed, args)
            rows.append(row)
            print(f"seed {seed} {arm}: accuracy {row['accuracy']:.4f} bought "
                  f"{row['n_bought']} labels right {row['labels_right']:.3f} "
                  f"asked {row['n_asked']} changed {row['n_changed']} dropped "
                  f"{row['n_dropped']} ({row['seconds']:.0f}s)", flush=True)
    summary = summarise(rows)
    name = "audit_quick" if args.quick else "audit"
    if args.confusion != "names":
        name += f"_{args.confusion}"
    if args.tag:
        name += f"_{args.tag}"
    meta = {"command": command_line("audit", argv), "machine": machine_info(),
            "noise_rate": NOISE, "confusion": args.confusion,
            "target_recovered": TARGET_RECOVERED, "labels": args.labels,
            "batch_size": args.batch_size, "shares": args.shares}
    write_json(RESULTS / f"{name}.json", {**meta, "summary": summary, "runs": rows})
    write_csv(RESULTS / f"{name}.csv", summary)
    plot(summary, RESULTS / f"{name}.png")
    if not args.quick:
        write_docs()
    for s in summary:
        print(f"{s['arm']:22s} acc {s['accuracy']:.4f} below clean "
              f"{s['points_below_clean']:+.2f} recovered {fmt(s['recovered'])} "
              f"labels right {s['labels_right']:.3f} met {s['met']}")


if __name__ == "__main__":
    main()
