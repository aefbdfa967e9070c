"""Text students: accuracy against throughput, ``skakd predict`` end to end,
and label efficiency of the static student beside MiniLM.

Reproduce (results/students.{csv,json,png}, results/students_predict.csv,
results/students_label_efficiency_* and docs/benchmarks/students.md)::

    python -m benchmarks.students

``--sections`` re-runs some sections and keeps the others' saved results
(each section records its own time and load). ``--quick`` runs a small
version in a few minutes (results/students_quick*). Everything runs on
``--threads`` CPU threads (torch, BLAS, scikit-learn).
"""

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from ._common import DEFAULT_DATA, embed, embed_with, load_csv_folder
from ._report import (
    DOCS,
    RESULTS,
    ROOT,
    command_line,
    fmt,
    machine_info,
    markdown_table,
    write_csv,
    write_json,
)

DOC = DOCS / "students.md"
SECTIONS = ("frontier", "predict", "label_efficiency")
DATASETS = ("banking77", "trec", "ag_news", "hwu64")
# (train, test) caps (None: all) that keep MiniLM's share of a full run near
# ten minutes on 2 cores: ag_news texts are ~4x longer than banking77's.
CAPS = {"banking77": (3000, 1000), "trec": (3000, None), "ag_news": (1000, 500),
        "hwu64": (3000, None)}
QUICK_CAPS = (300, 100)
STUDENTS = ("TF-IDF + LR", "static + LR", "MiniLM int8 + LR", "MiniLM + LR",
            "BertClassifier")
# How the CLI names each student (``skakd distill --student``).
CLI_STUDENTS = {"TF-IDF + LR": "tfidf-logreg", "static + LR": "static-logreg",
                "MiniLM int8 + LR": None, "MiniLM + LR": "minilm-logreg",
                "BertClassifier": "bert"}
SLOW = ("MiniLM int8 + LR", "MiniLM + LR", "BertClassifier")
# The embedder parameter that quantises MiniLM's linear layers to int8.
QUANTIZE = {"quantize": True}


def logreg():
    """The classifier of every embedding student (as the CLI's students)."""
    return LogisticRegression(C=10, max_iter=1000)


def cli_student(student):
    """The unfitted student the predict section saves, as the CLI builds it.

    BertClassifier trains one epoch instead of the CLI's ten: scoring speed
    does not depend on the training budget.
    """
    from skakd.text import BertClassifier, SentenceEmbedder, StaticEmbedder

    return {
        "TF-IDF + LR": lambda: make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)), logreg()),
        "static + LR": lambda: make_pipeline(StaticEmbedder(), logreg()),
        "MiniLM int8 + LR": lambda: make_pipeline(SentenceEmbedder(**QUANTIZE),
                                                  logreg()),
        "MiniLM + LR": lambda: make_pipeline(SentenceEmbedder(), logreg()),
        "BertClassifier": lambda: BertClassifier(max_epochs=1, random_state=0),
    }[student]()


# -- frontier: accuracy against texts/s ----------------------------------------


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
    """``(result, wall seconds, process CPU seconds)`` of ``function(*args)``.

    Process CPU time counts every thread of this process (torch, BLAS, the
    tokenizers' pool).
    """
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def repeated(texts, n, random_state):
    """``n`` texts: ``texts`` shuffled, cycled as often as needed."""
    order = np.random.default_rng(random_state).permutation(len(texts))
    return [texts[order[i % len(texts)]] for i in range(n)]


def rate(function, texts):
    """texts/s and texts per CPU-s of ``function(texts)``, warm-up excluded."""
    function(texts[:32])  # lazy imports and loads, allocator
    _, wall, cpu = timed(function, texts)
    return {"n_texts": len(texts), "texts_per_s": len(texts) / wall,
            "texts_per_cpu_s": len(texts) / cpu, "loadavg": list(os.getloadavg())}


def fit_tfidf(data, args):
    model = make_pipeline(TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)),
                          logreg())
    return _fit_text_model(model, data)


def fit_static(data, args):
    from skakd.text import StaticEmbedder

    return _fit_text_model(make_pipeline(StaticEmbedder(), logreg()), data)


def _fit_text_model(model, data):
    X, y, X_test, _ = data
    _, fit_s, _ = timed(model.fit, X, y)
    return {"y_pred": model.predict(X_test), "fit_seconds": fit_s,
            "n_train": len(y), "predict": model.predict}


