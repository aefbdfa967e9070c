"""The user's number with a cascade: Claude Haiku first, Opus where it is
unsure, until the student reaches 95% of its full-data accuracy.

The setting of ``benchmarks.teacher_cost``'s last step (banking77, one seed
text per class, M-RARU in rounds of 25, TF-IDF + SGD logistic regression,
the fake Messages API billing every token), with the teacher a
:class:`skakd.teachers.TeacherCascade` of two fake servers:

* **claude-haiku-4-5** (1/15 of Opus 4.1's prices), asked with
  ``confidence="verbalized"``: its answers are a simulated cheap model's,
  right 75% of the time with its wrong answers among classes with similar
  names, and a calibrated stated confidence
  (``OracleTeacher(noise_rate=0.25, confusion="names",
  confidence="calibrated", confidence_concentration=k)``);
* **claude-opus-4-1**, always right, for the items Haiku answered below
  ``min_confidence``.

The bill (both servers' ledgers at their models' prices) is divided by
labelling the whole pool with Opus alone in requests of 20 without prompt
caching, as in ``teacher_cost``. Target: at most 0.05.

    python -m benchmarks.cascade_bill            # thresholds 0.5 and 0.7
    python -m benchmarks.cascade_bill --quick    # 2,000-text pool, 4 rounds

Writes ``benchmarks/results/cascade_bill[_quick].{json,csv,png}`` and, for
a full run, a generated section of ``docs/benchmarks/cascade.md``.
"""

import argparse
import json
import os
import time
import warnings

import numpy as np

from skakd.teachers import OracleTeacher, TeacherCascade
from skakd.teachers.testing import FakeAnthropic

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
from .teacher_cost import (
    CACHING_MODEL,
    _labeler,
    _StopAt,
    distiller,
    load,
    student,
    teacher,
    total_usd,
)

CHEAP_MODEL = "claude-haiku-4-5"
TARGET = 0.05
DOC = DOCS / "cascade.md"
SOURCE = "benchmarks/cascade_bill.py"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a 2,000-text pool and 4 rounds")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.7])
    parser.add_argument("--concentration", type=float, default=1.0,
                        help="k of the cheap model's calibrated confidence")
    parser.add_argument("--max-rounds", type=int, default=400)
    args = parser.parse_args(argv)
    if args.quick:
        args.max_rounds, args.thresholds = 4, args.thresholds[:1]
    return args


def cheap_server(data, concentration):
    """A fake Haiku answering as a 75%-accurate, calibrated cheap model."""
    texts = list(data["truth"])
    model = OracleTeacher(texts, [data["truth"][t] for t in texts],
                          noise_rate=0.25, confusion="names",
                          confidence="calibrated",
                          confidence_concentration=concentration, random_state=0)
    answers = {}

    def answer(text, classes):
        if text not in answers:
            found = model.label([text], classes)
            answers[text] = (found.labels[0], found.confidence[0])
        return answers[text]

    return FakeAnthropic(labeler=lambda text, classes: answer(text, classes)[0],
                         confidence=lambda text, classes: answer(text, classes)[1],
                         batch_latency=0.02)


def run(data, target, threshold, batch_api, args):
    """One M-RARU fit through the cascade until ``target`` test accuracy."""
    params = {"batch_api": True} if batch_api else {}
    with cheap_server(data, args.concentration) as cheap, FakeAnthropic(
            labeler=_labeler(data), batch_latency=0.02) as strong:
        cascade = TeacherCascade(
            [("haiku", teacher(cheap, model=CHEAP_MODEL, confidence="verbalized",
                               **params)),
             ("opus", teacher(strong, **params))], min_confidence=threshold)
        clf = distiller(cascade, args.max_rounds)
        clf.set_params(callbacks=[_StopAt(data["X_test"], data["y_test"], target)])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            clf.fit(data["X_seed"], data["y_seed"], X_pool=data["X_pool"])
        bill = (total_usd(cheap.ledger, CHEAP_MODEL)
                + total_usd(strong.ledger, CACHING_MODEL))
    asked = clf.label_source_ == "teacher"
    truth = np.array([data["truth"][x] for x in clf.labeled_X_[asked]])
    stage = clf.label_teacher_[asked]
    return {
        "threshold": threshold, "batch_api": batch_api,
        "reached": bool(clf.history_[-1, "test_accuracy"] >= target),
        "n_rounds": int(clf.n_iter_), "n_labels": int(asked.sum()),
        "label_accuracy": float(np.mean(clf.labeled_y_[asked] == truth)),
        "share_opus": float(np.mean(stage == "opus")),
        "bill_usd": bill, "library_usd": float(clf.teacher_cost_),
        "bill_exact": bool(abs(bill - clf.teacher_cost_) < 1e-9),
        "seconds": time.perf_counter() - start,
    }


