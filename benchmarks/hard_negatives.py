"""Why targeted PGKD generation did not beat untargeted: hard-negative answers.

``benchmarks/pgkd.py`` found that the PGKD arm (report-weighted classes *and*
hard negatives) did not beat untargeted generation, while the arm without
hard negatives did. This script varies only how the simulated generator
answers the hard negatives, and the student's class weights:

* ``pair`` -- :class:`~skakd.augmentation.SimulatedGenerator`'s default: for a
  text of class a confused with b, a text of a among the 10 closest to b's
  centroid, then a text of b closest to a's (the most ambiguous texts);
* ``pair50`` -- the same among the 50 closest;
* ``text`` -- texts of a and b closest to the hard-negative text itself;
* ``classes`` -- random texts of a and b (benchmark-only policy below): the
  same classes, none of the geometry;
* ``untargeted`` and ``no_hard_negatives`` as in ``pgkd.py``.

Each with LogisticRegression(C=10) on MiniLM embeddings and with
``class_weight="balanced"``: hard negatives concentrate a step's samples on a
few classes, which shifts a student's class priors; balanced weights remove
that shift. 1,000 seed texts, 10 steps of 32, early stopping as ``pgkd.py``.

It measured the loop before issue 17 (the teacher chose the class mix, no
prior correction); PGKD now decides the counts and corrects the prior, see
``benchmarks/pgkd.py``.

Usage::

    python -m benchmarks.hard_negatives            # banking77 + ag_news, 5 seeds

Writes ``benchmarks/results/hard_negatives.{csv,json,png}`` and
``docs/benchmarks/hard_negatives.md``.
"""

import argparse
import csv
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD, SimulatedGenerator

from ._report import DOCS, RESULTS, ROOT
from .pgkd import EmbeddingLookup, embedding_table, read_split, score


class ConfusedClassesGenerator(SimulatedGenerator):
    """Answers each hard negative (a confused with b) with random texts of
    a and b: the classes the prompt names, without nearest-neighbour picks."""

    def _hard_negative_draws(self, request, reservoir, rng, taken):
        if not (self.targeted and request.hard_negatives):
            return []
        labels = []
        for _, label, *confused in request.hard_negatives:
            labels += [label, *confused[:1]]
        draws = []
        for j in range(int(round(self.hard_negative_share * request.n_samples))):
            members = [i for i in reservoir["by_class"].get(labels[j % len(labels)], ())
                       if i not in taken]
            if members:
                draws.append(int(rng.choice(members)))
                taken.add(draws[-1])
        return draws