def fit_minilm(data, args, quantized=False):
    """LR on MiniLM embeddings: cached for accuracy, computed for speed."""
    from skakd.text import SentenceEmbedder

    X, y, X_test, _ = data
    if quantized:
        embedder = SentenceEmbedder(num_threads=args.threads, **QUANTIZE).fit()
        train, test = (embed_with(t, embedder, "minilm-int8") for t in (X, X_test))
    else:
        embedder = SentenceEmbedder(num_threads=args.threads).fit()
        train, test = embed(X), embed(X_test)
    clf, fit_s, _ = timed(logreg().fit, train, y)
    return {"y_pred": clf.predict(test), "fit_seconds": fit_s, "n_train": len(y),
            "predict": lambda texts: clf.predict(embedder.transform(texts))}


def fit_bert(data, args):
    from skakd.text import BertClassifier

    X, y, X_test, _ = data
    train = np.random.default_rng(args.random_state).permutation(len(y))
    train = train[:args.bert_train]
    clf = BertClassifier(lr=args.bert_lr, batch_size=32, max_epochs=args.bert_epochs,
                         max_length=args.max_length, num_threads=args.threads,
                         random_state=args.random_state)
    X = np.asarray(X, dtype=object)
    _, fit_s, _ = timed(clf.fit, X[train], y[train])
    predict = lambda texts: clf.predict(np.asarray(texts, dtype=object))  # noqa: E731
    return {"y_pred": predict(X_test), "fit_seconds": fit_s, "n_train": len(train),
            "predict": predict}


FITS = {"TF-IDF + LR": fit_tfidf, "static + LR": fit_static,
        "MiniLM int8 + LR": lambda data, args: fit_minilm(data, args, True),
        "MiniLM + LR": fit_minilm, "BertClassifier": fit_bert}


def frontier(name, data, sample, args):
    """One row per student: test accuracy and end-to-end texts/s on ``sample``."""
    rows = []
    for student in args.students:
        fitted = FITS[student](data, args)
        speed = rate(fitted["predict"], sample)
        rows.append({
            "dataset": name, "student": student,
            "accuracy": float(np.mean(fitted["y_pred"] == data[3])),
            "n_train": fitted["n_train"], "n_test": len(data[3]),
            "fit_seconds": fitted["fit_seconds"], **speed,
        })
        print(rows[-1], flush=True)
    return rows


def static_speed(name, texts, args):
    """StaticEmbedder.transform on the whole test split, repeated to enough texts."""
    from skakd.text import StaticEmbedder

    n = max(len(texts), args.static_texts)
    sample = repeated(texts, n, args.random_state)
    embedder = StaticEmbedder().fit()
    return {"dataset": name, "test_texts": len(texts),
            "mean_chars": float(np.mean([len(t) for t in texts])),
            **rate(embedder.transform, sample)}


def run_frontier(args):
    rows, static = [], []
    for name in args.datasets:
        full = load_csv_folder(args.data / name)
        data = subsample(full, *_caps(name, args), args.random_state)
        sample = repeated(full[2], args.throughput_texts, args.random_state)
        rows += frontier(name, data, sample, args)
        if "static + LR" in args.students:
            static.append(static_speed(name, full[2], args))
            print(static[-1], flush=True)
    return {"rows": rows, "static": static}


def _caps(name, args):
    """(train, test) texts kept of dataset ``name`` (None: all)."""
    return QUICK_CAPS if args.quick else CAPS.get(name, (None, None))


# -- skakd predict end to end ----------------------------------------------------


