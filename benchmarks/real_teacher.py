"""A real local LLM as the teacher: SmolLM2-135M through llama.cpp.

Every teacher call goes to :class:`skakd.teachers.LlamaCppServer` (the
bundled SmolLM2-135M-Instruct, Q4_1, on this machine's CPUs) through
:class:`skakd.teachers.OpenAITeacher`. Three parts:

* ``labelling`` -- the model labels random test texts of trec
  (``--n-label``) and banking77 (``--n-label-banking77``) with 0, 1 and 3
  training examples per class in the prompt: accuracy against the gold
  labels, the share it could not label (answers outside the label set,
  missing or unreadable), seconds per label, tokens;
* ``distillation`` -- one M-RARU fit on trec (TF-IDF + LogisticRegression
  student, ``--seed-per-class`` seed texts per class, ``--max-labels``
  labels from ``--pool`` training texts) with the local model as teacher,
  and the same fit with ``OracleTeacher`` (the gold labels): test
  accuracy, teacher agreement with the gold labels, bill;
* ``pgkd`` -- one PGKD fit on trec with the local model writing texts
  (``--pgkd-rounds`` rounds of ``--pgkd-batch``) against the seed alone:
  test accuracy, and how many generated texts the screen kept and why it
  dropped the rest.

Writes ``benchmarks/results/real_teacher[_quick].json`` (everything, with
the command and machine), ``real_teacher[_quick]_labelling.csv``,
``real_teacher[_quick].png`` and, for a full run, the generated section of
``docs/benchmarks/real_teacher.md``.

Usage::

    python -m benchmarks.real_teacher           # ~20 minutes on 2 busy cores
    python -m benchmarks.real_teacher --quick   # ~3 minutes
"""

import argparse
import os
import time
from collections import Counter

import numpy as np
import openai
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import LlamaCppServer, OracleTeacher

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

DATASETS = ("trec", "banking77")
DOC = DOCS / "real_teacher.md"
SOURCE = "benchmarks/real_teacher.py"
SHOTS = (0, 1, 3)
INSTRUCTIONS = {
    "trec": "Classify each question by the type of its answer: ABBR "
            "abbreviation, DESC description or definition, ENTY entity, HUM "
            "human or organisation, LOC location, NUM number, date or amount.",
    "banking77": "Classify each message a bank's customer sent by its intent.",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-label", type=int, default=20,
                        help="trec test texts each labelling run labels")
    parser.add_argument("--n-label-banking77", type=int, default=10,
                        help="banking77 test texts each labelling run labels "
                             "(its prompts are long: 17 s per label on 2 "
                             "busy cores)")
    parser.add_argument("--batch-size", type=int, default=10,
                        help="texts per labelling request")
    parser.add_argument("--n-parallel", type=int, default=2,
                        help="server slots (and client concurrency)")
    parser.add_argument("--ctx-size", type=int, default=8192,
                        help="tokens per slot (banking77 with 3 examples per "
                             "class needs about 6,000)")
    parser.add_argument("--seed-per-class", type=int, default=2)
    parser.add_argument("--pool", type=int, default=1500)
    parser.add_argument("--max-labels", type=int, default=60)
    parser.add_argument("--mraru-batch", type=int, default=10)
    parser.add_argument("--pgkd-seed-per-class", type=int, default=10)
    parser.add_argument("--pgkd-rounds", type=int, default=2)
    parser.add_argument("--pgkd-batch", type=int, default=8)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="trec only, 0 and 1 examples, fewer texts")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.shots = ("trec",), (0, 1)
        args.n_label, args.max_labels, args.pgkd_rounds = 10, 20, 1
    else:
        args.datasets, args.shots = DATASETS, SHOTS
    return args


def load(name):
    """The data set with its texts as arrays (for fancy indexing)."""
    data = load_dataset(name)
    for split in ("X_train", "X_test"):
        data[split] = np.array(data[split], dtype=object)
    return data


def max_tokens(n_items):
    """An answer's token budget: ~30 tokens per JSON entry with a long
    banking77 label, and room for the wrapper. The label schema does not
    bound the list, and a small model may go on writing entries until it
    is cut: the budget keeps that to seconds instead of 4,096 tokens."""
    return 64 + 48 * n_items


