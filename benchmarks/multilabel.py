"""Multi-label distillation on GoEmotions: teacher labels to reach 90% of
the full-data micro-F1, per sampling strategy, and M-RARU's selection time.

An oracle teacher answers GoEmotions' label sets (28 emotions); the student
is the classifier's multi-label default, one-vs-rest logistic regression,
on TF-IDF of the texts (``--student tfidf``) or on MiniLM sentence
embeddings computed once and cached (``--student minilm``). Each strategy
starts from the same random seed rows per seed and asks the teacher
``--batch`` items a round up to ``--budget`` labels; micro-F1, macro-F1 and
Hamming loss on the test split are recorded after every round.

    python -m benchmarks.multilabel            # 3 seeds, every strategy
    python -m benchmarks.multilabel --student minilm
    python -m benchmarks.multilabel --quick    # 1 seed, random vs M-RARU

Writes ``benchmarks/results/multilabel[_minilm][_quick].{json,csv,png}`` and
the student's generated section of ``docs/benchmarks/multilabel.md``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, hamming_loss
from sklearn.multiclass import OneVsRestClassifier

from skakd import ActiveDistillationClassifier, MultiLabelStudent, Pool
from skakd.callbacks import Callback
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler
from skakd.teachers import OracleTeacher

from ._common import embed
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

DATA = Path("/work/shared/data/goemotions")
TARGET_SHARE = 0.9


def strategies(batch):
    """The samplers compared, by name."""
    return {
        "random": RandomSampler(batch),
        # MRARU() on a multi-label student accepts by rank (acceptance="auto").
        "mraru_mean": MRARU(batch, label_aggregation="mean"),
        "mraru_max": MRARU(batch, label_aggregation="max"),
        "mraru_cardinality": MRARU(batch, label_aggregation="cardinality"),
        "mraru_mean_entropy": MRARU(batch, strategy="entropy",
                                    label_aggregation="mean"),
        # The rule before ranks: accept with u ** g, u the mean itself.
        "mraru_mean_score": MRARU(batch, label_aggregation="mean",
                                  acceptance="score"),
        "uncertainty_max": UncertaintySampler(batch, strategy="margin",
                                              label_aggregation="max"),
        "uncertainty_mean": UncertaintySampler(batch, strategy="margin",
                                               label_aggregation="mean"),
        "uncertainty_cardinality": UncertaintySampler(
            batch, strategy="margin", label_aggregation="cardinality"),
    }


QUICK = ("random", "mraru_mean")
# MRARU() and UncertaintySampler() as a multi-label fit gets them by default.
DEFAULT = "mraru_mean"
DEFAULT_EXHAUSTIVE = "uncertainty_mean"


class _TestScores(Callback):
    """micro-F1, macro-F1 and Hamming loss of the student on the test split."""

    def __init__(self, X, Y):
        self.X = X
        self.Y = Y

    def on_fit_begin(self, clf):
        clf.history_[0].update(self._scores(clf))

    def on_round_end(self, clf, record):
        record.update(self._scores(clf))
        return False

    def _scores(self, clf):
        predicted = clf.estimator_.predict(self.X)
        return {
            "micro_f1": f1_score(self.Y, predicted, average="micro", zero_division=0),
            "macro_f1": f1_score(self.Y, predicted, average="macro", zero_division=0),
            "hamming": hamming_loss(self.Y, predicted),
        }


def load(folder=DATA):
    """``(train texts, train label sets, test texts, test indicator, classes)``."""
    train, test = (pd.read_csv(folder / f"{part}.csv", keep_default_na=False)
                   for part in ("train", "test"))
    sets = [labels.split("|") if labels else [] for labels in train["labels"]]
    classes = sorted({label for labels in sets for label in labels})
    test_sets = [labels.split("|") if labels else [] for labels in test["labels"]]
    Y_test = np.array([[c in labels for c in classes] for labels in test_sets],
                      dtype=int)
    return (np.array(train["text"], dtype=object), sets,
            np.array(test["text"], dtype=object), Y_test, classes)


def featurize(data, student):
    """``data`` with its texts as the ``student``'s input: the texts for
    ``"tfidf"`` (the classifier's default student vectorises them), MiniLM
    sentence embeddings for ``"minilm"``, computed once and cached on disk
    (:func:`benchmarks._common.embed`); the classifier's default student on
    numeric features is then the same one-vs-rest logistic regression."""
    if student == "tfidf":
        return data
    X, sets, X_test, Y_test, classes = data
    return embed(list(X)), sets, embed(list(X_test)), Y_test, classes


def estimator(student):
    """The student's classifier: ``None``, the classifier's multi-label
    default (TF-IDF, one-vs-rest LR with balanced class weights), for TF-IDF;
    for MiniLM embeddings one-vs-rest LR with ``C=10`` (as the students
    benchmark's embedding students) and no class weights: with balanced
    weights its micro-F1 is about flat, .30 from 100 rows to .32 from 4,000,
    so 90% of the full-data score is reached by the seed rows alone."""
    if student == "tfidf":
        return None
    return OneVsRestClassifier(LogisticRegression(C=10, max_iter=1000,
                                                  solver="liblinear"))


def full_data_f1(X, sets, X_test, Y_test, classes, student=None):
    """micro-F1 of the student trained on every training row."""
    clf = ActiveDistillationClassifier(estimator=student, classes=classes).fit(
        X, sets)
    return f1_score(Y_test, clf.predict(X_test), average="micro")


def run_one(name, sampler, data, seed, n_seed, budget, student=None):
    X, sets, X_test, Y_test, classes = data
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    seed_rows, pool_rows = order[:n_seed], order[n_seed:]
    clf = ActiveDistillationClassifier(
        estimator=student, teacher=OracleTeacher(X, sets), sampler=sampler,
        max_iter=None,
        max_labels=budget, classes=classes, random_state=seed,
        callbacks=[_TestScores(X_test, Y_test)],
    )
    start = time.perf_counter()
    clf.fit(X[seed_rows], [sets[i] for i in seed_rows], X_pool=Pool(X[pool_rows]))
    return {
        "strategy": name, "seed": seed, "seconds": time.perf_counter() - start,
        "n_labels": [n - n_seed for n in clf.history_[:, "n_labeled"]],
        **{key: clf.history_[:, key] for key in ("micro_f1", "macro_f1", "hamming")},
        "select_seconds": [r.get("select_seconds", 0.0) for r in clf.history_],
    }


def labels_to_reach(run, target):
    """Teacher labels at the first round whose micro-F1 reaches ``target``."""
    for n, score in zip(run["n_labels"], run["micro_f1"]):
        if score >= target:
            return n
    return None


def selection_seconds(n_pool=10**6, n_labels=28, n_repeats=30):
    """Median seconds of ``MRARU().select`` of 25 items from ``n_pool`` rows
    of 20 numeric features, the student a one-vs-rest logistic regression
    over ``n_labels`` labels."""
    X, Y = make_multilabel_classification(n_samples=2000, n_features=20,
                                          n_classes=n_labels, random_state=0)
    student = MultiLabelStudent(OneVsRestClassifier(LogisticRegression()),
                                np.arange(n_labels)).fit(X, Y)
    pool = np.random.default_rng(0).normal(size=(n_pool, 20)) * X.std() + X.mean()
    candidates = np.arange(n_pool)
    sampler = MRARU(25)
    times = []
    for repeat in range(n_repeats):
        sampler.select(student, pool, candidates, 25, random_state=repeat)
        times.append(sampler.last_stats_["seconds"])
    return float(np.median(times))


def summarise(runs, target, budget):
    """One row per strategy: labels to the target per seed, and their mean."""
    rows = []
    for name in dict.fromkeys(run["strategy"] for run in runs):
        reached = [labels_to_reach(run, target) for run in runs
                   if run["strategy"] == name]
        mine = [run for run in runs if run["strategy"] == name]
        rows.append({
            "strategy": name,
            "labels_per_seed": reached,
            # A seed that never reached the target counts as the budget: a
            # lower bound, flagged by n_reached.
            "mean_labels": float(np.mean([budget if n is None else n
                                          for n in reached])),
            "n_reached": sum(n is not None for n in reached),
            "final_micro_f1": float(np.mean([run["micro_f1"][-1] for run in mine])),
            "final_macro_f1": float(np.mean([run["macro_f1"][-1] for run in mine])),
            "seconds": float(np.mean([run["seconds"] for run in mine])),
        })
    return rows


STUDENTS = {"tfidf": "TF-IDF + one-vs-rest LR (balanced)",
            "minilm": "MiniLM + one-vs-rest LR (C=10)"}


def stem_for(student, quick=False):
    """The results files' name: ``multilabel[_minilm][_quick]``."""
    return ("multilabel" + ("" if student == "tfidf" else f"_{student}")
            + ("_quick" if quick else ""))


def plot(runs, target, path, student="tfidf"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name in dict.fromkeys(run["strategy"] for run in runs):
        mine = [run for run in runs if run["strategy"] == name]
        length = min(len(run["micro_f1"]) for run in mine)
        curve = np.mean([run["micro_f1"][:length] for run in mine], axis=0)
        # random in black, exhaustive strategies dashed: colours repeat.
        style = ({"color": "black", "linewidth": 2} if name == "random" else
                 {"linestyle": "--"} if name.startswith("uncertainty") else {})
        ax.plot(mine[0]["n_labels"][:length], curve, label=name, **style)
    ax.axhline(target, color="grey", linestyle=":", label="90% of full data")
    ax.set_xlabel("teacher labels")
    ax.set_ylabel("test micro-F1 (mean over seeds)")
    ax.set_title(f"GoEmotions, 28 labels: {STUDENTS[student]}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def verdict(rows):
    """The default's labels against random and the best exhaustive strategy."""
    mean = {r["strategy"]: r["mean_labels"] for r in rows}
    if DEFAULT not in mean or "random" not in mean:
        return []
    exhaustive = {k: v for k, v in mean.items() if k.startswith("uncertainty")}
    best = min(exhaustive, key=exhaustive.get) if exhaustive else None
    saving = 1 - mean[DEFAULT] / mean["random"]
    compared = f"{saving:.0%} fewer" if saving >= 0 else f"{-saving:.0%} more"
    line = (f"M-RARU's multi-label default ({DEFAULT}: `MRARU()`) needs "
            f"{compared} teacher labels than random (target: at least 30% "
            "fewer)")
    if best is not None:
        line += (f"; the best exhaustive strategy ({best}) needs "
                 f"{exhaustive[best]:.0f} against its {mean[DEFAULT]:.0f} "
                 "(target: no more)")
    return [line + "."]


def report(payload, stem):
    target, rows = payload["target_micro_f1"], payload["summary"]
    student = payload.get("student", "tfidf")
    table = markdown_table(
        ["strategy", "teacher labels to target (per seed)", "mean", "final micro-F1",
         "final macro-F1"],
        [[r["strategy"], ", ".join(fmt(n, "{}", f">{payload['budget']}")
                                   for n in r["labels_per_seed"]),
          fmt(r["mean_labels"], "{:.0f}"), fmt(r["final_micro_f1"]),
          fmt(r["final_macro_f1"])] for r in rows], "llrrr")
    lines = [
        f"Measured {payload['machine']['timestamp_utc']} "
        f"(load average {payload['machine']['loadavg'][0]:.1f} on "
        f"{payload['machine']['cpu_count']} cores) by `{payload['command']}`.",
        "",
        f"Student {STUDENTS[student]}. "
        f"Full-data micro-F1 {payload['full_micro_f1']:.3f}; target "
        f"{TARGET_SHARE:.0%} of it, {target:.3f}. Seed {payload['n_seed']} rows, "
        f"batch {payload['batch']}, budget {payload['budget']} teacher labels, "
        f"seeds {payload['seeds']}.",
        "",
        *table,
        "",
        *verdict(rows),
        "",
        f"M-RARU selection of 25 from 10^6 rows, 28 labels: "
        f"{payload['selection_ms']:.2f} ms (median of 30; target at most 5 ms).",
        "",
        f"![learning curves](../../benchmarks/results/{stem}.png)",
    ]
    source = "benchmarks.multilabel" + ("" if student == "tfidf"
                                        else f" --student {student}")
    write_generated(DOCS / "multilabel.md", lines, source)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--student", choices=list(STUDENTS), default="tfidf",
                        help="TF-IDF on the texts, or LR on cached MiniLM "
                        "embeddings")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--strategies", nargs="+", default=None)
    parser.add_argument("--seed-size", type=int, default=100)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--budget", type=int, default=1500)
    parser.add_argument("--stem", default=None,
                        help="results file name (a side experiment: the docs "
                        "page is left alone)")
    parser.add_argument("--summarize", action="store_true",
                        help="rewrite the docs page from the results file")
    parser.add_argument("--add", action="store_true",
                        help="add these strategies' runs to the results file, "
                        "replacing theirs (same settings)")
    args = parser.parse_args(argv)
    if args.summarize:
        import json

        stem = stem_for(args.student)
        payload = json.loads((RESULTS / f"{stem}.json").read_text())
        plot(payload["runs"], payload["target_micro_f1"], RESULTS / f"{stem}.png",
             args.student)
        report(payload, stem)
        return
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    names = args.strategies or (QUICK if args.quick else list(strategies(1)))
    data = featurize(load(), args.student)
    full = full_data_f1(*data, estimator(args.student))
    target = TARGET_SHARE * full
    stem = args.stem or stem_for(args.student, args.quick)
    runs, commands = [], [command_line("multilabel", argv)]
    if args.add:
        import json

        earlier = json.loads((RESULTS / f"{stem}.json").read_text())
        runs = [run for run in earlier["runs"] if run["strategy"] not in names]
        commands = [*earlier["command"].split(" && "), *commands]
    for seed in seeds:
        for name in names:
            sampler = strategies(args.batch)[name]
            runs.append(run_one(name, sampler, data, seed, args.seed_size,
                                args.budget, estimator(args.student)))
            print(name, seed, labels_to_reach(runs[-1], target),
                  round(runs[-1]["micro_f1"][-1], 3), flush=True)
    payload = {
        "command": " && ".join(commands), "machine": machine_info(),
        "student": args.student,
        "full_micro_f1": full, "target_micro_f1": target, "n_seed": args.seed_size,
        "batch": args.batch, "budget": args.budget, "seeds": seeds,
        "summary": summarise(runs, target, args.budget),
        "selection_ms": 1000 * selection_seconds(), "runs": runs,
    }
    write_json(RESULTS / f"{stem}.json", payload)
    write_csv(RESULTS / f"{stem}.csv", [
        {k: v for k, v in row.items() if k != "labels_per_seed"}
        for row in payload["summary"]])
    plot(runs, target, RESULTS / f"{stem}.png", args.student)
    if stem == stem_for(args.student):
        report(payload, stem)
    for row in payload["summary"]:
        print(row)
    print("selection ms", round(payload["selection_ms"], 2))


if __name__ == "__main__":
    main()
