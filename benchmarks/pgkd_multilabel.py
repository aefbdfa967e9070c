"""PGKD on label sets (GoEmotions): does it lift a multi-label student over
its seed alone?

For each seed size and random state, ``--seed`` random training rows are
the seed and the other training rows the reservoir a
:class:`skakd.augmentation.SimulatedGenerator` draws from (real unseen
texts with their label sets, each handed out once). The student is
one-vs-rest logistic regression (balanced, liblinear) on TF-IDF, the
multi-label default, deciding at 0.5; every arm passes the 28 labels as
``classes=`` so that PGKD can ask for labels the seed lacks. Arms:

* ``seed_only``: the student on the whole seed;
* ``random_texts``: the seed plus as many random reservoir rows as
  ``pgkd`` kept (the label mix of the data, no allocation);
* ``untargeted``: ``PGKD(allocation="uniform", include_report=False,
  n_hard_negatives=0)`` with ``targeted=False`` (an even mix of labels);
* ``pgkd_reservoir``: ``PGKD()`` with ``targeted=False`` (the counts ask
  for texts carrying the labels of largest error; texts drawn at random
  within a label);
* ``pgkd``: ``PGKD()`` with ``targeted=True`` (half of each batch near the
  hard negatives).

Test micro-F1 and macro-F1 on the test split. Writes
``benchmarks/results/pgkd_multilabel.json`` / ``pgkd_multilabel.csv``.

Usage::

    python -m benchmarks.pgkd_multilabel            # 200 and 400 rows, 3 states
    python -m benchmarks.pgkd_multilabel --quick    # 200 rows, 1 state
"""

import argparse
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from skakd import ActiveDistillationClassifier, MultiLabelStudent
from skakd.augmentation import PGKD, SimulatedGenerator

from ._report import RESULTS, command_line, machine_info, write_csv, write_json
from .multilabel import load

ARMS = ("seed_only", "random_texts", "untargeted", "pgkd_reservoir", "pgkd")
ARM_PARAMS = {
    "untargeted": ({"allocation": "uniform", "include_report": False,
                    "n_hard_negatives": 0}, False),
    "pgkd_reservoir": ({}, False),
    "pgkd": ({}, True),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[200, 400])
    parser.add_argument("--random-states", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.seed, args.random_states, args.rounds = [200], [0], 5
    return args


def student(state):
    return make_pipeline(TfidfVectorizer(), OneVsRestClassifier(LogisticRegression(
        max_iter=1000, class_weight="balanced", solver="liblinear",
        random_state=state)))


def scores(model, X_test, Y_test):
    predicted = model.predict(X_test)
    return {"micro_f1": f1_score(Y_test, predicted, average="micro", zero_division=0),
            "macro_f1": f1_score(Y_test, predicted, average="macro", zero_division=0)}


def run_cell(data, n_seed, state, args):
    """Every arm on one seed: a row per arm."""
    X, sets, X_test, Y_test, classes = data
    order = np.random.default_rng(state).permutation(len(X))
    seed, rest = order[:n_seed], order[n_seed:]
    seed_sets = [sets[i] for i in seed]
    rows, kept = [], None
    for arm in ("pgkd", *[a for a in ARMS if a != "pgkd"]):
        start = time.perf_counter()
        row = {"seed": n_seed, "random_state": state, "arm": arm}
        if arm in ARM_PARAMS:
            params, targeted = ARM_PARAMS[arm]
            teacher = SimulatedGenerator(X[rest], [sets[i] for i in rest],
                                         targeted=targeted, random_state=state)
            clf = ActiveDistillationClassifier(
                student(state), teacher=teacher, classes=classes,
                sampler=PGKD(batch_size=args.batch_size, **params),
                max_iter=args.rounds, random_state=state).fit(X[seed], seed_sets)
            generated = clf.label_source_ == "generated"
            asked = [r["class_counts"] for r in clf.history_[1:]]
            rare = np.argsort(clf.labeled_y_[~generated].sum(axis=0))[:7]
            row.update(scores(clf, X_test, Y_test), n_generated=int(generated.sum()),
                       rare_share_seed=_carrying(clf.labeled_y_[~generated], rare),
                       rare_share_generated=_carrying(clf.labeled_y_[generated], rare),
                       n_asked=sum(sum(c.values()) for c in asked))
            kept = kept if kept is not None else int(generated.sum())
        else:
            extra = rest[:kept] if arm == "random_texts" else rest[:0]
            rows_ = np.concatenate([seed, extra])
            model = MultiLabelStudent(student(state), classes).fit(
                X[rows_], _indicator([sets[i] for i in rows_], classes))
            row.update(scores(model, X_test, Y_test), n_generated=len(extra))
        row["seconds"] = round(time.perf_counter() - start, 2)
        rows.append(row)
        print(row, flush=True)
    return rows


def _carrying(Y, columns):
    """Share of rows carrying one of ``columns`` (the seed's rarest labels)."""
    return float(Y[:, columns].any(axis=1).mean()) if len(Y) else None


def _indicator(sets, classes):
    return np.array([[c in labels for c in classes] for labels in sets], dtype=int)


def summarise(rows):
    summary = []
    for n_seed in sorted({r["seed"] for r in rows}):
        base = {r["random_state"]: r["micro_f1"] for r in rows
                if r["seed"] == n_seed and r["arm"] == "seed_only"}
        for arm in ARMS:
            cell = [r for r in rows if r["seed"] == n_seed and r["arm"] == arm]
            micro = np.array([r["micro_f1"] for r in cell])
            gain = np.array([r["micro_f1"] - base[r["random_state"]] for r in cell])
            summary.append({
                "seed": n_seed, "arm": arm, "n_runs": len(cell),
                "micro_f1": round(float(micro.mean()), 4),
                "micro_f1_sd": round(float(micro.std()), 4),
                "macro_f1": round(float(np.mean([r["macro_f1"] for r in cell])), 4),
                "gain_over_seed": round(float(gain.mean()), 4),
                "n_generated": round(float(np.mean([r["n_generated"] for r in cell])),
                                     1)})
    return summary


def main(argv=None):
    args = parse_args(argv)
    data = load()
    rows = []
    with threadpool_limits(1):
        for n_seed in args.seed:
            for state in args.random_states:
                rows += run_cell(data, n_seed, state, args)
    summary = summarise(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "pgkd_multilabel_quick" if args.quick else "pgkd_multilabel"
    write_csv(RESULTS / f"{stem}.csv", summary)
    write_json(RESULTS / f"{stem}.json", {
        "command": command_line("pgkd_multilabel", argv),
        "machine": machine_info(), "args": vars(args), "summary": summary,
        "runs": rows})
    for row in summary:
        print(row)


if __name__ == "__main__":
    main()
