"""Throughput of AnthropicTeacher against a fake API with 200 ms latency.

Measures items labelled per second for several ``max_concurrency`` and
``batch_size`` values, cache-hit throughput (lookups per second, and items
per second through ``label``), and the per-request overhead of our client
over bare SDK calls. The fake server
(``skakd.teachers.testing.FakeAnthropic``) runs in its own process so that
it does not compete with the client for the GIL.

    python -m benchmarks.teacher_throughput          # full run
    python -m benchmarks.teacher_throughput --quick  # smoke run

Writes ``benchmarks/results/teacher_throughput[_quick].{json,csv,png}`` and
``docs/benchmarks/teacher_throughput.md`` (full run only).
"""

import argparse
import multiprocessing
import tempfile
import time
from pathlib import Path

import numpy as np

from skakd.teachers import AnthropicTeacher, TeacherCache, request_key
from skakd.teachers.testing import FakeAnthropic

from ._report import (
    DOCS,
    RESULTS,
    command_line,
    machine_info,
    markdown_table,
    write_csv,
    write_json,
)

CLASSES = ["billing", "delivery", "refund", "account", "card"]
DOC = DOCS / "teacher_throughput.md"
TARGET_SPEEDUP, TARGET_HITS = 10.0, 10_000


def _serve(latency, conn):
    with FakeAnthropic(latency=latency) as server:
        conn.send(server.base_url)
        conn.recv()  # until the parent says stop


class Server:
    """A FakeAnthropic in a child process."""

    def __init__(self, latency):
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(latency, child),
                                        daemon=True)

    def __enter__(self):
        self._process.start()
        self.base_url = self._conn.recv()
        return self

    def __exit__(self, *exc_info):
        self._conn.send("stop")
        self._process.join(timeout=10)


def texts(n, offset=0):
    return [f"customer message {offset + i} about my {CLASSES[i % 5]} problem"
            for i in range(n)]


def teacher(base_url, **params):
    defaults = dict(api_key="test-key", cache=None, max_retries=0, timeout=30)
    return AnthropicTeacher(base_url=base_url, **{**defaults, **params})


def measure_labelling(base_url, concurrencies, batch_sizes, waves):
    rows = []
    for batch_size in batch_sizes:
        for concurrency in concurrencies:
            n_items = batch_size * concurrency * waves
            model = teacher(base_url, batch_size=batch_size,
                            max_concurrency=concurrency)
            model.label(texts(batch_size), CLASSES)  # warm the connection
            items = texts(n_items, offset=10_000)
            start = time.perf_counter()
            result = model.label(items, CLASSES)
            seconds = time.perf_counter() - start
            assert result.n_unlabeled == 0
            rows.append({"batch_size": batch_size, "max_concurrency": concurrency,
                         "n_items": n_items, "seconds": seconds,
                         "items_per_s": n_items / seconds})
            print(f"batch_size={batch_size:3d} max_concurrency={concurrency:3d} "
                  f"{n_items / seconds:9.1f} items/s")
    return rows


def measure_cache(n_keys):
    with tempfile.TemporaryDirectory() as folder:
        cache = TeacherCache(Path(folder) / "bench.sqlite")
        keys = [request_key({"i": i}) for i in range(n_keys)]
        cache.put_many((key, {"labels": ["billing"] * 20}) for key in keys)
        order = np.random.default_rng(0).permutation(n_keys)
        start = time.perf_counter()
        for i in order:
            cache.get(keys[i])
        lookups = n_keys / (time.perf_counter() - start)
    print(f"cache: {lookups:,.0f} lookups/s")
    return lookups


def measure_cached_labelling(base_url, n_items, batch_size):
    with tempfile.TemporaryDirectory() as folder:
        model = teacher(base_url, batch_size=batch_size, max_concurrency=16,
                        cache=Path(folder) / "bench.sqlite")
        items = texts(n_items, offset=50_000)
        model.label(items, CLASSES)
        start = time.perf_counter()
        result = model.label(items, CLASSES)
        seconds = time.perf_counter() - start
        assert result.n_cached == n_items
    print(f"cached label(): {n_items / seconds:,.0f} items/s")
    return n_items / seconds


