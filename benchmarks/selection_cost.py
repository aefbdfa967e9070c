"""Selection cost: M-RARU vs exhaustive uncertainty sampling as the pool grows.

Times one selection of a batch of ``--batch-size`` items with
``MRARU`` and with the exhaustive ``UncertaintySampler`` (least confidence),
for pools of 10^4, 10^5 and 10^6 rows of ``--n-features`` numeric features
(384, the width of MiniLM sentence embeddings) from ``--n-classes`` Gaussian
classes, scored by a fitted ``LogisticRegression``. Both samplers run in the
same process on the same pool, alternating, each ``--repeats`` times with a
different random state; the medians are reported. BLAS runs on
``--blas-threads`` threads (default 1, for both samplers): on a machine
shared with other jobs, multi-threaded BLAS spends more time waiting for a
free core than computing, and the timings stop being reproducible.

Writes ``benchmarks/results/selection_cost.csv`` (one row per timed
selection), ``selection_cost.json`` (medians, speed-ups, machine load) and
``selection_cost.png``, and the page ``docs/benchmarks/selection_cost.md``.

Usage::

    python benchmarks/selection_cost.py            # 10^4, 10^5, 10^6
    python benchmarks/selection_cost.py --quick    # 10^3, 10^4, small, seconds
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
from threadpoolctl import threadpool_limits

from skakd.sampling import MRARU, UncertaintySampler

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script
from _common import PAPER_RULE  # noqa: E402

MRARU_RULES = {"paper": PAPER_RULE, "default": {}}
RULE_TEXT = {
    "paper": "the paper's rule: accept with probability equal to the "
             "normalised least confidence",
    "default": "skakd's defaults: margin uncertainty, exponent fitted for 10% "
               "acceptance",
}

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "benchmarks"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--n-features", type=int, default=384)
    parser.add_argument("--n-classes", type=int, default=10)
    parser.add_argument("--n-seed", type=int, default=1000,
                        help="labelled rows the student is fitted on")
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--mraru-rule", choices=list(MRARU_RULES), default="paper",
                        help="paper: accept with probability = least confidence "
                             "(what selection_cost.md reports); default: MRARU's "
                             "defaults (margin, 10%% target acceptance)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for both samplers (0: library default)")
    parser.add_argument("--quick", action="store_true",
                        help="pools of 10^3 and 10^4 rows, 3 repeats")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--stem", default="selection_cost",
                        help="name of the result files")
    parser.add_argument("--docs", type=Path, default=DOCS / "selection_cost.md",
                        help="markdown page to write ('-': none)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = [1_000, 10_000], 3
    return args


def make_data(n_rows, n_features, n_classes, rng, out=None, chunk=100_000):
    """Gaussian classes with overlapping centres, written chunk by chunk.

    ``out`` may be a preallocated array or ``np.memmap`` (any float dtype);
    the rows are generated in chunks so memory stays O(chunk).
    """
    centres = rng.normal(scale=0.15, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, n_rows)
    if out is None:
        out = np.empty((n_rows, n_features), dtype=np.float32)
    for begin in range(0, n_rows, chunk):
        stop = min(begin + chunk, n_rows)
        noise = rng.standard_normal((stop - begin, n_features), dtype=np.float32)
        out[begin:stop] = centres[y[begin:stop]] + noise
    return out, y


def machine_info():
    return {
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "python": sys.version.split()[0],
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
    }


def time_select(sampler, student, X_pool, candidates, batch_size, random_state):
    start = time.perf_counter()
    chosen = sampler.select(student, X_pool, candidates, batch_size, random_state)
    seconds = time.perf_counter() - start
    assert len(chosen) == batch_size
    return seconds, sampler.last_stats_["n_visited"]


def run(args):
    # The student uses the same class centres as the pool: seed and pool are
    # drawn from one generator so the pool follows the seed's distribution.
    rng = np.random.default_rng(args.random_state)
    largest = max(args.sizes)
    X_all, y_all = make_data(args.n_seed + largest, args.n_features,
                             args.n_classes, rng)
    student = LogisticRegression(max_iter=500).fit(
        X_all[: args.n_seed], y_all[: args.n_seed]
    )
    pool = X_all[args.n_seed :]
    samplers = {
        "MRARU": MRARU(batch_size=args.batch_size, **MRARU_RULES[args.mraru_rule]),
        "UncertaintySampler": UncertaintySampler(batch_size=args.batch_size),
    }
    rows = []
    # Sizes and methods alternate within each repeat, so that changes in the
    # load of a shared machine hit all of them alike.
    for repeat in range(args.repeats):
        for size in sorted(args.sizes):
            X_pool, candidates = pool[:size], np.arange(size)
            for name, sampler in samplers.items():
                seconds, visited = time_select(
                    sampler, student, X_pool, candidates, args.batch_size,
                    random_state=repeat,
                )
                rows.append({"pool_size": size, "method": name, "repeat": repeat,
                             "seconds": seconds, "n_visited": visited})
    for size in sorted(args.sizes):
        print(f"pool {size:>9,}: " + ", ".join(
            f"{name} {_median(rows, size, name) * 1e3:.2f} ms"
            for name in samplers), flush=True)
    return rows


def _median(rows, size, method, key="seconds"):
    return float(np.median([r[key] for r in rows
                            if r["pool_size"] == size and r["method"] == method]))


def summarise(rows, args, info):
    sizes = sorted({r["pool_size"] for r in rows})
    table = []
    for size in sizes:
        mraru = _median(rows, size, "MRARU")
        exhaustive = _median(rows, size, "UncertaintySampler")
        table.append({
            "pool_size": size,
            "mraru_seconds": mraru,
            "mraru_n_visited": _median(rows, size, "MRARU", "n_visited"),
            "exhaustive_seconds": exhaustive,
            "speedup": exhaustive / mraru,
        })
    return {**info, "params": {k: v for k, v in vars(args).items()
                               if k not in ("out_dir", "docs", "stem")},
            "results": table}


def write_csv(rows, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = summary["results"]
    sizes = [r["pool_size"] for r in table]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.loglog(sizes, [r["exhaustive_seconds"] for r in table], "o-",
              label="UncertaintySampler (exhaustive)")
    ax.loglog(sizes, [r["mraru_seconds"] for r in table], "s-", label="MRARU")
    for r in table:
        ax.annotate(f"{r['speedup']:,.0f}x", (r["pool_size"], r["mraru_seconds"]),
                    textcoords="offset points", xytext=(0, 6), ha="center",
                    fontsize=8)
    params = summary["params"]
    ax.set_xlabel("pool size (rows)")
    ax.set_ylabel("seconds per batch (median)")
    ax.set_title(f"Selecting {params['batch_size']} of n: "
                 f"{params['n_features']} features, {params['n_classes']} classes",
                 fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_docs(summary, path, image):
    params = summary["params"]
    lines = [
        "# Selection cost: M-RARU vs exhaustive uncertainty sampling"
        + ("" if params["mraru_rule"] == "paper" else ", MRARU's defaults"),
        "",
        f"Time to select one batch of {params['batch_size']} items from pools of "
        f"{params['n_features']} numeric features ({params['n_classes']} "
        "Gaussian classes), scored by a `LogisticRegression` fitted on "
        f"{params['n_seed']} labelled rows. Median of {params['repeats']} "
        "selections per method and size, both measured in the same run on the "
        "same pool (float32, in memory), with BLAS limited to "
        f"{params['blas_threads'] or 'the default number of'} thread(s) for "
        "both. `UncertaintySampler` scores every row (least confidence, "
        f"chunks of 10,000); `MRARU` ({RULE_TEXT[params['mraru_rule']]}) "
        "scores only the rows it visits, so its "
        "time depends on the batch size and the acceptance rate, not on the "
        "pool size.",
        "",
        "| pool size | MRARU (ms) | rows visited by MRARU | exhaustive (ms) "
        "| speed-up |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in summary["results"]:
        lines.append(
            f"| {r['pool_size']:,} | {r['mraru_seconds'] * 1e3:.2f} "
            f"| {r['mraru_n_visited']:.0f} | {r['exhaustive_seconds'] * 1e3:,.1f} "
            f"| {r['speedup']:,.0f}x |"
        )
    load = ", ".join(f"{x:.2f}" for x in summary["loadavg"])
    lines += [
        "",
        f"![selection cost]({image})",
        "",
        f"Measured {summary['timestamp']} on {summary['cpu_count']} CPU cores "
        f"shared with other jobs (load average {load}), Python "
        f"{summary['python']}. Reproduce with:",
        "",
        "```",
        summary["command"],
        "```",
        "",
        "Raw timings: `benchmarks/results/selection_cost.csv`; medians and "
        "machine load: `benchmarks/results/selection_cost.json`.",
        "",
    ]
    path.write_text("\n".join(lines))


def main(argv=None):
    args = parse_args(argv)
    info = machine_info()
    with threadpool_limits(args.blas_threads or None):
        rows = run(args)
    summary = summarise(rows, args, info)
    summary["loadavg_end"] = os.getloadavg()
    stem = args.stem + ("_quick" if args.quick else "")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out_dir / f"{stem}.csv")
    (args.out_dir / f"{stem}.json").write_text(json.dumps(summary, indent=2))
    plot(summary, args.out_dir / f"{stem}.png")
    if not args.quick and args.docs.name != "-":
        args.docs.parent.mkdir(parents=True, exist_ok=True)
        image = os.path.relpath(args.out_dir / f"{stem}.png", args.docs.parent)
        write_docs(summary, args.docs, image)
    return summary


if __name__ == "__main__":
    main()
