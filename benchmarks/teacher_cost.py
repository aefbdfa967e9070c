"""The teacher's bill: what a label costs, and that nothing is paid twice.

Against the fake Messages API (:mod:`skakd.teachers.testing`), on the
banking77 77-class taxonomy with requests of 20 items:

* **per 1,000 labels**: input-token cost of labelling 1,000 pool texts
  without prompt caching, with it (the default), and with it through
  Message Batches (``batch_api=True``), for a model whose minimum cacheable
  prefix is 1,024 tokens and for Claude Haiku 4.5 (4,096);
* **faults**: M-RARU fits with 20% injected faults (429, 500, 529, dropped
  connections, late answers, malformed and out-of-class answers), one per
  fault seed, against a fault-free fit: same labelled set, same student,
  and the library's bill equal to the server's ledger to the token;
* **SIGKILL**: fits killed at random moments (with and without
  ``batch_api``) and run again on their cache: items paid twice and SQLite
  ``PRAGMA integrity_check``;
* **two processes** running the same fit on one cache: items paid twice;
* **the user's number**: the bill of an M-RARU run (rounds of 25) until the
  student reaches 95% of its full-data accuracy, as a fraction of labelling
  the whole pool in requests of 20 without caching.

    python -m benchmarks.teacher_cost            # full run
    python -m benchmarks.teacher_cost --quick    # smoke run

Writes ``benchmarks/results/teacher_cost[_quick].json`` and, for a full run,
``docs/benchmarks/teacher_cost.md``.
"""

import argparse
import collections
import json
import multiprocessing
import os
import signal
import sqlite3
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Callback
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import PRICES, AnthropicTeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic, Fault, random_faults

from ._report import DOCS, RESULTS, command_line, machine_info, write_json

DOC = DOCS / "teacher_cost.md"
# A model that caches prefixes of 1,024 tokens or more, and the default model.
MODELS = {"claude-opus-4-1": 1024, "claude-haiku-4-5": 4096}
CACHING_MODEL = "claude-opus-4-1"
TARGETS = {"caching_ratio": 0.5, "batch_ratio": 0.55,
           "bill_fraction_default": 0.10, "bill_fraction_batch": 0.06}
LEDGER = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
          "cache_write_tokens": "cache_creation_input_tokens",
          "cache_read_tokens": "cache_read_input_tokens"}


def load(quick):
    """banking77 texts: a seed of one text per class, the pool, the test set."""
    data = load_dataset("banking77")
    X = np.asarray(data.X_train, dtype=object)
    y = np.asarray(data.y_train)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    if quick:
        order = order[:2000]
    seed = np.array([order[y[order] == c][0] for c in np.unique(y)])
    pool = np.setdiff1d(order, seed)
    return {"X_seed": X[seed], "y_seed": y[seed], "X_pool": X[pool],
            "y_pool": y[pool], "X_test": np.asarray(data.X_test, dtype=object),
            "y_test": np.asarray(data.y_test), "classes": sorted(np.unique(y)),
            "truth": dict(zip(X.tolist(), y.tolist()))}


def student():
    # SGD's logistic regression: a full banking77 fit takes a second, where
    # lbfgs takes twenty on these shared cores.
    return make_pipeline(TfidfVectorizer(sublinear_tf=True),
                         SGDClassifier(loss="log_loss", alpha=1e-5, random_state=0))


def teacher(server, model=CACHING_MODEL, **params):
    return AnthropicTeacher(**{"base_url": server.base_url, "api_key": "test-key",
                               "model": model, "batch_size": 20, "cache": None,
                               "timeout": 5.0, **params})


def input_usd(ledger, model, prefix=""):
    """Input cost in USD of a server ledger, cache writes and reads at their
    prices and batch results at half price."""
    price_in = PRICES[model][0]
    tokens = (ledger[prefix + "input_tokens"]
              + 1.25 * ledger[prefix + "cache_creation_input_tokens"]
              + 0.1 * ledger[prefix + "cache_read_input_tokens"])
    return tokens * price_in / 1e6 * (0.5 if prefix else 1.0)


def total_usd(ledger, model):
    price_out = PRICES[model][1]
    return sum(input_usd(ledger, model, prefix)
               + ledger[prefix + "output_tokens"] * price_out / 1e6
               * (0.5 if prefix else 1.0) for prefix in ("", "batch_"))


# -- per 1,000 labels ------------------------------------------------------


