"""Scale: M-RARU, exhaustive rounds and batch prediction on pools of 10^5 to 10^7 rows.

The pool is a ``.npy`` file of ``--n-features`` float16 "embeddings" (Gaussian
classes, written chunk by chunk), read through :class:`skakd.pools.NpyPool`;
smaller pools are prefixes of the same file. Every measurement runs in a
fresh subprocess so its peak resident memory (``VmHWM``) is its own:

* ``mraru_fit``: ``ActiveDistillationClassifier.fit`` with ``MRARU(25)`` for
  ``--rounds`` rounds (teacher: a fixed linear rule, answering instantly);
  reports the median round time and peak RSS of the whole fit.
* ``exhaustive_fit``: the same fit with ``UncertaintySampler(25)`` for one
  round, which scores the whole pool, in one process, with ``n_jobs=2``
  (local processes) and on a Dask ``LocalCluster`` of 2 workers.
* ``predict``: :func:`skakd.parallel.predict_in_chunks` over the whole
  pool, in the same three modes.
* ``embed``: :func:`skakd.features.precompute_features` of generated texts
  with :class:`skakd.text.SentenceEmbedder` (all-MiniLM-L6-v2), same modes.

BLAS and torch use one thread per process, so ``n_jobs=2`` means two cores.
Writes ``benchmarks/results/scale.{csv,json,png}`` and
``docs/benchmarks/scale.md``; the data files go to ``--workdir`` and are
deleted at the end (``--keep`` keeps them).

Usage::

    python -m benchmarks.scale            # 10^5, 10^6, 10^7 rows (7.7 GB on disk)
    python -m benchmarks.scale --quick    # 10^4 and 10^5 rows, a few minutes
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ._common import PAPER_RULE
from ._report import (
    DOCS,
    RESULTS,
    ROOT,
    command_line,
    machine_info,
    write_csv,
    write_json,
)

MODES = ("single", "n_jobs=2", "dask-2-workers")
N_CLASSES, N_SEED = 10, 50


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--n-features", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=10,
                        help="M-RARU rounds per fit")
    parser.add_argument("--n-texts", type=int, default=4_000,
                        help="texts embedded in the embedding stage (0: skip)")
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/skakd_scale"))
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--docs", type=Path, default=DOCS / "scale.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.rounds, args.n_texts = [10_000, 100_000], 4, 300
    return args


# -- data -----------------------------------------------------------------

def write_pool(path, n_rows, n_features, chunk=200_000):
    """Seed rows and a float16 pool file, generated chunk by chunk."""
    rng = np.random.default_rng(0)
    pool = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16,
                                     shape=(n_rows, n_features))
    centres = rng.normal(scale=0.15, size=(N_CLASSES, n_features))
    for begin in range(0, n_rows, chunk):
        stop = min(begin + chunk, n_rows)
        y = rng.integers(0, N_CLASSES, stop - begin)
        noise = rng.standard_normal((stop - begin, n_features), dtype=np.float32)
        pool[begin:stop] = centres[y] + noise
    pool.flush()
    del pool
    np.save(path.with_name("centres.npy"), centres)


def rule_teacher(centres):
    """The 'LLM': the nearest class centre, answered instantly, in the driver."""

    def teacher(items):
        return np.argmax(np.asarray(items, dtype=np.float32) @ centres.T, axis=1)

    return teacher


def texts_for(n_texts):
    rng = np.random.default_rng(0)
    words = ("card payment refund transfer account balance exchange rate cash "
             "limit pin atm fee delivery arrived declined top up verify "
             "identity statement").split()
    return [" ".join(rng.choice(words, size=rng.integers(5, 15)))
            for _ in range(n_texts)]


# -- one measurement (child process) ---------------------------------------

def child(spec):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        start = time.perf_counter()
        result = MEASURES[spec["task"]](spec)
        result["wall_seconds"] = time.perf_counter() - start
    result["peak_rss_mib"] = _peak_rss_mib()
    print("RESULT " + json.dumps(result), flush=True)


def _peak_rss_mib():
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _backend(mode):
    """A context for the mode, plus the n_jobs argument to pass."""
    import contextlib

    if mode == "single":
        return contextlib.nullcontext(), None
    if mode == "n_jobs=2":
        return contextlib.nullcontext(), 2
    from distributed import LocalCluster

    from skakd.parallel import dask_backend

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=None)
    return _closing(dask_backend(cluster.scheduler_address), cluster), None


class _closing:
    def __init__(self, context, cluster):
        self.context, self.cluster = context, cluster

    def __enter__(self):
        return self.context.__enter__()

    def __exit__(self, *exc):
        self.context.__exit__(*exc)
        self.cluster.close()


def _seed_and_pool(spec):
    from skakd.pools import NpyPool

    centres = np.load(Path(spec["pool"]).with_name("centres.npy"))
    rng = np.random.default_rng(1)
    y = rng.integers(0, N_CLASSES, N_SEED)
    noise = rng.standard_normal((N_SEED, centres.shape[1]))
    X_seed = np.vstack([centres, centres[y] + noise]).astype(np.float16)
    teacher = rule_teacher(centres)
    return X_seed, teacher(X_seed), NpyPool(spec["pool"], n_rows=spec["size"]), teacher


def measure_fit(spec):
    from sklearn.linear_model import LogisticRegression

    from skakd import ActiveDistillationClassifier
    from skakd.sampling import MRARU, UncertaintySampler

    X_seed, y_seed, pool, teacher = _seed_and_pool(spec)
    context, n_jobs = _backend(spec["mode"])
    if spec["task"] == "mraru_fit":  # the paper's rule: what the results measured
        sampler, rounds = MRARU(batch_size=25, **PAPER_RULE), spec["rounds"]
    else:
        sampler = UncertaintySampler(batch_size=25, chunk_size=spec["chunk_size"],
                                     n_jobs=n_jobs)
        rounds = 1
    clf = ActiveDistillationClassifier(
        LogisticRegression(max_iter=300), teacher=teacher, sampler=sampler,
        max_iter=rounds, random_state=0,
    )
    with context:
        if n_jobs or spec["mode"] != "single":  # start the workers untimed
            warm = LogisticRegression().fit(X_seed, y_seed)
            UncertaintySampler(chunk_size=50, n_jobs=n_jobs).select(
                warm, X_seed, np.arange(len(X_seed)), 25, 0)
        clf.fit(X_seed, y_seed, X_pool=pool)
    history = clf.history_[1:]
    return {
        "round_seconds": float(np.median([r["seconds"] for r in history])),
        "select_seconds": float(np.median([r["select_seconds"] for r in history])),
        "fit_seconds": float(np.median([r["fit_seconds"] for r in history])),
        "n_visited": float(np.median([r["n_visited"] for r in history])),
        "rounds": len(history),
    }


def measure_predict(spec):
    from sklearn.linear_model import LogisticRegression

    from skakd.parallel import predict_in_chunks

    X_seed, y_seed, pool, _ = _seed_and_pool(spec)
    student = LogisticRegression(max_iter=300).fit(X_seed, y_seed)
    context, n_jobs = _backend(spec["mode"])
    with context:
        predict_in_chunks(student, X_seed, chunk_size=10, n_jobs=n_jobs)  # warm-up
        start = time.perf_counter()
        y = predict_in_chunks(student, pool, chunk_size=spec["chunk_size"],
                              n_jobs=n_jobs)
        seconds = time.perf_counter() - start
    assert len(y) == spec["size"]
    return {"seconds": seconds, "rows_per_second": spec["size"] / seconds}


def measure_embed(spec):
    from skakd.features import precompute_features
    from skakd.text import SentenceEmbedder

    texts = texts_for(spec["size"])
    embedder = SentenceEmbedder(num_threads=1).fit()
    path = Path(spec["workdir"]) / f"emb-{spec['mode']}.npy"
    for stale in Path(spec["workdir"]).glob(f"emb-{spec['mode']}*"):
        stale.unlink()
    context, n_jobs = _backend(spec["mode"])
    with context:
        precompute_features(embedder, texts[:8], path.with_suffix(".warm.npy"),
                            chunk_size=2, n_jobs=n_jobs)  # load the model
        start = time.perf_counter()
        features = precompute_features(embedder, texts, path, dtype="float16",
                                       chunk_size=250, n_jobs=n_jobs)
        seconds = time.perf_counter() - start
    assert features.shape == (spec["size"], 384)
    return {"seconds": seconds, "rows_per_second": spec["size"] / seconds}


MEASURES = {"mraru_fit": measure_fit, "exhaustive_fit": measure_fit,
            "predict": measure_predict, "embed": measure_embed}


# -- driver ---------------------------------------------------------------

def run_child(spec):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.scale", "--child", json.dumps(spec)],
        capture_output=True, text=True, env=env, cwd=ROOT,
    )
    for line in process.stdout.splitlines():
        if line.startswith("RESULT "):
            return {**spec, **json.loads(line[len("RESULT "):])}
    raise RuntimeError(f"measurement {spec} failed:\n{process.stderr[-3000:]}")


def plan(args, pool_path, fit_limit_rows):
    base = {"pool": str(pool_path), "chunk_size": args.chunk_size,
            "rounds": args.rounds, "workdir": str(args.workdir)}
    specs = []
    for size in sorted(args.sizes):
        fits = ("mraru_fit", "exhaustive_fit") if size <= fit_limit_rows else ()
        for task in (*fits, "predict"):
            modes = ("single",) if task == "mraru_fit" else MODES
            specs += [{**base, "task": task, "size": size, "mode": mode}
                      for mode in modes]
    if args.n_texts:
        specs += [{**base, "task": "embed", "size": args.n_texts, "mode": mode}
                  for mode in MODES]
    return specs


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(json.loads(args.child))
    info = {**machine_info(), "command": command_line("scale", argv)}
    args.workdir.mkdir(parents=True, exist_ok=True)
    pool_path = args.workdir / "pool.npy"
    largest = max(args.sizes)
    start = time.perf_counter()
    write_pool(pool_path, largest, args.n_features)
    info["pool_write_seconds"] = time.perf_counter() - start
    info["pool_file_gib"] = pool_path.stat().st_size / 2**30
    print(f"pool file {info['pool_file_gib']:.2f} GiB written in "
          f"{info['pool_write_seconds']:.0f} s", flush=True)
    # fit takes an out-of-core pool as it is (skakd.pools): every size is fitted.
    fit_limit = largest
    rows = []
    try:
        for spec in plan(args, pool_path, fit_limit):
            row = run_child(spec)
            rows.append(row)
            print(_describe(row), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    info["loadavg_end"] = os.getloadavg()
    summary = {**info, "params": {k: str(v) if isinstance(v, Path) else v
                                  for k, v in vars(args).items() if k != "child"},
               "results": [_public(r) for r in rows]}
    stem = "scale_quick" if args.quick else "scale"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(args.out_dir / f"{stem}.csv", summary["results"],
              fields=sorted({key for row in summary["results"] for key in row}))
    write_json(args.out_dir / f"{stem}.json", summary, indent=2)
    plot(summary["results"], args.out_dir / f"{stem}.png")
    if not args.quick:
        image = os.path.relpath(args.out_dir / f"{stem}.png", args.docs.parent)
        args.docs.parent.mkdir(parents=True, exist_ok=True)
        args.docs.write_text(render_docs(summary, image))
    return summary


def _public(row):
    return {k: v for k, v in row.items()
            if k not in ("pool", "workdir", "chunk_size", "rounds")}


def _describe(row):
    main = row.get("round_seconds", row.get("seconds"))
    return (f"{row['task']:>15} {row['size']:>11,} {row['mode']:>15}: "
            f"{main:9.3f} s, peak RSS {row['peak_rss_mib']:7.0f} MiB")


def _pick(rows, task, mode="single"):
    return sorted((r for r in rows if r["task"] == task and r["mode"] == mode),
                  key=lambda r: r["size"])


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for task, key, label in (("mraru_fit", "round_seconds", "M-RARU round"),
                             ("exhaustive_fit", "round_seconds", "exhaustive round")):
        for mode in MODES:
            picked = _pick(rows, task, mode)
            if picked:
                left.loglog([r["size"] for r in picked], [r[key] for r in picked],
                            "o-", label=f"{label} ({mode})")
        picked = _pick(rows, task)
        right.loglog([r["size"] for r in picked],
                     [r["peak_rss_mib"] for r in picked], "o-", label=label)
    left.set_xlabel("pool size (rows)")
    left.set_ylabel("seconds per round (median)")
    left.legend(fontsize=7)
    right.axhline(2048, color="grey", ls="--", lw=1, label="2 GiB")
    right.set_xlabel("pool size (rows)")
    right.set_ylabel("peak RSS of fit (MiB)")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render_docs(summary, image):
    rows = summary["results"]
    p = summary["params"]
    lines = [
        "# Scale: out-of-core pools, parallel scoring and Dask",
        "",
        f"Pools of {p['n_features']} float16 features per row in a `.npy` file "
        f"({summary['pool_file_gib']:.1f} GiB at {max(p['sizes']):,} rows), read "
        "through `skakd.pools.NpyPool`; one process per measurement, BLAS on "
        "one thread per process. Student: `LogisticRegression` on "
        f"{N_SEED + N_CLASSES} seed rows; teacher: an instant rule in the "
        "driver process.",
        "",
        "`fit` took the pool as it is: out-of-core pools are checked without "
        "being loaded, and rows are read only when a sampler visits them.",
        "",
        "## Fit: M-RARU vs exhaustive rounds",
        "",
        "| pool rows | sampler | mode | round (s) | selection (s) | rows scored "
        "| peak RSS of fit (MiB) |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for task, name in (("mraru_fit", "MRARU"), ("exhaustive_fit", "exhaustive")):
        for r in sorted((r for r in rows if r["task"] == task),
                        key=lambda r: (r["size"], MODES.index(r["mode"]))):
            lines.append(
                f"| {r['size']:,} | {name} | {r['mode']} | {r['round_seconds']:.3f} "
                f"| {r['select_seconds']:.3f} | {r['n_visited']:,.0f} "
                f"| {r['peak_rss_mib']:,.0f} |"
            )
    lines += ["",
              "An M-RARU round's selection time does not grow with the pool; "
              "what grows in its round time is the loop's own bookkeeping "
              "(`np.flatnonzero` over the unlabelled mask gives an 8-byte index "
              "per unlabelled row every round). Peak RSS of fit includes the "
              "Python interpreter, scikit-learn and one scoring chunk "
              "(exhaustive: 50,000 rows converted to float64).",
              "", "## Batch prediction and embedding throughput", "",
              "| task | rows | mode | seconds | rows/s | speed-up vs single "
              "| peak RSS of driver (MiB) |",
              "|---|---:|---|---:|---:|---:|---:|"]
    for task in ("predict", "embed"):
        for size in sorted({r["size"] for r in rows if r["task"] == task}):
            group = {r["mode"]: r for r in rows
                     if r["task"] == task and r["size"] == size}
            for mode in MODES:
                if mode in group:
                    r = group[mode]
                    speedup = r["rows_per_second"] / group["single"]["rows_per_second"]
                    lines.append(
                        f"| {task} | {size:,} | {mode} | {r['seconds']:.2f} "
                        f"| {r['rows_per_second']:,.0f} | {speedup:.2f}x "
                        f"| {r['peak_rss_mib']:,.0f} |"
                    )
    load = ", ".join(f"{x:.2f}" for x in summary["loadavg"])
    end_load = ", ".join(f"{x:.2f}" for x in summary["loadavg_end"])
    lines += [
        "",
        "Each figure is one run (no repeats: the 10^7 runs take minutes). "
        "Speed-up is throughput relative to the single process; linear "
        "scaling would be 2.00x with two workers. Chunks are independent "
        "(each worker reads its own rows of the file; only the row numbers "
        "and the student travel), so the work itself divides by the number "
        "of workers; what is measured here also reflects how much of the two "
        f"cores the other jobs on this machine left free (load average "
        f"{load} at start, {end_load} at the end: well above 2).",
        "",
        "## Running on a real cluster",
        "",
        "Start a scheduler and workers on the machines (`dask scheduler` on "
        "one, `dask worker tcp://<scheduler>:8786` on each of the others), "
        "make the pool file reachable under the same path on every worker "
        "(shared or copied storage), then, in Python:",
        "",
        "```console",  # shown, not run by the docs tests: it needs a cluster
        "from skakd.parallel import dask_backend, predict_in_chunks",
        "from skakd.pools import NpyPool",
        "",
        'with dask_backend("tcp://<scheduler>:8786"):',
        "    clf.fit(X_seed, y_seed, X_pool=NpyPool(\"pool.npy\"))  "
        "# an UncertaintySampler scores the pool there",
        "    y = predict_in_chunks(clf.estimator_, NpyPool(\"big.npy\"), "
        "n_jobs=-1)",
        "```",
        "",
        "`dask_backend` is `joblib.parallel_backend(\"dask\")` with a "
        "client; `pip install \"skakd[distributed]\"` installs Dask. The teacher "
        "is only ever called in the driver process, so budgets, the answer "
        "cache and rate limits stay global.",
        "",
        f"![scale]({image})",
        "",
        f"Measured {summary['timestamp_utc']} on {summary['cpu_count']} CPU cores "
        f"shared with other jobs (load average at start {load}). Reproduce "
        "with:",
        "",
        "```",
        summary["command"],
        "```",
        "",
        "Raw numbers: `benchmarks/results/scale.csv` and `scale.json`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