POLICIES = {  # arm -> (generator factory, PGKD parameters)
    "pair": (lambda X, y, s: SimulatedGenerator(X, y, random_state=s), {}),
    "pair50": (lambda X, y, s: SimulatedGenerator(X, y, n_neighbors=50,
                                                  random_state=s), {}),
    "text": (lambda X, y, s: SimulatedGenerator(X, y, hard_negative_policy="text",
                                                random_state=s), {}),
    "classes": (lambda X, y, s: ConfusedClassesGenerator(X, y, random_state=s), {}),
    "untargeted": (lambda X, y, s: SimulatedGenerator(X, y, targeted=False,
                                                      random_state=s), {}),
    "no_hard_negatives": (lambda X, y, s: SimulatedGenerator(X, y, random_state=s),
                          {"n_hard_negatives": 0}),
}
CLASS_WEIGHTS = (None, "balanced")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["banking77", "ag_news"])
    parser.add_argument("--data-dir", type=Path,
                        default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--docs", type=Path, default=DOCS / "hard_negatives.md")
    return parser.parse_args(argv)


def run(args):
    rows = []
    for name in args.datasets:
        X_train, y_train = read_split(args.data_dir / name / "train.csv")
        X_test, y_test = read_split(args.data_dir / name / "test.csv")
        table = embedding_table(X_train, X_test)
        for seed in args.seeds:
            X_seed, X_res, y_seed, y_res = train_test_split(
                X_train, y_train, train_size=1000, stratify=y_train,
                random_state=seed)
            for weight in CLASS_WEIGHTS:
                for arm, (generator, params) in POLICIES.items():
                    start = time.perf_counter()
                    student = make_pipeline(EmbeddingLookup(table), LogisticRegression(
                        C=10, max_iter=2000, class_weight=weight))
                    clf = ActiveDistillationClassifier(
                        student, teacher=generator(X_res, y_res, seed),
                        sampler=PGKD(batch_size=32, patience=5, **params),
                        max_iter=10, random_state=seed,
                    ).fit(X_seed, y_seed)
                    kept = clf.label_source_ == "generated"
                    counts = np.unique(clf.labeled_y_[kept], return_counts=True)[1]
                    rows.append({
                        "dataset": name, "seed": seed, "arm": arm,
                        "class_weight": weight or "none",
                        **score(clf, X_test, y_test),
                        "n_generated_kept": int(kept.sum()),
                        # How concentrated the kept samples are on few classes.
                        "top_class_share": top_class_share(counts),
                        "seconds": time.perf_counter() - start,
                    })
                    print(f"{name} seed={seed} {weight or 'none':8s} {arm:18s} "
                          f"acc={rows[-1]['accuracy']:.4f}", flush=True)
    return rows


def top_class_share(counts):
    """Share of the samples in the most frequent tenth of the classes (at
    least one class): 0.1 when spread evenly over every class."""
    k = max(1, round(0.1 * len(counts)))
    return float(np.sort(counts)[-k:].sum() / max(counts.sum(), 1))


def summarise(rows):
    groups = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["class_weight"], r["arm"]), []).append(r)
    return [{
        "dataset": d, "class_weight": w, "arm": a, "n_seeds": len(g),
        **{f"{k}_{stat}": float(f(np.array([r[k] for r in g])))
           for k in ("accuracy", "macro_f1", "top_class_share")
           for stat, f in (("mean", np.mean), ("sd", lambda v: np.std(v, ddof=1)))},
    } for (d, w, a), g in groups.items()]


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({s["dataset"] for s in summary})
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4),
                             squeeze=False)
    for ax, name in zip(axes[0], datasets):
        for k, weight in enumerate(("none", "balanced")):
            part = [s for s in summary
                    if s["dataset"] == name and s["class_weight"] == weight]
            x = np.arange(len(part)) + (k - 0.5) * 0.35
            ax.bar(x, [s["accuracy_mean"] for s in part], 0.35,
                   yerr=[s["accuracy_sd"] for s in part], capsize=3,
                   label=f"class_weight={weight}")
        ax.set_xticks(range(len(part)), [s["arm"] for s in part], rotation=25,
                      ha="right")
        means = [s["accuracy_mean"] for s in summary if s["dataset"] == name]
        ax.set_ylim(min(means) - 0.02, max(means) + 0.015)
        ax.set_title(f"{name}: test accuracy (mean ± sd over seeds)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_docs(summary, meta, path):
    lines = [
        "# PGKD: how the simulated generator answers hard negatives",
        "",
        "Follow-up to [PGKD](pgkd.md), where targeted generation (report + hard "
        "negatives) did not beat untargeted generation with the MiniLM + "
        "LogisticRegression student. Arms, student and budget: see the "
        "docstring of `benchmarks/hard_negatives.py` (1,000 seed texts, 10 "
        "steps of 32 simulated samples, early stopping with patience 5, "
        "full test split). `top share` is the share of the kept generated "
        "samples that fall in their most frequent tenth of the classes (at "
        "least one class; counted among the classes that got samples).",
        "",
        f"Reproduce: `{meta['command']}` (started {meta['started']}, load "
        f"average {', '.join(f'{x:.1f}' for x in meta['loadavg'])} on "
        f"{meta['cpu_count']} CPUs, {meta['minutes']:.1f} min).",
        "",
    ]
    for name in sorted({s["dataset"] for s in summary}):
        lines += [f"## {name}", "",
                  "| arm | accuracy (class_weight=None) | top share "
                  "| accuracy (balanced) | top share |",
                  "|---|---|---|---|---|"]
        cells = {(s["class_weight"], s["arm"]): s for s in summary
                 if s["dataset"] == name}
        for arm in POLICIES:
            row = [arm]
            for weight in ("none", "balanced"):
                s = cells[(weight, arm)]
                row += [f"{s['accuracy_mean']:.4f} ± {s['accuracy_sd']:.4f}",
                        f"{s['top_class_share_mean']:.2f}"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    lines += ["![hard negatives](../../benchmarks/results/hard_negatives.png)", "",
              "Per run: `benchmarks/results/hard_negatives.csv`.", ""]
    # A hand-written "## Reading" section at the end of the page survives.
    old = path.read_text() if path.is_file() else ""
    reading = old[old.find(READING):] if READING in old else ""
    path.write_text("\n".join(lines) + reading)


READING = "## Reading"


def main(argv=None):
    args = parse_args(argv)
    meta = {"command": " ".join(["python benchmarks/hard_negatives.py",
                                 *(sys.argv[1:] if argv is None else argv)]),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "loadavg": os.getloadavg(), "cpu_count": os.cpu_count()}
    start = time.perf_counter()
    with threadpool_limits(1):
        rows = run(args)
    meta["minutes"] = (time.perf_counter() - start) / 60
    summary = summarise(rows)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with (args.out_dir / "hard_negatives.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out_dir / "hard_negatives.json").write_text(
        json.dumps({**meta, "summary": summary}, indent=2))
    plot(summary, args.out_dir / "hard_negatives.png")
    write_docs(summary, meta, args.docs)


if __name__ == "__main__":
    main()