def student():
    return make_pipeline(TfidfVectorizer(sublinear_tf=True),
                         LogisticRegression(C=10, max_iter=2000))


def per_class(y, n, rng):
    """Indices of ``n`` random examples of every class of ``y``."""
    return np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False)
                           for c in np.unique(y)])


# -- labelling ----------------------------------------------------------------

def run_labelling(server, args, name, shots):
    data = load(name)
    rng = np.random.default_rng(args.random_state)
    n_label = args.n_label_banking77 if name == "banking77" else args.n_label
    picked = rng.choice(len(data.y_test), n_label, replace=False)
    texts, gold = data.X_test[picked].tolist(), data.y_test[picked]
    examples = ([(data.X_train[i], data.y_train[i])
                 for i in per_class(data.y_train, shots, rng)] if shots else None)
    teacher = server.teacher(instructions=INSTRUCTIONS[name], examples=examples,
                             batch_size=args.batch_size, cache=None,
                             max_tokens=max_tokens(args.batch_size))
    start = time.perf_counter()
    try:
        result = teacher.label(texts, list(data.classes))
    except openai.BadRequestError as error:  # e.g. a prompt over ctx_size
        print(f"label {name} {shots}-shot: {error}", flush=True)
        return {"dataset": name, "n_classes": len(data.classes), "shots": shots,
                "n_texts": len(texts), "batch_size": args.batch_size,
                "error": str(error), "seconds": time.perf_counter() - start}
    seconds = time.perf_counter() - start
    labels = np.array(result.labels, dtype=object)
    answered = np.array([label is not None for label in labels])
    row = {
        "dataset": name, "n_classes": len(data.classes), "shots": shots,
        "n_texts": len(texts), "batch_size": args.batch_size,
        "accuracy": float(np.mean(labels == gold)),
        "accuracy_answered": (float(np.mean(labels[answered] == gold[answered]))
                              if answered.any() else None),
        "share_unlabeled": float(1 - answered.mean()),
        "reasons": dict(Counter(r for r in result.reasons or () if r)),
        "majority_share": max(Counter(labels[answered]).values(), default=0)
        / max(answered.sum(), 1),
        "seconds": seconds, "seconds_per_label": seconds / len(texts),
        "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
        "n_requests": result.info.get("n_requests"),
        "n_corrections": result.info.get("n_corrections"),
        "cost_usd": result.cost, "structured_output": teacher.structured_output_,
    }
    print(f"label {name} {shots}-shot: acc {row['accuracy']:.3f}, unlabelled "
          f"{row['share_unlabeled']:.1%}, {row['seconds_per_label']:.2f} s/label",
          flush=True)
    return row


# -- distillation -------------------------------------------------------------

def run_distillation(server, args):
    data = load("trec")
    rng = np.random.default_rng(args.random_state)
    seed = per_class(data.y_train, args.seed_per_class, rng)
    rest = np.setdiff1d(np.arange(len(data.y_train)), seed)
    pool = rng.choice(rest, args.pool, replace=False)
    gold = dict(zip(data.X_train.tolist(), data.y_train.tolist()))
    teachers = {
        "local": server.teacher(instructions=INSTRUCTIONS["trec"], cache=None,
                                batch_size=args.batch_size,
                                max_tokens=max_tokens(args.batch_size)),
        "oracle": OracleTeacher(data.X_train, data.y_train),
    }
    rows = []
    for name, teacher in teachers.items():
        start = time.perf_counter()
        clf = ActiveDistillationClassifier(
            student(), teacher=teacher,
            sampler=MRARU(batch_size=args.mraru_batch),
            max_labels=args.max_labels, max_iter=100,
            random_state=args.random_state,
        ).fit(data.X_train[seed], data.y_train[seed], X_pool=data.X_train[pool])
        asked = clf.label_source_ == "teacher"
        taught = clf.labeled_y_[asked]
        texts = np.asarray(clf.labeled_X_, dtype=object)[asked]
        rows.append({
            "teacher": name, "n_seed": len(seed), "n_pool": len(pool),
            "n_teacher_labels": int(asked.sum()),
            "teacher_agreement": float(np.mean(
                [gold[x] == y for x, y in zip(texts, taught)])),
            "test_accuracy": accuracy_score(data.y_test, clf.predict(data.X_test)),
            "labels_in_classes": bool(np.isin(taught, clf.classes_).all()),
            "teacher_label_counts": dict(Counter(taught.tolist())),
            "cost_usd": float(clf.teacher_cost_), "n_iter": clf.n_iter_,
            "termination": clf.termination_condition_,
            "seconds": time.perf_counter() - start,
        })
        print(f"distil trec, {name} teacher: test acc "
              f"{rows[-1]['test_accuracy']:.3f}, agreement "
              f"{rows[-1]['teacher_agreement']:.3f}", flush=True)
    return rows


