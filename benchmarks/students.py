"""Text students: accuracy and throughput of MiniLM-embedding students and
BertClassifier, embedding throughput, and temperature scaling under M-RARU.

Reproduce (results/students.{csv,json,png} and docs/benchmarks/students.md)::

    python -m benchmarks.students

``--quick`` runs a small version in a few minutes (results/students_quick.*).
Everything runs on ``--threads`` CPU threads (torch, BLAS, scikit-learn).
"""

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from ._common import DEFAULT_DATA, PAPER_RULE, embed, load_csv_folder
from ._report import (
    DOCS,
    RESULTS,
    command_line,
    fmt,
    machine_info,
    markdown_table,
    write_csv,
    write_json,
)

DOC = DOCS / "students.md"
COMMAND = command_line("students", [])
# (train, test) caps that keep a full run near half an hour on 2 shared
# cores: ag_news texts are ~4x longer than banking77's.
CAPS = {"banking77": (3000, 1000), "ag_news": (1000, 500)}


def embedding_students(threads, random_state):
    """The classifiers put on top of frozen MiniLM embeddings."""
    return {
        "LogisticRegression": LogisticRegression(C=10.0, max_iter=2000),
        "LinearSVC (calibrated)": CalibratedClassifierCV(LinearSVC(C=1.0), cv=3),
        "LDA": LinearDiscriminantAnalysis(),
        "RandomForest": RandomForestClassifier(
            n_estimators=300, n_jobs=threads, random_state=random_state
        ),
        # Without l2_regularization the Newton steps of 77 one-vs-rest trees
        # diverge on banking77 (0.21 accuracy, raw scores in the thousands).
        "HistGradientBoosting": HistGradientBoostingClassifier(
            max_iter=20, max_leaf_nodes=15, l2_regularization=1.0,
            early_stopping=True, random_state=random_state
        ),
    }


def subsample(data, n_train, n_test, random_state):
    """Stratified random subsets of ``n_train``/``n_test`` texts (None: all)."""
    out = []
    for texts, y, n in [(data[0], data[1], n_train), (data[2], data[3], n_test)]:
        if n is not None and n < len(y):
            keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y,
                                       random_state=random_state)
            keep = np.sort(keep)
            texts, y = [texts[i] for i in keep], y[keep]
        out += [texts, y]
    return tuple(out)


