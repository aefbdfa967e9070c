"""A real local model as a cascade's cheap stage: SmolLM2 first, a perfect
teacher where it is unsure.

One M-RARU fit on trec (TF-IDF + logistic regression student, ``--seed``
texts per class, ``--max-labels`` labels from ``--pool`` training texts in
rounds of ``--batch-size``) per teacher:

* **strong**: the gold labels (``OracleTeacher``) at 1.0 per label;
* **cascade_t<x>**: :class:`skakd.teachers.TeacherCascade` of the bundled
  SmolLM2-135M-Instruct (served by :class:`skakd.teachers.LlamaCppServer`,
  asked through ``OpenAITeacher(confidence="logprobs")``, free) into the
  gold labels, keeping the local answers with a confidence of at least
  ``x``.

Reports each student's test accuracy and bill against the strong teacher
alone, the share of labels the local model gave and how many of those were
right, whatever they are (the issue asks for them, not for a target).

    python -m benchmarks.real_cascade           # thresholds 0.9 and 0.99
    python -m benchmarks.real_cascade --quick   # 40 labels, threshold 0.9

Writes ``benchmarks/results/real_cascade[_quick].{json,csv}`` and, for a
full run, a generated section of ``docs/benchmarks/confidence.md``.
"""

import argparse
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU
from skakd.teachers import LlamaCppServer, OracleTeacher, TeacherCascade

from ._common import DEFAULT_DATA, load_csv_folder
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
from .confidence import INSTRUCTIONS

DOC = DOCS / "confidence.md"
SOURCE = "benchmarks/real_cascade.py"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.9, 0.99])
    parser.add_argument("--seed", type=int, default=2, help="seed texts per class")
    parser.add_argument("--pool", type=int, default=1500)
    parser.add_argument("--max-labels", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.thresholds, args.max_labels = args.thresholds[:1], 40
    return args


def split(args):
    X, y, X_test, y_test = load_csv_folder(DEFAULT_DATA / "trec")
    X = np.array(X, dtype=object)
    rng = np.random.default_rng(args.random_state)
    seed = np.concatenate([rng.choice(np.flatnonzero(y == c), args.seed,
                                      replace=False) for c in np.unique(y)])
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), seed))[:args.pool]
    return X[seed], y[seed], X[rest], y[rest], X_test, y_test


def fit(teacher, data, args):
    X_seed, y_seed, X_pool, _, X_test, y_test = data
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(sublinear_tf=True),
                      LogisticRegression(C=10, max_iter=2000)),
        teacher=teacher, sampler=MRARU(batch_size=args.batch_size),
        max_iter=-(-args.max_labels // args.batch_size),
        max_labels=args.max_labels, random_state=args.random_state)
    start = time.perf_counter()
    clf.fit(X_seed, y_seed, X_pool=X_pool)
    return clf, clf.score(X_test, y_test), time.perf_counter() - start


def row(name, clf, accuracy, seconds, truth):
    taught = clf.label_source_ == "teacher"
    local = taught & (clf.label_teacher_ == "local")
    right = np.array([truth[x] == label for x, label in
                      zip(clf.labeled_X_, clf.labeled_y_)])
    return {
        "teacher": name, "n_labels": int(taught.sum()), "accuracy": accuracy,
        "bill": float(clf.teacher_cost_),
        "share_local": float(local.sum() / max(taught.sum(), 1)),
        "local_right": float(right[local].mean()) if local.any() else None,
        "labels_right": float(right[taught].mean()), "seconds": seconds,
    }


def page(payload):
    strong = payload["runs"][0]
    return [
        "### Measured", "",
        f"Command: `{payload['command']}`; load average "
        f"{', '.join(f'{x:.1f}' for x in payload['machine']['loadavg'])} at "
        f"the start, {payload['seconds'] / 60:.0f} minutes. trec, M-RARU "
        f"(rounds of {payload['setup']['batch_size']}) from "
        f"{payload['setup']['seed']} texts per class to "
        f"{payload['setup']['max_labels']} labels from "
        f"{payload['setup']['pool']} pool texts; the strong teacher is the "
        "gold labels at 1.0 per label.", "",
        *markdown_table(
            ["teacher", "labels", "student accuracy", "points below strong",
             "bill / strong", "labels by the local model", "of those right",
             "labels right"],
            [[r["teacher"], r["n_labels"], fmt(r["accuracy"]),
              fmt((strong["accuracy"] - r["accuracy"]) * 100, "{:+.1f}"),
              fmt(r["bill"] / strong["bill"]), fmt(r["share_local"], "{:.0%}"),
              fmt(r["local_right"]), fmt(r["labels_right"])]
             for r in payload["runs"]], "lrrrrrrr"),
    ]


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    payload = {"command": command_line("real_cascade", argv),
               "machine": machine_info(), "setup": vars(args)}
    data = split(args)
    truth = dict(zip(np.concatenate([data[0], data[2]]).tolist(),
                     np.concatenate([data[1], data[3]]).tolist()))
    strong = OracleTeacher(list(truth), list(truth.values()), cost_per_item=1.0)
    runs = [row("strong", *fit(strong, data, args), truth)]
    with LlamaCppServer() as server:
        local = server.teacher(confidence="logprobs", batch_size=10, cache=None,
                               instructions=INSTRUCTIONS["trec"])
        for threshold in args.thresholds:
            cascade = TeacherCascade([("local", local), ("strong", strong)],
                                     min_confidence=threshold)
            runs.append(row(f"cascade_t{threshold:g}", *fit(cascade, data, args),
                            truth))
            print(runs[-1], flush=True)
        payload["model"] = server.model
    payload.update(runs=runs, seconds=time.perf_counter() - start)
    stem = "real_cascade_quick" if args.quick else "real_cascade"
    write_json(RESULTS / f"{stem}.json", payload)
    write_csv(RESULTS / f"{stem}.csv", runs)
    if not args.quick:
        write_generated(DOC, page(payload), SOURCE)
    return payload


if __name__ == "__main__":
    main()
