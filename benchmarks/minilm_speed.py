"""MiniLM on the CPU: speed and accuracy cost of SentenceEmbedder's settings.

Times ``SentenceEmbedder.transform`` (no cache) on ``--n-texts`` test texts
of each dataset with int8 quantisation on and off, torch's default thread
count against 1 thread, and batches capped at several token counts. The
variants alternate within each of ``--repeats`` rounds, so that a change in
the load of the shared machine hits them alike; medians are reported, and speed-ups
only against the old defaults measured in the same run. Then the accuracy
cost of quantisation: ``LogisticRegression(C=10, max_iter=2000)`` on float
and on int8 embeddings of the same stratified train/test subsets (seed 0),
and the cosine similarity between the two embeddings of each text.

Writes ``benchmarks/results/minilm_speed.{json,csv}`` and, for a full run,
the generated section of ``docs/benchmarks/minilm_speed.md``.

Usage::

    python -m benchmarks.minilm_speed --quick
    python -m benchmarks.minilm_speed --datasets banking77 ag_news
"""

import argparse
import os
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from skakd.text import SentenceEmbedder

from ._common import DEFAULT_CACHE, DEFAULT_DATA, load_csv_folder
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

SOURCE = "benchmarks.minilm_speed"
# (name, SentenceEmbedder parameters); the first, the defaults before
# quantize and batch_tokens existed, is the reference.
VARIANTS = [
    ("before: torch's threads, batches of 64 texts",
     {"num_threads": None, "batch_tokens": None}),
    ("float, 1 thread, 1,024 tokens", {"num_threads": 1}),
    ("int8, 1 thread", {"quantize": True, "num_threads": 1}),
    ("float, torch's threads", {"num_threads": None}),
    ("int8, torch's threads", {"quantize": True, "num_threads": None}),
    ("float, batches of 64 texts", {"batch_tokens": None}),
    ("float, batch_tokens=2048", {"batch_tokens": 2048}),
]
# Texts timed, and train/test texts for the accuracy, of each dataset:
# ag_news texts are ~4x longer than banking77's, so fewer fit in the time.
CAPS = {"banking77": (1000, 3000, 1000), "ag_news": (400, 1000, 500)}
QUICK_CAPS = (200, 600, 300)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["banking77", "ag_news"])
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="folder with one <dataset>/{train,test}.csv each")
    parser.add_argument("--n-texts", type=int, default=None,
                        help="test texts embedded per timing (default: "
                             "1,000 for banking77, 400 for ag_news)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE,
                        help="embedding cache for the accuracy part ('-': none)")
    parser.add_argument("--quick", action="store_true",
                        help="banking77 only, 200 texts, 1 round, small subsets")
    parser.add_argument("--out", default=str(RESULTS / "minilm_speed"),
                        help="stem of the result files")
    parser.add_argument("--docs", default=str(DOCS / "minilm_speed.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.repeats = ["banking77"], 1
        args.out += "_quick"
    args.cache_dir = None if args.cache_dir == "-" else args.cache_dir
    return args


def speed_texts(texts, n, random_state=0):
    """``n`` random texts (all if fewer), as a list, the same every run."""
    rng = np.random.default_rng(random_state)
    keep = np.sort(rng.permutation(len(texts))[:n])
    return [texts[i] for i in keep]


def time_variants(dataset, texts, repeats):
    """One row per (variant, round): wall and process CPU seconds."""
    embedders = {name: SentenceEmbedder(**params).fit()
                 for name, params in VARIANTS}
    for embedder in embedders.values():
        embedder.transform(texts[:32])  # warm-up: lazy imports, allocator
    rows = []
    for round_ in range(repeats):
        for name, embedder in embedders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            embedder.transform(texts)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            rows.append({"dataset": dataset, "variant": name, "round": round_,
                         "n_texts": len(texts), "wall_s": wall, "cpu_s": cpu,
                         "loadavg_1min": os.getloadavg()[0]})
        print(f"{dataset} round {round_}: " + ", ".join(
            f"{r['variant']} {r['n_texts'] / r['wall_s']:.0f}/s"
            for r in rows if r["round"] == round_), flush=True)
    return rows


def speed_summary(rows, dataset):
    """Median texts/s per variant and its ratio to the first variant's."""
    out = []
    for name, params in VARIANTS:
        mine = [r for r in rows if r["dataset"] == dataset and r["variant"] == name]
        n = mine[0]["n_texts"]
        out.append({
            "dataset": dataset, "variant": name, **_settings(params),
            "texts_per_s": n / np.median([r["wall_s"] for r in mine]),
            "texts_per_cpu_s": n / np.median([r["cpu_s"] for r in mine]),
        })
    for row in out:
        row["speedup_wall"] = row["texts_per_s"] / out[0]["texts_per_s"]
        row["speedup_cpu"] = row["texts_per_cpu_s"] / out[0]["texts_per_cpu_s"]
    return out


def _settings(params):
    defaults = SentenceEmbedder().get_params()
    threads = params.get("num_threads", defaults["num_threads"])
    return {
        "quantize": params.get("quantize", defaults["quantize"]),
        "num_threads": threads or torch.get_num_threads(),
        "batch_tokens": params.get("batch_tokens", defaults["batch_tokens"]),
    }


def accuracy_cost(dataset, data, n_train, n_test, cache_dir):
    """Accuracy of LR on float and int8 embeddings, and their cosines."""
    X_train, y_train, X_test, y_test = _subsets(data, n_train, n_test)
    scores, embeddings = {}, {}
    for quantize in (False, True):
        embedder = SentenceEmbedder(quantize=quantize, cache_dir=cache_dir).fit()
        train, test = embedder.transform(X_train), embedder.transform(X_test)
        # BLAS on one thread: two spin on a busy 2-core machine.
        with threadpool_limits(1, user_api="blas"):
            student = LogisticRegression(C=10, max_iter=2000).fit(train, y_train)
        scores[quantize] = student.score(test, y_test)
        embeddings[quantize] = np.vstack([train, test])
    cosine = (embeddings[False] * embeddings[True]).sum(1)  # both L2-normalised
    return {
        "dataset": dataset, "n_train": len(y_train), "n_test": len(y_test),
        "accuracy_float": scores[False], "accuracy_int8": scores[True],
        "loss_points": 100 * (scores[False] - scores[True]),
        "cosine_mean": float(cosine.mean()),
        "cosine_p01": float(np.quantile(cosine, 0.01)),
        "cosine_min": float(cosine.min()),
    }


def _subsets(data, n_train, n_test):
    """Stratified subsets (seed 0) of the train and test split, in order."""
    out = []
    for texts, y, n in [(data[0], data[1], n_train), (data[2], data[3], n_test)]:
        if n < len(y):
            keep, _ = train_test_split(np.arange(len(y)), train_size=n,
                                       stratify=y, random_state=0)
            keep = np.sort(keep)
            texts, y = [texts[i] for i in keep], y[keep]
        out += [texts, y]
    return out


def mean_tokens(texts):
    """Mean tokens a text of ``texts`` makes for the default encoder."""
    from transformers import AutoTokenizer

    # The encoder SentenceEmbedder resolves (its public model_path_).
    tokenizer = AutoTokenizer.from_pretrained(SentenceEmbedder().fit().model_path_)
    return float(np.mean([len(ids) for ids in tokenizer(
        texts, truncation=True, max_length=256)["input_ids"]]))


def run(args):
    timings, speed, accuracy = [], [], []
    for dataset in args.datasets:
        data = load_csv_folder(os.path.join(args.data, dataset))
        n_texts, n_train, n_test = (
            QUICK_CAPS if args.quick else CAPS.get(dataset, CAPS["banking77"]))
        texts = speed_texts(data[2], args.n_texts or n_texts)
        timings += time_variants(dataset, texts, args.repeats)
        tokens = mean_tokens(texts)
        speed += [{**row, "mean_tokens": tokens}
                  for row in speed_summary(timings, dataset)]
        accuracy.append(accuracy_cost(dataset, data, n_train, n_test,
                                      args.cache_dir))
        print(accuracy[-1], flush=True)
    return timings, speed, accuracy


def markdown(payload):
    speed_rows = [
        [r["dataset"], r["variant"], r["num_threads"], fmt(r["batch_tokens"], "{}"),
         f"{r['mean_tokens']:.1f}", f"{r['texts_per_s']:.0f}",
         f"{r['texts_per_cpu_s']:.0f}", f"{r['speedup_wall']:.2f}",
         f"{r['speedup_cpu']:.2f}"]
        for r in payload["speed"]
    ]
    accuracy_rows = [
        [r["dataset"], f"{r['n_train']:,} / {r['n_test']:,}",
         fmt(r["accuracy_float"]), fmt(r["accuracy_int8"]),
         f"{-r['loss_points']:+.1f}", fmt(r["cosine_mean"]),
         fmt(r["cosine_p01"]), fmt(r["cosine_min"])]
        for r in payload["accuracy"]
    ]
    machine = payload["machine"]
    load = ", ".join(f"{x:.2f}" for x in machine["loadavg"])
    load_end = ", ".join(f"{x:.2f}" for x in payload["loadavg_end"])
    return [
        f"Measured {machine['timestamp_utc']} on {machine['cpu_count']} cores "
        f"({machine['cpu']}) shared with other jobs: load average {load} at the "
        f"start, {load_end} at the end; torch {machine['versions'].get('torch')}, "
        f"default threads {payload['torch_threads']} (inter-op "
        f"{payload['torch_interop_threads']}). Reproduce with:",
        "",
        "```",
        payload["command"],
        "```",
        "",
        f"**Speed**: median of {payload['params']['repeats']} rounds over the "
        "same random test texts, variants alternating; speed-ups are against "
        "the first row (the defaults before `quantize` and `batch_tokens`, "
        "with torch's thread count) in the same run; at most 64 texts per "
        "batch in every row.",
        "",
        *markdown_table(
            ["dataset", "variant", "threads", "batch_tokens", "mean tokens",
             "texts/s", "texts/CPU s", "speed-up (wall)", "speed-up (CPU)"],
            speed_rows, align="llrrrrrrr"),
        "",
        "**Accuracy cost of `quantize=True`**: LogisticRegression(C=10) on "
        "float and int8 embeddings of the same stratified subsets (seed 0); "
        "cosine between the int8 and float embedding of each of those texts.",
        "",
        *markdown_table(
            ["dataset", "train / test", "float", "int8", "int8 - float (points)",
             "cosine mean", "cosine 1st pct", "cosine min"],
            accuracy_rows, align="llrrrrrr"),
        "",
        "Raw timings: `benchmarks/results/minilm_speed.csv`; summary: "
        "`benchmarks/results/minilm_speed.json`.",
    ]


def main(argv=None):
    args = parse_args(argv)
    machine = machine_info()
    timings, speed, accuracy = run(args)
    payload = {
        "command": command_line("minilm_speed", argv), "machine": machine,
        "loadavg_end": list(os.getloadavg()),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "params": {k: v for k, v in vars(args).items()
                   if k in ("datasets", "n_texts", "repeats", "quick")},
        "speed": speed, "accuracy": accuracy,
    }
    write_json(f"{args.out}.json", payload)
    write_csv(f"{args.out}.csv", timings)
    if not args.quick:
        write_generated(args.docs, markdown(payload), SOURCE)
    return payload


if __name__ == "__main__":
    main()