# -- PGKD ---------------------------------------------------------------------

def run_pgkd(server, args):
    data = load("trec")
    rng = np.random.default_rng(args.random_state)
    seed = per_class(data.y_train, args.pgkd_seed_per_class, rng)
    X_seed, y_seed = data.X_train[seed], data.y_train[seed]
    start = time.perf_counter()
    seed_only = student().fit(X_seed, y_seed)
    rows = [{"arm": "seed_only", "n_train": len(seed),
             "test_accuracy": accuracy_score(data.y_test,
                                             seed_only.predict(data.X_test)),
             "seconds": time.perf_counter() - start}]
    teacher = server.teacher(instructions="Write short questions like the "
                             "examples, one per sample.", cache=None,
                             max_tokens=max_tokens(args.pgkd_batch))
    start = time.perf_counter()
    clf = ActiveDistillationClassifier(
        student(), teacher=teacher, sampler=PGKD(batch_size=args.pgkd_batch),
        max_iter=args.pgkd_rounds, random_state=args.random_state,
    ).fit(X_seed, y_seed)
    generated = np.asarray(clf.labeled_X_,
                           dtype=object)[clf.label_source_ == "generated"]
    rows.append({
        "arm": "pgkd", "n_train": len(clf.labeled_y_),
        "test_accuracy": accuracy_score(data.y_test, clf.predict(data.X_test)),
        "n_returned": int(clf.sampler_.n_generated_),
        "n_kept": len(generated),
        "n_rejected": {k: int(v) for k, v in clf.sampler_.n_rejected_.items() if v},
        "generated_examples": generated[:10].tolist(),
        "rounds": [{key: value for key, value in record.items()
                    if key.startswith(("n_", "acceptance", "error"))}
                   for record in clf.history_[1:]],
        "cost_usd": float(clf.teacher_cost_),
        "seconds": time.perf_counter() - start,
    })
    print(f"pgkd trec: seed-only {rows[0]['test_accuracy']:.3f}, PGKD "
          f"{rows[1]['test_accuracy']:.3f}; kept {rows[1]['n_kept']} of "
          f"{rows[1]['n_returned']}, dropped {rows[1]['n_rejected']}", flush=True)
    return rows


# -- report -------------------------------------------------------------------