def measure_overhead(base_url, n_requests):
    """Seconds per request: bare SDK call vs. our label() (no latency server)."""
    import anthropic

    model = teacher(base_url, batch_size=10, max_concurrency=1)
    request = model._label_request(texts(10), CLASSES)
    request.pop("temperature")
    client = anthropic.Anthropic(api_key="test-key", base_url=base_url,
                                 max_retries=0)
    bare, ours = [], []
    for i in range(n_requests):  # interleaved, so load changes hit both alike
        start = time.perf_counter()
        client.messages.create(max_tokens=4096, **request)
        bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.label(texts(10, offset=100 * i), CLASSES)
        ours.append(time.perf_counter() - start)
    bare_ms, ours_ms = 1e3 * np.median(bare[1:]), 1e3 * np.median(ours[1:])
    print(f"per request: bare SDK {bare_ms:.2f} ms, AnthropicTeacher {ours_ms:.2f} ms")
    return bare_ms, ours_ms


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for batch_size in sorted({r["batch_size"] for r in rows}):
        part = [r for r in rows if r["batch_size"] == batch_size]
        ax.plot([r["max_concurrency"] for r in part],
                [r["items_per_s"] for r in part], marker="o",
                label=f"batch_size={batch_size}")
    ax.set(xscale="log", yscale="log", xlabel="max_concurrency",
           ylabel="items labelled per second",
           title="AnthropicTeacher vs fake API (200 ms latency)")
    ax.set_xticks(sorted({r["max_concurrency"] for r in rows}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def speedups(rows):
    out = {}
    for batch_size in sorted({r["batch_size"] for r in rows}):
        part = {r["max_concurrency"]: r["items_per_s"] for r in rows
                if r["batch_size"] == batch_size}
        out[batch_size] = part[max(part)] / part[min(part)]
    return out


def write_doc(payload, command):
    rows, speed = payload["labelling"], payload["speedup_max_vs_1"]
    lines = [
        "# Teacher throughput",
        "",
        "`AnthropicTeacher` against the fake Anthropic Messages API of "
        "`skakd.teachers.testing.FakeAnthropic` (a separate process, 200 ms "
        "per answer). Reproduce with:",
        "",
        f"    {command}",
        "",
        f"Measured {payload['machine']['timestamp_utc']} on "
        f"{payload['machine']['cpu_count']} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in payload['machine']['loadavg'])} "
        "(a shared machine: absolute numbers vary).",
        "",
        "## Items labelled per second",
        "",
        *markdown_table(
            ["batch_size", "max_concurrency", "items", "seconds", "items/s"],
            [[r["batch_size"], r["max_concurrency"], r["n_items"],
              f"{r['seconds']:.2f}", f"{r['items_per_s']:.1f}"] for r in rows],
            align="rrrrr"),
    ]
    lines += ["", "Speed-up of the largest `max_concurrency` over 1 (target "
              f">= {TARGET_SPEEDUP:.0f}x):", ""]
    lines += [f"- batch_size={b}: {s:.1f}x" for b, s in speed.items()]
    lines += [
        "",
        "![throughput](../../benchmarks/results/teacher_throughput.png)",
        "",
        "## Cache",
        "",
        f"- `TeacherCache.get`: {payload['cache_lookups_per_s']:,.0f} lookups/s "
        f"(target >= {TARGET_HITS:,}).",
        f"- `label()` with every batch cached: "
        f"{payload['cached_items_per_s']:,.0f} items/s.",
        "",
        "## Client overhead",
        "",
        "Median seconds per request against the fake server without latency, "
        "one 10-item batch, sequential:",
        "",
        f"- bare `client.messages.create`: {payload['bare_sdk_ms']:.2f} ms",
        f"- `AnthropicTeacher.label` (prompt, validation, cost, rate limiter): "
        f"{payload['teacher_ms']:.2f} ms "
        f"(+{payload['teacher_ms'] - payload['bare_sdk_ms']:.2f} ms)",
        "",
    ]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines), encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: fewer settings, fewer requests")
    parser.add_argument("--latency", type=float, default=0.2,
                        help="seconds per fake answer (default 0.2)")
    args = parser.parse_args(argv)
    concurrencies = [1, 16] if args.quick else [1, 4, 16]
    batch_sizes = [10] if args.quick else [1, 10, 25]
    waves = 2 if args.quick else 4

    with Server(args.latency) as slow:
        rows = measure_labelling(slow.base_url, concurrencies, batch_sizes, waves)
    with Server(0.0) as fast:
        cached = measure_cached_labelling(fast.base_url, 2000 if args.quick
                                          else 20_000, 20)
        bare_ms, ours_ms = measure_overhead(fast.base_url, 20 if args.quick else 200)
    lookups = measure_cache(5000 if args.quick else 50_000)

    payload = {
        "machine": machine_info(), "latency_s": args.latency, "quick": args.quick,
        "labelling": rows, "speedup_max_vs_1": speedups(rows),
        "cache_lookups_per_s": lookups, "cached_items_per_s": cached,
        "bare_sdk_ms": bare_ms, "teacher_ms": ours_ms,
    }
    stem = "teacher_throughput_quick" if args.quick else "teacher_throughput"
    write_json(RESULTS / f"{stem}.json", payload)
    write_csv(RESULTS / f"{stem}.csv", rows)
    plot(rows, RESULTS / f"{stem}.png")
    if not args.quick:
        write_doc(payload, command_line("teacher_throughput", argv))
    print("speed-up:", {b: round(s, 1) for b, s in payload["speedup_max_vs_1"].items()})
    return payload


if __name__ == "__main__":
    main()