def per_thousand(data, n):
    """Input-token USD per 1,000 labels, per model and mode."""
    texts = list(data["X_pool"][:n])
    modes = {"no_caching": {"prompt_caching": False},
             "caching": {"prompt_caching": True},
             "caching_batch": {"prompt_caching": True, "batch_api": True}}
    rows = []
    for model in MODELS:
        for mode, params in modes.items():
            with FakeAnthropic(batch_latency=0.05) as server:
                teacher(server, model, **params).label(texts, data["classes"])
                ledger = dict(server.ledger)
            usd = sum(input_usd(ledger, model, p) for p in ("", "batch_"))
            rows.append({"model": model, "mode": mode,
                         "input_usd_per_1000": 1000 * usd / n,
                         "cache_write_tokens": ledger["cache_creation_input_tokens"]
                         + ledger["batch_cache_creation_input_tokens"],
                         "cache_read_tokens": ledger["cache_read_input_tokens"]
                         + ledger["batch_cache_read_input_tokens"]})
    by = {(r["model"], r["mode"]): r["input_usd_per_1000"] for r in rows}
    ratios = {model: {
        "caching": by[model, "caching"] / by[model, "no_caching"],
        "batch": by[model, "caching_batch"] / by[model, "caching"]}
        for model in MODELS}
    return {"n_labels": n, "rows": rows, "ratios": ratios}


# -- fits --------------------------------------------------------------------


def distiller(t, rounds):
    return ActiveDistillationClassifier(student(), teacher=t,
                                        sampler=MRARU(batch_size=25),
                                        max_iter=rounds, random_state=0)


def fit(data, t, rounds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return distiller(t, rounds).fit(data["X_seed"], data["y_seed"],
                                        X_pool=data["X_pool"])


def library_bill(clf):
    records = clf.history_[1:]
    bill = {name: int(sum(r.get(name, 0) for r in records)) for name in LEDGER}
    bill["n_requests"] = int(sum(r.get("n_requests", 0) for r in records))
    return bill


def server_bill(ledger, prefix=""):
    bill = {name: ledger[prefix + key] for name, key in LEDGER.items()}
    bill["n_requests"] = ledger[prefix + "n_billed"]
    return bill


def faults(data, n_seeds, rounds):
    """Fault-free and faulty fits: same labels and student, exact bills."""
    labeler = _labeler(data)
    with FakeAnthropic(labeler=labeler) as server:
        clean = fit(data, teacher(server, max_concurrency=4, timeout=0.3), rounds)
    runs = []
    for seed in range(n_seeds):
        script = random_faults(np.random.default_rng(seed), 400)
        with FakeAnthropic(labeler=labeler) as server:
            server.script(*script)
            start = time.perf_counter()
            clf = fit(data, teacher(server, max_concurrency=4, timeout=0.3,
                                    max_retries=6), rounds)
            ledger, n_sent = dict(server.ledger), server.n_messages
        runs.append({
            "seed": seed, "seconds": time.perf_counter() - start,
            "n_requests_sent": n_sent,
            "n_faults_sent": sum(f != Fault() for f in script[:n_sent]),
            "same_labels": bool(np.array_equal(clf.labeled_X_, clean.labeled_X_)
                                and np.array_equal(clf.labeled_y_, clean.labeled_y_)),
            "same_student": bool(np.allclose(clf.predict_proba(data["X_test"]),
                                             clean.predict_proba(data["X_test"]))),
            "bill_exact": library_bill(clf) == server_bill(ledger),
            "n_api_retries": int(sum(clf.history_[1:, "n_api_retries"])),
            "n_corrections": int(sum(clf.history_[1:, "n_corrections"])),
        })
    return runs


def _labeler(data):
    truth = data["truth"]
    return lambda text, classes: truth[text]


def _fit_in_child(base_url, path, data, rounds, batch_api):
    t = AnthropicTeacher(base_url=base_url, api_key="test-key",
                         model=CACHING_MODEL, batch_size=20, timeout=5.0,
                         cache=TeacherCache(path), batch_api=batch_api)
    fit(data, t, rounds)


def asked(server):
    """How often each item text was sent, by message or in a batch."""
    bodies = server.message_bodies() + [
        entry["params"] for batch in server.batches.values()
        for entry in batch["requests"]]
    return collections.Counter(
        block.split(">", 1)[1].split("</item>", 1)[0]
        for body in bodies
        for block in body["messages"][0]["content"].split('<item id="')[1:])


def _in_child(data, rounds, batch_api, server, path, moment=None):
    """Run the fit in a forked process (killed after ``moment`` seconds);
    return whether it was killed, and the seconds it ran."""
    child = multiprocessing.get_context("fork").Process(
        target=_fit_in_child, args=(server.base_url, path, data, rounds, batch_api))
    start = time.perf_counter()
    child.start()
    child.join(timeout=moment)
    killed = child.is_alive()
    if killed:
        os.kill(child.pid, signal.SIGKILL)
    child.join()
    return killed, time.perf_counter() - start


def _fake(data):
    return FakeAnthropic(labeler=_labeler(data), latency=0.05, batch_latency=0.3)


def kills(data, n_kills, rounds, batch_api):
    """Fits killed at random moments of their run, then run again on their
    cache: the moments are drawn over an uninterrupted run's duration."""
    rng = np.random.default_rng(1 + batch_api)
    with tempfile.TemporaryDirectory() as folder, _fake(data) as server:
        duration = _in_child(data, rounds, batch_api, server,
                             Path(folder) / "cache.sqlite")[1]
    runs = []
    for i in range(n_kills):
        with tempfile.TemporaryDirectory() as folder, _fake(data) as server:
            path = Path(folder) / "cache.sqlite"
            moment = float(rng.uniform(0.05, 0.95) * duration)
            killed = _in_child(data, rounds, batch_api, server, path, moment)[0]
            integrity = _integrity(path)
            t = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
                                 model=CACHING_MODEL, batch_size=20, timeout=5.0,
                                 cache=TeacherCache(path), batch_api=batch_api)
            clf = fit(data, t, rounds)
            counts = asked(server)
        runs.append({"kill": i, "batch_api": batch_api, "moment_s": moment,
                     "uninterrupted_s": duration,
                     "killed": killed, "integrity": integrity,
                     "items_paid_twice": sum(c > 1 for c in counts.values()),
                     "n_labeled": int(len(clf.labeled_y_))})
    return runs