def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for name in dict.fromkeys(r["dataset"] for r in rows):
        part = [r for r in rows if r["dataset"] == name and "error" not in r]
        shots = [r["shots"] for r in part]
        axes[0].plot(shots, [r["accuracy"] for r in part], "o-", label=name)
        axes[1].plot(shots, [r["seconds_per_label"] for r in part], "o-",
                     label=name)
    axes[0].set(xlabel="examples per class in the prompt",
                ylabel="accuracy vs gold", ylim=(0, 1))
    axes[1].set(xlabel="examples per class in the prompt",
                ylabel="seconds per label")
    for ax in axes:
        ax.set_xticks(sorted({r["shots"] for r in rows}))
        ax.legend(fontsize=8)
    fig.suptitle("SmolLM2-135M (llama.cpp, CPU) as the labelling teacher",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def page(payload, figure):
    """The generated section of the docs page, from a full run's payload."""
    machine, setup = payload["machine"], payload["setup"]
    load = ", ".join(f"{x:.1f}" for x in payload["loadavg_at_start"])
    return [
        f"Command: `{payload['command']}`; {payload['seconds_total'] / 60:.0f} "
        f"minutes on {machine['cpu_count']} cores ({machine['cpu']}), load "
        f"average {load} at the start and "
        f"{', '.join(f'{x:.1f}' for x in machine['loadavg'])} at the end "
        "(a shared machine: the seconds are this load's). Model: "
        f"`{payload['model']}` (llama.cpp, {setup['n_parallel']} slots of "
        f"{setup['ctx_size']} tokens); {setup['batch_size']} texts per "
        "labelling request.",
        "",
        "## Labelling test texts",
        "",
        *markdown_table(
            ["data set", "examples per class", "texts", "accuracy",
             "accuracy of answered", "unlabelled", "majority label share",
             "s per label", "requests (corrections)"],
            [_labelling_cells(r) for r in payload["labelling"]],
            "lrrrrlrrr"),
        "",
        f"## M-RARU on trec ({setup['seed_per_class']} seed texts per class, "
        f"{setup['max_labels']} labels from {setup['pool']} pool texts)",
        "",
        *markdown_table(
            ["teacher", "teacher labels", "agreement with gold",
             "student test accuracy", "bill (USD)", "seconds"],
            [[r["teacher"], r["n_teacher_labels"], f"{r['teacher_agreement']:.3f}",
              f"{r['test_accuracy']:.3f}", f"{r['cost_usd']:.2f}",
              f"{r['seconds']:.0f}"] for r in payload["distillation"]],
            "lrrrrr"),
        "",
        f"## PGKD on trec ({setup['pgkd_seed_per_class']} seed texts per "
        f"class, {setup['pgkd_rounds']} rounds of {setup['pgkd_batch']} texts)",
        "",
        *markdown_table(
            ["arm", "test accuracy", "texts returned", "kept", "dropped",
             "unreadable answers", "seconds"],
            [[r["arm"], f"{r['test_accuracy']:.3f}", r.get("n_returned", "—"),
              r.get("n_kept", "—"), _reasons(r.get("n_rejected")),
              sum(x.get("n_invalid", 0) for x in r["rounds"]) if "rounds" in r
              else "—",
              f"{r['seconds']:.0f}"] for r in payload["pgkd"]],
            "lrrrlrr"),
        "",
        f"![accuracy and seconds per label](../../benchmarks/results/"
        f"{figure.name})",
    ]


def _labelling_cells(row):
    first = [row["dataset"], row["shots"], row["n_texts"]]
    if "error" in row:  # the call failed: nothing was measured
        return [*first, f"failed: {row['error'][:90]}", "", "", "", "", ""]
    return [*first, f"{row['accuracy']:.3f}", fmt(row["accuracy_answered"]),
            _unlabelled(row), f"{row['majority_share']:.2f}",
            f"{row['seconds_per_label']:.2f}",
            f"{row['n_requests']} ({row['n_corrections']})"]


def _unlabelled(row):
    return f"{row['share_unlabeled']:.0%}" + (
        f" ({_reasons(row['reasons'])})" if row["reasons"] else "")


def _reasons(counts):
    return ", ".join(f"{k} {v}" for k, v in (counts or {}).items()) or "—"


def main(argv=None):
    args = parse_args(argv)
    stem = "real_teacher_quick" if args.quick else "real_teacher"
    start, load_at_start = time.perf_counter(), list(os.getloadavg())
    with LlamaCppServer(ctx_size=args.ctx_size, n_parallel=args.n_parallel) as server:
        labelling = [run_labelling(server, args, name, shots)
                     for name in args.datasets for shots in args.shots]
        distillation = run_distillation(server, args)
        pgkd = run_pgkd(server, args)
        model = server.model
    payload = {
        "command": command_line("real_teacher", argv), "machine": machine_info(),
        "loadavg_at_start": load_at_start,
        "model": model, "setup": vars(args), "labelling": labelling,
        "distillation": distillation, "pgkd": pgkd,
        "seconds_total": time.perf_counter() - start,
    }
    write_json(RESULTS / f"{stem}.json", payload)
    write_csv(RESULTS / f"{stem}_labelling.csv",
              [{k: v for k, v in r.items() if k != "reasons"} for r in labelling])
    figure = RESULTS / f"{stem}.png"
    plot(labelling, figure)
    if not args.quick:
        write_generated(DOC, page(payload, figure), SOURCE)
    return payload


if __name__ == "__main__":
    main()