def plot(payload, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    rows = payload["runs"]
    names = [f"t={r['threshold']}\n{'batch' if r['batch_api'] else 'messages'}"
             for r in rows]
    ax.bar(names, [r["bill_fraction"] for r in rows], color="tab:blue")
    for mode, value in payload["single_teacher"].items():
        ax.axhline(value, ls=":", color="grey")
        ax.text(len(rows) - 0.5, value, f"Opus alone ({mode}) {value:.3f}",
                fontsize=7, ha="right", va="bottom")
    ax.axhline(TARGET, color="tab:red", ls="--", label=f"target {TARGET}")
    ax.set(ylabel="bill / whole pool with Opus")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def page(payload, figure):
    machine = payload["machine"]
    load_avg = ", ".join(f"{x:.1f}" for x in machine["loadavg"])
    return [
        "### The user's number with a cascade", "",
        f"Command: `{payload['command']}`; {payload['seconds'] / 60:.0f} minutes "
        f"on {machine['cpu_count']} CPUs, load average {load_avg} at the start. "
        f"Whole pool with {CACHING_MODEL} alone, requests of 20, no caching: "
        f"{payload['whole_pool_usd']:.4f} USD; target accuracy "
        f"{payload['target_accuracy']:.3f} (95% of {payload['full_accuracy']:.3f}). "
        f"The cheap model's confidence concentration k = "
        f"{payload['setup']['concentration']}.", "",
        *markdown_table(
            ["min_confidence", "mode", "reached", "labels", "label accuracy",
             "share by Opus", "bill USD", "bill / whole pool", "library = servers",
             f"<= {TARGET}"],
            [[r["threshold"], "Batches" if r["batch_api"] else "Messages",
              "yes" if r["reached"] else "no", r["n_labels"],
              fmt(r["label_accuracy"]), fmt(r["share_opus"], "{:.2f}"),
              fmt(r["bill_usd"], "{:.4f}"), fmt(r["bill_fraction"]),
              "yes" if r["bill_exact"] else "no",
              "yes" if r["met"] else "no"] for r in payload["runs"]],
            "llrrrrrrll"),
        "", f"![cascade bill]({os.path.relpath(figure, DOC.parent)})",
    ]


def main(argv=None):
    args = parse_args(argv)
    data = load(args.quick)
    start = time.perf_counter()
    payload = {"command": command_line("cascade_bill", argv),
               "machine": machine_info(), "setup": vars(args)}
    full = student().fit(data["X_pool"], data["y_pool"])
    payload["full_accuracy"] = full.score(data["X_test"], data["y_test"])
    target = 0.95 * payload["full_accuracy"]
    payload["target_accuracy"] = target
    with FakeAnthropic(labeler=_labeler(data)) as server:
        teacher(server, prompt_caching=False).label(list(data["X_pool"]),
                                                    data["classes"])
        payload["whole_pool_usd"] = total_usd(server.ledger, CACHING_MODEL)
    runs = []
    for threshold in args.thresholds:
        for batch_api in (False, True):
            row = run(data, target, threshold, batch_api, args)
            row["bill_fraction"] = row["bill_usd"] / payload["whole_pool_usd"]
            row["met"] = row["reached"] and row["bill_fraction"] <= TARGET
            print(row, flush=True)
            runs.append(row)
    payload["runs"] = runs
    single = RESULTS / "teacher_cost.json"
    measured = json.loads(single.read_text())
    payload["single_teacher"] = {
        mode: measured["bill_to_target"][mode]["bill_fraction"]
        for mode in ("default", "batch_api")}
    payload["seconds"] = time.perf_counter() - start
    stem = "cascade_bill_quick" if args.quick else "cascade_bill"
    write_json(RESULTS / f"{stem}.json", payload)
    write_csv(RESULTS / f"{stem}.csv", runs)
    figure = RESULTS / f"{stem}.png"
    plot(payload, figure)
    if not args.quick:
        write_generated(DOC, page(payload, figure), SOURCE)
    return payload


if __name__ == "__main__":
    main()