def _integrity(path):
    if not Path(path).exists():
        return "no cache yet"
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def two_processes(data, rounds):
    """Two processes run the same fit on one cache at the same time."""
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory() as folder, _fake(data) as server:
        path = Path(folder) / "cache.sqlite"
        workers = [context.Process(target=_fit_in_child, args=(
            server.base_url, path, data, rounds, False)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        counts = asked(server)
    return {"exit_codes": [w.exitcode for w in workers],
            "items_asked": len(counts),
            "items_paid_twice": sum(c > 1 for c in counts.values())}


# -- the user's number ---------------------------------------------------------


def bill_to_target(data, max_rounds):
    """M-RARU until 95% of the full-data accuracy: its bill as a fraction of
    labelling the whole pool in requests of 20 without caching."""
    full = student().fit(data["X_pool"], data["y_pool"])
    target = 0.95 * full.score(data["X_test"], data["y_test"])
    with FakeAnthropic(labeler=_labeler(data)) as server:
        teacher(server, prompt_caching=False).label(list(data["X_pool"]),
                                                    data["classes"])
        whole_pool = total_usd(server.ledger, CACHING_MODEL)
    result = {"full_accuracy": target / 0.95, "target_accuracy": target,
              "whole_pool_usd": whole_pool}
    for mode, params in {"default": {}, "batch_api": {"batch_api": True}}.items():
        with FakeAnthropic(labeler=_labeler(data), batch_latency=0.02) as server:
            run = _run_until(data, teacher(server, **params), target, max_rounds)
            run["bill_usd"] = total_usd(server.ledger, CACHING_MODEL)
            run["library_usd"] = run.pop("teacher_cost")
            run["bill_fraction"] = run["bill_usd"] / whole_pool
            run["bill_exact"] = (
                run.pop("library") == _sum_bills(server.ledger))
        result[mode] = run
    return result


def _sum_bills(ledger):
    return {name: server_bill(ledger)[name] + server_bill(ledger, "batch_")[name]
            for name in (*LEDGER, "n_requests")}


class _StopAt(Callback):
    """Stops the fit once the student reaches ``target`` test accuracy."""

    def __init__(self, X, y, target):
        self.X, self.y, self.target = X, y, target

    def on_round_end(self, clf, record):
        record["test_accuracy"] = clf.estimator_.score(self.X, self.y)
        return record["test_accuracy"] >= self.target


def _run_until(data, t, target, max_rounds):
    clf = distiller(t, max_rounds)
    clf.set_params(callbacks=[_StopAt(data["X_test"], data["y_test"], target)])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clf.fit(data["X_seed"], data["y_seed"], X_pool=data["X_pool"])
    reached = clf.history_[-1, "test_accuracy"] >= target
    return {"reached": bool(reached), "n_rounds": int(clf.n_iter_),
            "n_labels": int(sum(clf.label_source_ == "teacher")),
            "seconds": time.perf_counter() - start,
            "teacher_cost": float(clf.teacher_cost_), "library": library_bill(clf)}


# -- the report --------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--report", action="store_true",
                        help="rewrite the docs page from the last full run's JSON")
    args = parser.parse_args(argv)
    if args.report:
        payload = json.loads((RESULTS / "teacher_cost.json").read_text())
        write_doc(payload)
        return payload
    quick = args.quick
    data = load(quick)
    start = time.perf_counter()
    payload = {"machine": machine_info(),
               "command": command_line("teacher_cost", argv),
               "quick": quick, "targets": TARGETS}
    steps = {
        "per_1000_labels": lambda: per_thousand(data, 200 if quick else 1000),
        "faults": lambda: faults(data, 2 if quick else 10, 3 if quick else 8),
        "kills": lambda: [run for batch_api in (False, True)
                          for run in kills(data, 1 if quick else 10,
                                           3 if quick else 8, batch_api)],
        "two_processes": lambda: two_processes(data, 3 if quick else 8),
        "bill_to_target": lambda: bill_to_target(data, 4 if quick else 400),
    }
    for name, step in steps.items():
        began = time.perf_counter()
        payload[name] = step()
        print(f"{name}: {time.perf_counter() - began:.0f} s", flush=True)
    payload["seconds"] = time.perf_counter() - start
    payload["verdicts"] = verdicts(payload)
    name = "teacher_cost_quick" if quick else "teacher_cost"
    write_json(RESULTS / f"{name}.json", payload)
    for line in summary(payload):
        print(line)
    if not quick:
        write_doc(payload)
    return payload


def write_doc(payload):
    """``docs/benchmarks/teacher_cost.md`` from a full run's results."""
    lines = summary(payload)
    # The table, a blank line and one ratio line per model come first.
    head = 3 + len(payload["per_1000_labels"]["rows"]) + len(MODELS)
    machine = payload["machine"]
    load = ", ".join(f"{x:.1f}" for x in machine["loadavg"])
    lines = [
        "# Teacher cost",
        "",
        "What a label costs with `AnthropicTeacher`, and that nothing is paid "
        "twice, against the fake Messages API of `skakd.teachers.testing` "
        "(in-process; it bills prompt caching and Message Batches as the API "
        "documents them and keeps its own ledger). banking77's 77-class "
        "taxonomy, requests of 20 items, the student TF-IDF + SGD logistic "
        "regression. Reproduce with:",
        "",
        f"    {payload['command']}",
        "",
        f"Measured {machine['timestamp_utc']} on {machine['cpu_count']} CPUs, "
        f"load average {load} (a shared machine), in "
        f"{payload['seconds'] / 60:.1f} minutes. Results: "
        "`benchmarks/results/teacher_cost.json`.",
        "",
        "## Input-token cost per 1,000 labels",
        "",
        f"{payload['per_1000_labels']['n_labels']} random pool texts labelled in "
        "requests of 20. Prices of the model (cache writes 1.25x, reads 0.1x "
        "the input price, batches half price). Claude Haiku 4.5 caches "
        "prefixes of 4,096 tokens or more only: banking77's prompt (about "
        "1,100 tokens: instructions, 77 class names, the tool schema) is "
        "billed uncached there; a model with the 1,024-token minimum "
        f"({CACHING_MODEL}) caches it. Targets: caching <= "
        f"{TARGETS['caching_ratio']}x, batches <= {TARGETS['batch_ratio']}x.",
        "",
        *lines[:head],
        "",
        "## Faults, crashes, processes and the user's number",
        "",
        "- Faults: " + _faults_method(),
        "- SIGKILL: the fit (8 rounds of 25, answers 50 ms late, batches "
        "ending after 0.3 s) runs in a forked process, killed at a moment drawn "
        "uniformly over 5-95% of an uninterrupted run's duration, then run "
        "again here on the same cache; an item is paid twice when the server "
        "was asked about its text more than once (by message or in a batch). "
        "Without `batch_api`, a request in flight when the process dies is "
        "billed but its answer is lost, so its items can be paid twice; with "
        "it, a batch's token is in the cache before the batch is created, and "
        "the next run finds it (and collects its results) even if its id "
        "never reached the cache.",
        "- Two processes: the same fit in two forked processes at once on one "
        "cache.",
        "- The user's number: M-RARU (rounds of 25, requests of 13 + 12) from "
        "one text per class until the student's test accuracy reaches 95% of "
        "the same student trained on the whole pool, billed at "
        f"{CACHING_MODEL}'s prices, divided by the bill of labelling the whole "
        "pool in requests of 20 without prompt caching.",
        "",
        *lines[head:],
        "",
    ]
    DOC.write_text("\n".join(lines))


def _faults_method():
    return ("each fault seed scripts 20% of the requests to fail "
            "(`skakd.teachers.testing.random_faults`: 429 and 529 with "
            "retry-after, 500, dropped connections, answers 0.6 s late with "
            "`timeout=0.3`, malformed and out-of-class answers, these spaced "
            "at least 10 requests apart since two wrong answers to one request "
            "make its items unlabellable by design); M-RARU runs 8 rounds of 25 "
            "with `max_concurrency=4` and is compared with the fault-free fit.")


def verdicts(payload):
    """Each target of the issue: met or not."""
    ratios = payload["per_1000_labels"]["ratios"][CACHING_MODEL]
    faulty = payload["faults"]
    target = payload["bill_to_target"]
    return {
        "caching_ratio": ratios["caching"] <= TARGETS["caching_ratio"],
        "batch_ratio": ratios["batch"] <= TARGETS["batch_ratio"],
        "faults_same_labels_and_student": all(
            r["same_labels"] and r["same_student"] for r in faulty),
        "kills_nothing_paid_twice": all(
            r["items_paid_twice"] == 0 for r in payload["kills"]),
        "kills_integrity_ok": all(
            r["integrity"] in ("ok", "no cache yet") for r in payload["kills"]),
        "two_processes_nothing_paid_twice":
            payload["two_processes"]["items_paid_twice"] == 0,
        "bills_exact": all(r["bill_exact"] for r in faulty)
            and target["default"]["bill_exact"] and target["batch_api"]["bill_exact"],
        "bill_fraction_default": target["default"]["reached"] and
            target["default"]["bill_fraction"] <= TARGETS["bill_fraction_default"],
        "bill_fraction_batch": target["batch_api"]["reached"] and
            target["batch_api"]["bill_fraction"] <= TARGETS["bill_fraction_batch"],
    }


def summary(payload):
    """The numbers, as markdown lines."""
    lines = ["| model | mode | input USD per 1,000 labels "
             "| cache write / read tokens |", "|---|---|---:|---:|"]
    for r in payload["per_1000_labels"]["rows"]:
        lines.append(f"| {r['model']} | {r['mode']} | {r['input_usd_per_1000']:.4f} "
                     f"| {r['cache_write_tokens']:,} / {r['cache_read_tokens']:,} |")
    lines.append("")
    for model, ratio in payload["per_1000_labels"]["ratios"].items():
        lines.append(f"- {model}: caching / no caching = {ratio['caching']:.3f}; "
                     f"batch / no batch (both cached) = {ratio['batch']:.3f}")
    faulty = payload["faults"]
    lines.append(
        f"- faults: {sum(r['same_labels'] and r['same_student'] for r in faulty)}"
        f" of {len(faulty)} fault seeds end with the fault-free labelled set and "
        f"student ({sum(r['n_faults_sent'] for r in faulty)} faults in "
        f"{sum(r['n_requests_sent'] for r in faulty)} requests); bills exact in "
        f"{sum(r['bill_exact'] for r in faulty)} of {len(faulty)}")
    for batch_api in (False, True):
        runs = [r for r in payload["kills"] if r["batch_api"] == batch_api]
        lines.append(
            f"- SIGKILL (batch_api={batch_api}): {sum(r['killed'] for r in runs)} "
            f"of {len(runs)} fits killed mid-way; items paid twice: "
            f"{[r['items_paid_twice'] for r in runs]}; integrity: "
            f"{sorted({r['integrity'] for r in runs})}")
    two = payload["two_processes"]
    lines.append(f"- two processes on one cache: {two['items_asked']} items asked, "
                 f"{two['items_paid_twice']} paid twice")
    target = payload["bill_to_target"]
    for mode in ("default", "batch_api"):
        run = target[mode]
        lines.append(
            f"- M-RARU to 95% of full-data accuracy ({target['target_accuracy']:.3f})"
            f", {mode}: reached={run['reached']} after {run['n_labels']} labels "
            f"({run['n_rounds']} rounds); bill {run['bill_usd']:.4f} USD = "
            f"{run['bill_fraction']:.3f} of labelling the whole pool "
            f"({target['whole_pool_usd']:.4f} USD); library = server: "
            f"{run['bill_exact']}")
    lines.append("")
    lines += [f"- {name}: {'met' if ok else 'NOT met'}"
              for name, ok in payload["verdicts"].items()]
    return lines


if __name__ == "__main__":
    main()