def timed(function, *args):
    """``(result, wall seconds, process CPU seconds)`` of ``function(*args)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def naive_embed(texts, batch_size=32):
    """Reference: unsorted batches of 32 under ``no_grad`` (the usual loop)."""
    import torch

    from skakd.text._hub import load_encoder, resolve_model_path

    tokenizer, encoder = load_encoder(str(resolve_model_path(None)))
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], padding=True,
                              truncation=True, max_length=256, return_tensors="pt")
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
    return np.vstack(out)


def embedding_throughput(texts, threads):
    """texts/s of SentenceEmbedder (no cache) and of the naive loop."""
    from skakd.text import SentenceEmbedder

    embedder = SentenceEmbedder(num_threads=threads).fit()
    embedder.transform(texts[:32])  # warm-up: lazy imports, allocator
    fast, wall, cpu = timed(embedder.transform, texts)
    _, naive_wall, naive_cpu = timed(naive_embed, texts)
    tokens = embedder_tokens(texts)
    return {
        "n_texts": len(texts),
        "mean_tokens": float(np.mean(tokens)),
        "texts_per_s": len(texts) / wall,
        "texts_per_cpu_s": len(texts) / cpu,
        "naive_texts_per_s": len(texts) / naive_wall,
        "naive_texts_per_cpu_s": len(texts) / naive_cpu,
        "loadavg_after": list(os.getloadavg()),
    }, fast


def embedder_tokens(texts):
    from skakd.text._hub import load_encoder, resolve_model_path

    tokenizer, _ = load_encoder(str(resolve_model_path(None)))
    return [len(ids) for ids in tokenizer(texts, truncation=True, max_length=256)[
        "input_ids"]]


def run_embedding_students(name, data, threads, embed_rate, random_state,
                           students):
    X_train_text, y_train, X_test_text, y_test = data
    X_train, X_test = embed(X_train_text), embed(X_test_text)
    rows = []
    for student, clf in embedding_students(threads, random_state).items():
        if student not in students:
            continue
        _, fit_s, _ = timed(clf.fit, X_train, y_train)
        y_pred, predict_s, _ = timed(clf.predict, X_test)
        rows.append(_row(name, f"MiniLM + {student}", y_test, y_pred, len(y_train),
                         fit_s, predict_s, embed_rate))
        print(rows[-1])
    return rows


def run_bert(name, data, args):
    from skakd.text import BertClassifier

    X_train, y_train, X_test, y_test = data
    rng = np.random.default_rng(args.random_state)
    train = rng.permutation(len(y_train))[:args.bert_train]
    test = rng.permutation(len(y_test))[:args.bert_test]
    clf = BertClassifier(
        lr=args.bert_lr, batch_size=32, max_epochs=args.bert_epochs,
        max_length=args.max_length, num_threads=args.threads,
        random_state=args.random_state,
    )
    _, fit_s, _ = timed(clf.fit, np.asarray(X_train, dtype=object)[train],
                        y_train[train])
    y_pred, predict_s, _ = timed(clf.predict,
                                 np.asarray(X_test, dtype=object)[test])
    row = _row(name, "BertClassifier (MiniLM fine-tuned)", y_test[test], y_pred,
               len(train), fit_s, predict_s, embed_rate=None)
    row.update(epochs=len(clf.history_), temperature=clf.temperature_)
    print(row)
    return row


def _row(dataset, student, y_true, y_pred, n_train, fit_s, predict_s, embed_rate):
    """One CSV row; with ``embed_rate``, end-to-end rates include embedding."""
    n_test = len(y_true)
    embed_train = n_train / embed_rate if embed_rate else 0.0
    embed_test = n_test / embed_rate if embed_rate else 0.0
    return {
        "dataset": dataset,
        "student": student,
        "accuracy": float(np.mean(np.asarray(y_pred) == np.asarray(y_true))),
        "n_train": n_train,
        "n_test": n_test,
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "fit_texts_per_s": n_train / (fit_s + embed_train),
        "predict_texts_per_s": n_test / (predict_s + embed_test),
        "classifier_predict_texts_per_s": n_test / predict_s,
    }


def run_mraru_calibration(data, args):
    """M-RARU with a BertClassifier student: calibrated vs not, warm vs cold."""
    from skakd import ActiveDistillationClassifier
    from skakd.callbacks import Scoring
    from skakd.sampling import MRARU
    from skakd.teachers import OracleTeacher
    from skakd.text import BertClassifier

    X_train, y_train, X_test, y_test = data
    X_train = np.asarray(X_train, dtype=object)
    rng = np.random.default_rng(args.random_state)
    seed = np.concatenate([
        rng.choice(np.flatnonzero(y_train == c), args.seed_per_class, replace=False)
        for c in np.unique(y_train)
    ])
    rest = np.setdiff1d(np.arange(len(y_train)), seed)
    pool = rng.permutation(rest)[:args.pool_size]
    test = rng.permutation(len(y_test))[:args.mraru_test]
    X_eval, y_eval = np.asarray(X_test, dtype=object)[test], y_test[test]

    def temperature(estimator, X, y):
        return estimator.temperature_

    configs = {
        "calibrated, warm start": dict(calibrate=True, warm_start=True),
        "uncalibrated, warm start": dict(calibrate=False, warm_start=True),
        "calibrated, cold start": dict(calibrate=True, warm_start=False),
    }
    runs = {}
    for label, params in configs.items():
        student = BertClassifier(
            lr=args.bert_lr, batch_size=32, max_epochs=args.mraru_epochs,
            max_length=args.max_length, num_threads=args.threads,
            random_state=args.random_state, **params,
        )
        clf = ActiveDistillationClassifier(
            student, teacher=OracleTeacher(X_train[pool], y_train[pool]),
            # The paper's rule: what the committed results measured.
            sampler=MRARU(batch_size=args.mraru_batch, **PAPER_RULE),
            max_iter=args.mraru_rounds, random_state=args.random_state,
            callbacks=[
                Scoring(X_eval, y_eval),
                Scoring(X_eval, y_eval, scoring="neg_log_loss"),
                Scoring(X_eval, y_eval, scoring=temperature, name="temperature"),
            ],
        )
        _, seconds, _ = timed(clf.fit, X_train[seed], y_train[seed], X_train[pool])
        keys = ["round", "n_labeled", "n_visited", "acceptance_rate", "accuracy",
                "neg_log_loss", "temperature", "fit_seconds"]
        runs[label] = {
            "seconds": seconds,
            "history": [{k: record.get(k) for k in keys} for record in clf.history_],
        }
        print(label, runs[label])
    return runs


def teacher_estimate(rows, args):
    """How many times more texts/s the students score than the teacher."""
    teacher_rate = 1.0 / args.teacher_seconds_per_text
    return {
        "assumption": (
            f"an LLM teacher labelling one text per request, sequentially, at "
            f"{args.teacher_seconds_per_text:g} s per request (not measured here: "
            "no network; it is the order of a short Claude completion)"
        ),
        "teacher_texts_per_s": teacher_rate,
        "speedups": {
            f"{row['dataset']} / {row['student']}":
                row["predict_texts_per_s"] / teacher_rate
            for row in rows
        },
    }


def plot(rows, runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    datasets = sorted({row["dataset"] for row in rows})
    students = list(dict.fromkeys(row["student"] for row in rows))
    width = 0.8 / len(datasets)
    for k, dataset in enumerate(datasets):
        by_student = {r["student"]: r for r in rows if r["dataset"] == dataset}
        xs = np.arange(len(students)) + k * width
        acc = [by_student.get(s, {}).get("accuracy", np.nan) for s in students]
        rate = [by_student.get(s, {}).get("predict_texts_per_s", np.nan)
                for s in students]
        axes[0, 0].bar(xs, acc, width, label=dataset)
        axes[0, 1].bar(xs, rate, width, label=dataset)
    for ax, title in zip(axes[0], ["test accuracy", "predict texts/s (end to end)"]):
        ax.set_xticks(np.arange(len(students)) + width * (len(datasets) - 1) / 2)
        ax.set_xticklabels([s.replace("MiniLM + ", "") for s in students],
                           rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
        ax.legend()
    axes[0, 1].set_yscale("log")
    for label, run in runs.items():
        history = run["history"]
        n = [h["n_labeled"] for h in history]
        axes[1, 0].plot(n[1:], [h["acceptance_rate"] for h in history[1:]], "o-",
                        label=label)
        axes[1, 1].plot(n, [h["accuracy"] for h in history], "o-", label=label)
    axes[1, 0].set(title="M-RARU acceptance rate per round",
                   xlabel="labelled texts", ylabel="accepted / visited")
    axes[1, 1].set(title="M-RARU: BertClassifier test accuracy",
                   xlabel="labelled texts", ylabel="accuracy")
    axes[1, 0].legend()
    axes[1, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def markdown(payload, rows, runs, command, stem):
    meta = payload["machine"]
    lines = [
        "# Text students",
        "",
        "Frozen all-MiniLM-L6-v2 embeddings (`SentenceEmbedder`) under five "
        "scikit-learn classifiers, and `BertClassifier` fine-tuning the same "
        "MiniLM end to end on a short budget. Reproduce with:",
        "",
        f"    {command}",
        "",
        f"Measured {meta['timestamp_utc']} with {payload['threads']} torch/BLAS "
        f"threads on a {meta['cpu_count']}-CPU machine shared with other jobs: "
        f"load average {', '.join(f'{x:.1f}' for x in meta['loadavg'])} at the "
        f"start, {', '.join(f'{x:.1f}' for x in payload['loadavg_end'])} at the "
        "end. With the load above the core count, wall-clock rates are "
        "pessimistic and noisy; the CPU-time rates below are less so.",
        *[f"- Re-measured {u['machine']['timestamp_utc']} with `{command} --update "
          f"--datasets {u['dataset']} --students \"{u['student'].split(' + ')[-1]}\"`"
          f" (load average {u['machine']['loadavg'][0]:.1f}): {u['dataset']} "
          f"{u['student']}." for u in payload.get("updated", [])],
        "",
        "## Embedding throughput",
        "",
        *markdown_table(
            ["dataset", "texts", "mean tokens", "SentenceEmbedder texts/s",
             "texts per CPU-s", "naive loop texts/s", "naive texts per CPU-s"],
            [[name, t["n_texts"], f"{t['mean_tokens']:.1f}",
              f"{t['texts_per_s']:.0f}", f"{t['texts_per_cpu_s']:.0f}",
              f"{t['naive_texts_per_s']:.0f}", f"{t['naive_texts_per_cpu_s']:.0f}"]
             for name, t in payload["embedding"].items()],
            align="lrrrrrr"),
        "",
        "SentenceEmbedder sorts texts by token length (little padding), batches "
        "128 texts and runs under `torch.inference_mode`; the naive loop embeds "
        "unsorted batches of 32 under `no_grad`. Both produce the same vectors.",
        "",
        "## Students",
        "",
        "`predict texts/s` is end to end, raw text in: the embedding time at the "
        "rate above plus the classifier's own time (`clf texts/s`); `fit texts/s` "
        "likewise. Embedding students train on the training set below; "
        "HistGradientBoosting is held to 20 iterations of 15 leaves by the time "
        "budget (77 classes cost 77 trees per iteration), far from converged, "
        "with `l2_regularization=1.0` (without it its Newton steps diverge on "
        "banking77: 0.21 accuracy). "
        "BertClassifier trains on a random "
        f"{payload['args']['bert_train']} texts for at most "
        f"{payload['args']['bert_epochs']} epochs (lr {payload['args']['bert_lr']:g},"
        f" batch 32, max_length {payload['args']['max_length']}, early stopping, "
        "temperature scaling) and is scored on "
        f"{payload['args']['bert_test']} test texts. Datasets are capped at "
        f"{payload['caps']} (train, test) random texts to fit the time budget.",
        "",
        *markdown_table(
            ["dataset", "student", "accuracy", "train texts", "test texts",
             "fit s", "fit texts/s", "predict texts/s", "clf texts/s"],
            [[r["dataset"], r["student"], f"{r['accuracy']:.3f}", r["n_train"],
              r["n_test"], f"{r['fit_seconds']:.1f}", f"{r['fit_texts_per_s']:.0f}",
              f"{r['predict_texts_per_s']:.0f}",
              f"{r['classifier_predict_texts_per_s']:.0f}"] for r in rows],
            align="llrrrrrrr"),
    ]
    embed_rates = [t["texts_per_s"] for t in payload["embedding"].values()]
    lines += [
        "",
        f"Target: embedding >= 400 texts/s on 2 cores. Measured here: "
        f"{min(embed_rates):.0f} to {max(embed_rates):.0f} texts/s wall clock, "
        f"{'met' if min(embed_rates) >= 400 else 'not met'} on this shared "
        "machine (see the load above).",
    ]
    teacher = payload["teacher"]
    best = max(teacher["speedups"].items(), key=lambda kv: kv[1])
    lines += [
        "",
        "## Student versus teacher throughput",
        "",
        f"Teacher estimate: {teacher['assumption']}, i.e. "
        f"{teacher['teacher_texts_per_s']:.2f} texts/s. Students score "
        f"{min(teacher['speedups'].values()):.0f}x to "
        f"{best[1]:.0f}x that (best: {best[0]}). A teacher answering batches "
        "of texts concurrently is faster (see teacher_throughput.md for the "
        "client side), so the ratio depends on how the teacher is deployed.",
        "",
    ]
    if runs:
        lines += [
            "## Temperature scaling under M-RARU",
            "",
            f"ag_news, {payload['args']['seed_per_class']} seed texts per class, "
            f"a pool of {payload['args']['pool_size']}, M-RARU batches of "
            f"{payload['args']['mraru_batch']}, oracle teacher, BertClassifier "
            f"({payload['args']['mraru_epochs']} epochs per round), scored on "
            f"{payload['args']['mraru_test']} test texts after each round.",
            "",
            *markdown_table(
                ["run", "round", "labelled", "visited", "acceptance",
                 "temperature", "accuracy", "log loss"],
                [[label, h["round"], h["n_labeled"],
                  fmt(h["n_visited"], "{:.0f}", missing=""),
                  fmt(h["acceptance_rate"], "{:.2f}", missing=""),
                  fmt(h["temperature"], "{:.2f}", missing=""),
                  f"{h['accuracy']:.3f}", f"{-h['neg_log_loss']:.3f}"]
                 for label, run in runs.items() for h in run["history"]],
                align="lrrrrrrr"),
        ]
        temperatures = [h["temperature"] for run in runs.values()
                        for h in run["history"] if h["temperature"] is not None]
        at_bounds = [t for t in temperatures
                     if min(abs(np.log(t) - 3), abs(np.log(t) + 3)) < 1e-3]
        lines += [
            "",
            "Round 0 is the seed student. Warm start continues training the same "
            "weights each round; cold start refits from the pretrained encoder.",
        ]
        if at_bounds:
            lines.append(
                f"{len(at_bounds)} of {len(temperatures)} fitted temperatures sit "
                "at the bounds of the search, exp(-3) or exp(3): a validation "
                "split of a few texts cannot pin the temperature down."
            )
        lines.append("")
    lines += [f"![students](../../benchmarks/results/{stem}.png)", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--datasets", nargs="+", default=["banking77", "ag_news"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--students", nargs="+",
                        default=list(embedding_students(1, 0)),
                        help="embedding students to run (default: all five)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-caps", action="store_true",
                        help=f"use whole datasets instead of the caps {CAPS}")
    parser.add_argument("--throughput-texts", type=int, default=300)
    parser.add_argument("--bert-train", type=int, default=300)
    parser.add_argument("--bert-test", type=int, default=200)
    parser.add_argument("--bert-epochs", type=int, default=2)
    parser.add_argument("--bert-lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--mraru-rounds", type=int, default=3)
    parser.add_argument("--mraru-batch", type=int, default=20)
    parser.add_argument("--mraru-epochs", type=int, default=1)
    parser.add_argument("--mraru-test", type=int, default=150)
    parser.add_argument("--seed-per-class", type=int, default=5)
    parser.add_argument("--pool-size", type=int, default=600)
    parser.add_argument("--no-mraru", action="store_true")
    parser.add_argument("--teacher-seconds-per-text", type=float, default=1.0)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--update", action="store_true",
                        help="re-measure only --students on --datasets and keep "
                             "every other row of the saved JSON")
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the markdown and PNG from the saved JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.throughput_texts, args.bert_train, args.bert_test = 50, 60, 50
        args.bert_epochs, args.mraru_rounds, args.pool_size = 1, 1, 100
        args.mraru_test, args.mraru_batch = 30, 10
    stem = "students_quick" if args.quick else "students"
    command = COMMAND + (" --quick" if args.quick else "")
    if args.update:
        update_students(args, stem, command)
        return
    if args.render_only:
        payload = json.loads((RESULTS / f"{stem}.json").read_text())
        plot(payload["rows"], payload["mraru"], RESULTS / f"{stem}.png")
        text = markdown(payload, payload["rows"], payload["mraru"], command, stem)
        (DOC if not args.quick else RESULTS / f"{stem}.md").write_text(text)
        return

    import torch

    torch.set_num_threads(args.threads)
    payload = {"machine": machine_info(), "threads": args.threads,
               "args": {k: str(v) if isinstance(v, Path) else v
                        for k, v in vars(args).items()},
               "embedding": {}, "caps": "none" if args.no_caps else CAPS}
    rows, runs = [], {}
    with threadpool_limits(args.threads):
        for name in args.datasets:
            data = subsample(load_csv_folder(args.data / name),
                             *_caps(name, args), args.random_state)
            sample = list(np.random.default_rng(args.random_state).choice(
                np.asarray(data[2], dtype=object), args.throughput_texts,
                replace=False))
            stats, _ = embedding_throughput(sample, args.threads)
            payload["embedding"][name] = stats
            print(name, stats)
            rows += run_embedding_students(name, data, args.threads,
                                           stats["texts_per_s"], args.random_state,
                                           args.students)
            rows.append(run_bert(name, data, args))
            save(payload, rows, runs, args, stem, command)  # partial results
            if name == "ag_news" and not args.no_mraru:
                runs = run_mraru_calibration(data, args)
    save(payload, rows, runs, args, stem, command)


def _caps(name, args):
    """(train, test) texts kept of dataset ``name`` (None: all)."""
    if args.no_caps:
        return None, None
    return (1000, 100) if args.quick else CAPS.get(name, (None, None))


def update_students(args, stem, command):
    """Re-measure some embedding students, keeping the rest of the results.

    Uses the saved embedding rate of each dataset, so end-to-end rates stay
    comparable with the rows that are kept; ``updated`` in the JSON records
    which rows were measured when.
    """
    payload = json.loads((RESULTS / f"{stem}.json").read_text())
    rows = payload["rows"]
    with threadpool_limits(args.threads):
        for name in args.datasets:
            data = subsample(load_csv_folder(args.data / name),
                             *_caps(name, args), args.random_state)
            rate = payload["embedding"][name]["texts_per_s"]
            for new in run_embedding_students(name, data, args.threads, rate,
                                              args.random_state, args.students):
                rows = [new if (r["dataset"], r["student"]) ==
                        (new["dataset"], new["student"]) else r for r in rows]
                payload["updated"] = [
                    u for u in payload.get("updated", [])
                    if (u["dataset"], u["student"]) != (name, new["student"])
                ] + [{"dataset": name, "student": new["student"],
                      "machine": machine_info()}]
    write_results(payload, rows, payload["mraru"], args, stem, command)


def save(payload, rows, runs, args, stem, command):
    """Write the results of a run that just ended, and print the page."""
    payload["loadavg_end"] = list(os.getloadavg())
    print(write_results(payload, rows, runs, args, stem, command))


def write_results(payload, rows, runs, args, stem, command):
    """Write CSV, JSON, PNG and the markdown page; return the page."""
    payload["teacher"] = teacher_estimate(rows, args)
    payload["mraru"] = runs
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_csv(RESULTS / f"{stem}.csv", rows)
    payload["rows"] = rows
    write_json(RESULTS / f"{stem}.json", payload)
    plot(rows, runs, RESULTS / f"{stem}.png")
    text = markdown(payload, rows, runs, command, stem)
    (DOC if not args.quick else RESULTS / f"{stem}.md").write_text(text)
    return text


if __name__ == "__main__":
    main()