def write_predict_csv(path, texts, n_rows):
    """``n_rows`` rows of ``id,text``, cycling through ``texts``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows((i, texts[i % len(texts)]) for i in range(n_rows))


def write_head(source, path, n_rows):
    """The header and first ``n_rows`` rows of ``source`` (one line per row)."""
    with open(source, encoding="utf-8") as handle, open(path, "w",
                                                         encoding="utf-8") as out:
        out.writelines(line for _, line in zip(range(n_rows + 1), handle))


def save_models(folder, data, args):
    """Each student distilled from a small banking77 seed, saved as the CLI does.

    ``skakd distill --teacher oracle --max-rounds 1`` spends minutes drawing
    its learning-curve plot on a busy machine, so the same loop runs here: an
    ActiveDistillationClassifier (M-RARU, one round of 50 labels) saved with
    ``joblib.dump`` without its teacher.
    """
    from skakd import ActiveDistillationClassifier
    from skakd.sampling import MRARU
    from skakd.teachers import OracleTeacher

    X, y = np.asarray(data[0], dtype=object), data[1]
    order = np.random.default_rng(args.random_state).permutation(len(y))
    seed = np.concatenate([order[y[order] == c][:3] for c in np.unique(y)])
    pool = np.setdiff1d(order, seed)[:500]
    models = {}
    for student in args.students:
        clf = ActiveDistillationClassifier(
            cli_student(student), teacher=OracleTeacher(X[pool], y[pool]),
            sampler=MRARU(batch_size=50), max_iter=1,
            random_state=args.random_state,
        ).fit(X[seed], y[seed], X_pool=X[pool])
        clf.set_params(teacher=None)
        models[student] = folder / f"{student.replace(' ', '')}.joblib"
        joblib.dump(clf, models[student])
    return models


def cli(argv, poll_s=0.05):
    """Run ``python -m skakd argv``; wall seconds, peak RSS and stderr.

    The peak RSS is the largest sum, over polls every ``poll_s`` seconds
    (psutil), of the resident memory of the process and all its
    descendants (joblib's workers included).
    """
    import psutil

    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = psutil.Popen([sys.executable, "-m", "skakd", *argv], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=err, text=True)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss(process))
            time.sleep(poll_s)
        wall = time.perf_counter() - start
        err.seek(0)
        stderr = err.read()
    if process.returncode != 0:
        raise RuntimeError(f"skakd {' '.join(argv)} failed:\n{stderr}")
    return wall, peak, stderr


def _tree_rss(process):
    import psutil

    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:  # a worker that just exited
            pass
    return total


def predict_run(student, model, source, n_rows, n_jobs, out, total):
    """One ``skakd predict`` of ``n_rows`` rows (a prefix if under ``total``)."""
    argv = ["predict", str(model), str(source), "--out", str(out), "--force"]
    if n_jobs is not None:
        argv += ["--n-jobs", str(n_jobs)]
    wall, peak, stderr = cli(argv)
    scoring = float(re.search(r"scored \d+ rows in ([\d.]+) s", stderr).group(1))
    out.unlink()
    # A prefix stands for the whole file: the same start-up (wall time
    # outside the scoring loop), and the scoring loop at its measured rate.
    whole = wall - scoring + scoring * total / n_rows
    row = {"student": student, "rows": n_rows, "n_jobs": n_jobs or 1,
           "extrapolated": n_rows < total, "wall_seconds": wall,
           "startup_seconds": wall - scoring, "rows_per_s": n_rows / wall,
           "scoring_rows_per_s": n_rows / scoring,
           "whole_file_rows_per_s": total / whole,
           "peak_rss_mib": peak / 2**20, "loadavg": list(os.getloadavg())}
    print(row, flush=True)
    return row


def run_predict(args):
    folder = Path(tempfile.mkdtemp(prefix="skakd-bench-predict-"))
    data = load_csv_folder(args.data / "banking77")
    models = save_models(folder, data, args)
    total, prefix = args.predict_rows, args.predict_prefix
    write_predict_csv(args.predict_csv, data[2], total)
    inputs = {total: args.predict_csv}
    for n in (prefix, total // 10):
        inputs[n] = folder / f"head{n}.csv"
        write_head(args.predict_csv, inputs[n], n)
    rows = []
    for student in args.students:
        n = prefix if student in SLOW else total
        for n_jobs in (None, args.threads):
            rows.append(predict_run(student, models[student], inputs[n], n, n_jobs,
                                    folder / "out.csv", total))
        if student not in SLOW:  # a tenth of the rows: memory is constant if
            rows.append(predict_run(  # the peak is the same
                student, models[student], inputs[total // 10], total // 10, None,
                folder / "out.csv", total))
    from skakd.text import SentenceEmbedder

    return {"rows": rows, "csv": str(args.predict_csv), "total_rows": total,
            "prefix": prefix,
            "minilm_threads": SentenceEmbedder().num_threads or "torch's, one per core"}


# -- label efficiency ------------------------------------------------------------


def run_label_efficiency(args, stem):
    """M-RARU's defaults for static + LR beside MiniLM + LR, through the
    label-efficiency benchmark (its runs file resumes: done runs are kept)."""
    from .label_efficiency.aggregate import aggregate, read_runs
    from .label_efficiency.cli import main as label_efficiency
    from .label_efficiency.run import DEFAULT_MRARU

    out = RESULTS / f"{stem}_label_efficiency"
    argv = ["--data", *args.datasets, "--students", "lr", "static_lr",
            "--samplers", DEFAULT_MRARU, "--seeds", str(args.seeds),
            "--rounds", str(args.rounds), "--jobs", str(args.threads),
            "--out", os.path.relpath(out, ROOT), "--docs", "none"]
    if args.quick:
        argv += ["--max-train", "2000", "--max-test", "500"]
    label_efficiency(argv)
    keys = ("dataset", "student", "seeds", "full_accuracy", "budget",
            "final_accuracy", "labels_to_90", "labels_to_90_seeds")
    return {"label_efficiency_command": command_line("label_efficiency", argv),
            "rows": [{k: row[k] for k in keys}
                     for row in aggregate(read_runs(f"{out}_runs.jsonl"))]}


# -- report ----------------------------------------------------------------------


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.2 * len(datasets), 4),
                             squeeze=False)
    markers = dict(zip(STUDENTS, "osD^v"))
    for ax, dataset in zip(axes[0], datasets):
        for row in (r for r in rows if r["dataset"] == dataset):
            ax.scatter(row["texts_per_s"], row["accuracy"], s=50,
                       marker=markers[row["student"]], label=row["student"])
        ax.set(xscale="log", title=dataset, xlabel="texts/s, raw text in (log)",
               ylabel="test accuracy")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def verdicts(payload):
    """One line per target: met, not met or not measured, with the numbers."""
    frontier = payload.get("frontier", {})
    rows = {(r["dataset"], r["student"]): r for r in frontier.get("rows", [])}
    static = {r["dataset"]: r for r in frontier.get("static", [])}
    lines = [_static_speed_verdict(static, "banking77", 20_000),
             _static_speed_verdict(static, "ag_news", 5_000)]
    full = {(r["dataset"], r["student"]): r["full_accuracy"]
            for r in payload.get("label_efficiency", {}).get("rows", [])}
    for dataset in ("banking77", "hwu64", "trec"):
        lines.append(_static_accuracy_verdict(rows, dataset, full))
    lines.append(_predict_verdict(payload.get("predict")))
    lines.append(_minilm_verdict(rows))
    return [f"- {line}" for line in lines]


def _met(ok):
    return "**met**" if ok else "**not met**"


def _static_speed_verdict(static, dataset, target):
    what = f"StaticEmbedder >= {target:,} texts/s on {dataset}"
    if dataset not in static:
        return f"{what}: not measured."
    row = static[dataset]
    return (f"{what}: {_met(row['texts_per_s'] >= target)}, "
            f"{row['texts_per_s']:,.0f} texts/s wall clock "
            f"({row['texts_per_cpu_s']:,.0f} per CPU-s) over {row['n_texts']:,} "
            f"texts, load average {row['loadavg'][0]:.1f}.")


def _static_accuracy_verdict(rows, dataset, full):
    """Judged on the frontier's subsets; the whole training split (the
    label-efficiency section's full-data accuracy) is added when measured."""
    what = f"static + LR within 3 points of MiniLM + LR on {dataset}"
    static, minilm = rows.get((dataset, "static + LR")), rows.get(
        (dataset, "MiniLM + LR"))
    if static is None or minilm is None:
        return f"{what}: not measured."
    gap = 100 * (minilm["accuracy"] - static["accuracy"])
    line = (f"{what}: {_met(gap <= 3)}, {static['accuracy']:.3f} against "
            f"{minilm['accuracy']:.3f} ({_points(gap, 'behind', 'ahead')}, "
            f"{static['n_train']:,} training texts)")
    if (dataset, "static_lr") in full and (dataset, "lr") in full:
        whole = [full[dataset, "static_lr"], full[dataset, "lr"]]
        line += (f"; trained on the whole training split {whole[0]:.3f} against "
                 f"{whole[1]:.3f} "
                 f"({_points(100 * (whole[1] - whole[0]), 'behind', 'ahead')})")
    return line + "."


def _points(gap, positive, negative):
    return f"{abs(gap):.1f} points {positive if gap >= 0 else negative}"


def _predict_verdict(predict):
    """Met if the whole file scores at >= 10,000 rows/s and the peak RSS of
    the default run is within 25% of the run on a tenth of the rows."""
    what = "`skakd predict` with the static student >= 10,000 rows/s, constant memory"
    runs = [r for r in (predict or {}).get("rows", []) if r["student"] == "static + LR"]
    full = [r for r in runs if not r["extrapolated"]]
    tenth = [r for r in runs if r["extrapolated"]]
    if not full or not tenth:
        return f"{what}: not measured."
    best = max(full, key=lambda r: r["rows_per_s"])
    single = next(r for r in full if r["n_jobs"] == 1)
    constant = single["peak_rss_mib"] <= 1.25 * tenth[0]["peak_rss_mib"]
    return (f"{what}: {_met(best['rows_per_s'] >= 10_000 and constant)}, "
            f"{best['rows_per_s']:,.0f} rows/s end to end (n_jobs "
            f"{best['n_jobs']}, start-up included); peak RSS "
            f"{tenth[0]['peak_rss_mib']:.0f} MiB for {tenth[0]['rows']:,} rows and "
            + " / ".join(f"{r['peak_rss_mib']:.0f} MiB (n_jobs {r['n_jobs']})"
                         for r in full)
            + f" for {best['rows']:,}.")


def _minilm_verdict(rows):
    what = "MiniLM (int8 or not) >= 400 texts/s on banking77 with <= 0.5 point loss"
    fp32 = rows.get(("banking77", "MiniLM + LR"))
    if fp32 is None:
        return f"{what}: not measured."
    parts, ok = [], fp32["texts_per_s"] >= 400
    parts.append(f"MiniLM + LR {fp32['texts_per_s']:.0f} texts/s "
                 f"(accuracy {fp32['accuracy']:.3f})")
    int8 = rows.get(("banking77", "MiniLM int8 + LR"))
    if int8 is not None:
        loss = 100 * (fp32["accuracy"] - int8["accuracy"])
        ok = ok or (int8["texts_per_s"] >= 400 and loss <= 0.5)
        parts.append(f"int8 {int8['texts_per_s']:.0f} texts/s (accuracy "
                     f"{int8['accuracy']:.3f}, {_points(loss, 'lost', 'gained')})")
    return f"{what}: {_met(ok)}, " + "; ".join(parts) + "."


def markdown(payload, command, stem):
    lines = [
        "# Text students",
        "",
        "Accuracy against scoring speed for five students of the same teacher's "
        "labels, `skakd predict` end to end on a 1,000,000-row file, and how many "
        "labels the static student needs. Reproduce with:",
        "",
        f"    {command}",
        "",
        "`--sections` re-runs some of the sections below and keeps the others. "
        "Each section records its command, when it ran and the machine's load "
        "(`uptime`) before and after it; the machine is shared with other jobs, "
        "so only rates measured in the same section (same load) are compared.",
        "",
        "## Targets",
        "",
        *verdicts(payload),
        "",
    ]
    for section, render in (("frontier", _frontier_md), ("predict", _predict_md),
                            ("label_efficiency", _label_efficiency_md)):
        if section in payload:
            lines += render(payload[section], payload, stem)
    return "\n".join(lines)


def _when(result):
    meta = result["machine"]
    return [f"Measured {meta['timestamp_utc']} with `{result['command']}` on "
            f"{meta['cpu_count']} CPUs ({meta['cpu']}), {result['args']['threads']} "
            f"threads. `uptime` before: `{result['uptime_before']}`; after: "
            f"`{result['uptime_after']}`.", ""]


def _frontier_md(result, payload, stem):
    args = result["args"]
    lines = [
        "## Accuracy against texts/s",
        "",
        *_when(result),
        "Every student of a dataset trains on the same stratified subset and is "
        f"scored on the same test subset (caps: {result['caps']}; train, test). "
        "`texts/s` is end to end from raw text (embedding and classifier), "
        f"measured uncached on a fixed sample of {args['throughput_texts']:,} test "
        "texts after a warm-up of 32; `per CPU-s` divides by the process's CPU "
        "time (all threads). MiniLM accuracy uses cached embeddings; the fit "
        "time of the embedding students is the classifier's alone. "
        f"BertClassifier fine-tunes on {args['bert_train']} random training texts "
        f"for at most {args['bert_epochs']} epochs (lr {args['bert_lr']:g}, batch "
        f"32, max_length {args['max_length']}): a short budget, so its accuracy "
        "is far from what BertClassifier reaches with more data and time.",
        "",
        *markdown_table(
            ["dataset", "student", "accuracy", "train", "test", "fit s", "texts/s",
             "texts per CPU-s", "load"],
            [[r["dataset"], r["student"], f"{r['accuracy']:.3f}", r["n_train"],
              r["n_test"], f"{r['fit_seconds']:.1f}", f"{r['texts_per_s']:,.0f}",
              f"{r['texts_per_cpu_s']:,.0f}", f"{r['loadavg'][0]:.1f}"]
             for r in result["rows"]],
            align="llrrrrrrr"),
        "",
        f"![accuracy against texts/s](../../benchmarks/results/{stem}.png)",
        "",
    ]
    if result["static"]:
        lines += [
            "### StaticEmbedder alone",
            "",
            "`StaticEmbedder().transform` on each dataset's whole test split, "
            f"repeated to at least {args['static_texts']:,} texts, warm-up "
            "excluded.",
            "",
            *markdown_table(
                ["dataset", "test texts", "mean chars", "texts", "texts/s",
                 "texts per CPU-s", "load"],
                [[r["dataset"], r["test_texts"], f"{r['mean_chars']:.0f}",
                  r["n_texts"], f"{r['texts_per_s']:,.0f}",
                  f"{r['texts_per_cpu_s']:,.0f}", f"{r['loadavg'][0]:.1f}"]
                 for r in result["static"]],
                align="lrrrrrr"),
            "",
        ]
    return lines


def _predict_md(result, payload, stem):
    return [
        "## `skakd predict` end to end",
        "",
        *_when(result),
        f"Input: {result['total_rows']:,} rows of `id,text` (banking77's test "
        f"texts repeated), written to `{result['csv']}`. Each model is an "
        "ActiveDistillationClassifier fitted on 3 banking77 texts per class plus "
        "one M-RARU round of 50 labels from a pool of 500 and saved with "
        "`joblib.dump` without its teacher, as `skakd distill --student NAME "
        "--max-rounds 1` saves it (`--student` in the table; the int8 MiniLM has "
        "no CLI name, BertClassifier trains one epoch). Each row is one "
        "`python -m skakd predict MODEL INPUT --out OUT [--n-jobs N]` in a fresh "
        "process: `rows/s` is rows over the process's wall time, start-up and "
        "model loading included; `scoring rows/s` is the rate skakd itself "
        "prints (reading, scoring and writing); `start-up s` is the rest "
        "(interpreter, imports, loading the model, starting workers). A prefix "
        "is extrapolated to the whole file as its start-up plus the whole file "
        "at its scoring rate. Peak RSS is the largest sum of "
        "the resident memory of the process and its children (joblib's "
        "workers), polled every 50 ms with psutil. Slow students score the "
        f"first {result['prefix']:,} rows only (marked *prefix*). Fast students "
        "also score the first "
        "tenth of the file, to show that memory does not grow with its length. "
        "The MiniLM students embed with SentenceEmbedder's default `num_threads` "
        f"({result.get('minilm_threads', 'not recorded')}), the frontier above "
        f"with {result['args']['threads']}: per process, `--n-jobs` multiplies it.",
        "",
        *markdown_table(
            ["student", "--student", "rows", "n_jobs", "wall s", "start-up s",
             "rows/s", "scoring rows/s", f"rows/s, {result['total_rows']:,} rows",
             "peak RSS MiB", "load"],
            [[r["student"], fmt(CLI_STUDENTS[r["student"]], "`{}`", missing="—"),
              f"{r['rows']:,}" + (" (prefix)" if r["extrapolated"] else ""),
              r["n_jobs"], f"{r['wall_seconds']:.1f}", f"{r['startup_seconds']:.1f}",
              f"{r['rows_per_s']:,.0f}", f"{r['scoring_rows_per_s']:,.0f}",
              f"{r['whole_file_rows_per_s']:,.0f}"
              + (" (extrapolated)" if r["extrapolated"] else ""),
              f"{r['peak_rss_mib']:.0f}", f"{r['loadavg'][0]:.1f}"]
             for r in result["rows"]],
            align="llrrrrrrrrr"),
        "",
    ]


def _label_efficiency_md(result, payload, stem):
    return [
        "## Labels to 90% of full-data accuracy",
        "",
        *_when(result),
        "M-RARU with its defaults (margin uncertainty, 10% target acceptance), "
        "one seed example per class, an oracle teacher, batches of 25. "
        "`labels to 90%` is read off the seed-averaged learning curve (teacher "
        "labels until it reaches 90% of the student's accuracy when trained on "
        "the whole training split); `per seed` are the runs' own. Run as:",
        "",
        f"    {result['label_efficiency_command']}",
        "",
        *markdown_table(
            ["dataset", "student", "seeds", "full-data accuracy", "budget",
             "final accuracy", "labels to 90%", "per seed"],
            [[r["dataset"], r["student"], r["seeds"], f"{r['full_accuracy']:.3f}",
              r["budget"], f"{r['final_accuracy']:.3f}",
              fmt(r["labels_to_90"], "{:,}", missing=f"> {r['budget']}"),
              ", ".join(fmt(v, "{}", missing="-") for v in r["labels_to_90_seeds"])]
             for r in result["rows"]],
            align="llrrrrrl"),
        "",
        "`lr` is MiniLM + LR, `static_lr` static + LR (both LogisticRegression, "
        "C=10).",
        "",
    ]


# -- main ------------------------------------------------------------------------


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_section(section, args, stem, argv):
    """One section's results, stamped with the command, machine and load."""
    before, machine = uptime(), machine_info()
    if section == "frontier":
        result = run_frontier(args)
        result["caps"] = {d: QUICK_CAPS if args.quick else CAPS[d]
                          for d in args.datasets}
    elif section == "predict":
        result = run_predict(args)
    else:
        result = run_label_efficiency(args, stem)
    return {**result, "machine": machine, "uptime_before": before,
            "uptime_after": uptime(), "command": command_line("students", argv),
            "args": {k: str(v) if isinstance(v, Path) else v
                     for k, v in vars(args).items()}}


def write_results(payload, stem, quick):
    """CSV, JSON, PNG and the markdown page; return the page."""
    write_json(RESULTS / f"{stem}.json", payload)
    if "frontier" in payload:
        write_csv(RESULTS / f"{stem}.csv", payload["frontier"]["rows"])
        plot(payload["frontier"]["rows"], RESULTS / f"{stem}.png")
    if "predict" in payload:
        write_csv(RESULTS / f"{stem}_predict.csv", payload["predict"]["rows"])
    command = "python -m benchmarks.students" + (" --quick" if quick else "")
    text = markdown(payload, command, stem)
    (RESULTS / f"{stem}.md" if quick else DOC).write_text(text)
    return text


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS,
                        default=list(SECTIONS))
    parser.add_argument("--datasets", nargs="+", default=None,
                        help=f"default: {' '.join(DATASETS)} (--quick: the "
                        "first two)")
    parser.add_argument("--students", nargs="+", choices=STUDENTS,
                        default=list(STUDENTS))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--throughput-texts", type=int, default=1000)
    parser.add_argument("--static-texts", type=int, default=20_000)
    parser.add_argument("--bert-train", type=int, default=300)
    parser.add_argument("--bert-epochs", type=int, default=2)
    parser.add_argument("--bert-lr", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--predict-rows", type=int, default=1_000_000)
    parser.add_argument("--predict-prefix", type=int, default=5_000,
                        help="rows the slow students (MiniLM, BERT) score")
    parser.add_argument("--predict-csv", type=Path,
                        default=Path(tempfile.gettempdir()) / "skakd-bench-1m.csv",
                        help="where the input file of the predict section is "
                        "written (outside the repository)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the page and plot from the saved JSON")
    args = parser.parse_args(argv)
    if args.datasets is None:
        args.datasets = list(DATASETS[:2] if args.quick else DATASETS)
    if args.quick:
        args.throughput_texts, args.static_texts = 200, 2000
        args.bert_train, args.bert_epochs = 60, 1
        args.predict_rows, args.predict_prefix = 20_000, 200
        args.seeds, args.rounds = 1, 8
    return args


def main(argv=None):
    args = parse(argv)
    stem = "students_quick" if args.quick else "students"
    path = RESULTS / f"{stem}.json"
    saved = json.loads(path.read_text()) if path.is_file() else {}
    payload = {k: v for k, v in saved.items() if k in SECTIONS}
    if not args.render_only:
        import torch

        torch.set_num_threads(args.threads)
        for section in args.sections:
            with threadpool_limits(args.threads):
                payload[section] = run_section(section, args, stem, argv)
            write_results(payload, stem, args.quick)  # partial results
    print(write_results(payload, stem, args.quick))


if __name__ == "__main__":
    main()
