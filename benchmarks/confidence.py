"""A real model's confidence: how well SmolLM2's log-probabilities are
calibrated, and whether a cascade's measured threshold keeps its promise.

The bundled SmolLM2-135M-Instruct, served on this machine's CPUs by
:class:`skakd.teachers.LlamaCppServer`, labels ``--n-items`` random test
texts of each data set through ``OpenAITeacher(confidence="logprobs")``:
each label's confidence is the probability of its tokens, renormalised over
the label set. Two parts:

* **calibration** -- accuracy against the gold labels, the expected
  calibration error (ECE: the mean gap between confidence and accuracy over
  ``--bins`` equal-width confidence bins, weighted by their items) and a
  reliability diagram;
* **threshold** -- ``--splits`` random halvings of the items: on one half,
  :meth:`skakd.teachers.TeacherCascade.calibrate` (the local model first,
  the gold labels as the last stage) picks the threshold for each asked
  agreement in ``--targets``; on the other half, the agreement of the
  answers at or above it is measured. Target: within 5 points of the asked
  agreement. Every answer is asked once, then read from the teacher's cache
  (the cascade's calibration replays it for free).

    python -m benchmarks.confidence            # trec and ag_news, 300 texts each
    python -m benchmarks.confidence --quick    # trec, 40 texts

Writes ``benchmarks/results/confidence[_quick].{json,csv,png}`` and, for a
run without ``--quick``, the generated section of
``docs/benchmarks/confidence.md``.
"""

import argparse
import math
import os
import tempfile
import time

import numpy as np

from skakd.teachers import LlamaCppServer, OracleTeacher, TeacherCache, TeacherCascade

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

DOC = DOCS / "confidence.md"
SOURCE = "benchmarks/confidence.py"
INSTRUCTIONS = {
    "trec": "Classify each question by the type of its answer: ABBR "
            "abbreviation, DESC description or definition, ENTY entity, HUM "
            "human or organisation, LOC location, NUM number, date or amount.",
    "ag_news": "Classify each news article by its topic.",
}
MAX_GAP = 0.05


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="trec, 40 texts")
    parser.add_argument("--datasets", nargs="+", default=["trec", "ag_news"])
    parser.add_argument("--n-items", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--splits", type=int, default=20)
    parser.add_argument("--targets", type=float, nargs="+", default=None,
                        help="asked agreements (default: from the accuracy up)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.n_items, args.splits = ["trec"], 40, 5
    return args


def expected_calibration_error(confidence, correct, n_bins):
    """ECE over ``n_bins`` equal-width bins, and the bins' (mean confidence,
    accuracy, count) for the reliability diagram."""
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, n_bins - 1)
    bins, ece = [], 0.0
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            gap = abs(confidence[inside].mean() - correct[inside].mean())
            ece += inside.mean() * gap
            bins.append((float(confidence[inside].mean()),
                         float(correct[inside].mean()), int(inside.sum())))
    return float(ece), bins


def label_items(server, name, args, cache):
    """The local model's labels and confidences for random test texts."""
    _, y_train, texts, gold = load_csv_folder(DEFAULT_DATA / name)
    rng = np.random.default_rng(args.random_state)
    picked = rng.choice(len(texts), min(args.n_items, len(texts)), replace=False)
    texts, gold = np.array(texts, dtype=object)[picked].tolist(), gold[picked]
    classes = sorted(set(y_train))
    local = server.teacher(confidence="logprobs", instructions=INSTRUCTIONS[name],
                           batch_size=args.batch_size, cache=cache)
    start = time.perf_counter()
    result = local.label(texts, classes)
    seconds = time.perf_counter() - start
    return local, texts, gold, classes, result, seconds


def calibration_row(name, gold, result, seconds, n_bins):
    labels = np.array(result.labels, dtype=object)
    confidence = np.array([np.nan if c is None else c for c in result.confidence])
    measured = ~np.isnan(confidence) & np.array([x is not None for x in labels])
    correct = (labels == gold)[measured].astype(float)
    ece, bins = expected_calibration_error(confidence[measured], correct, n_bins)
    return {
        "dataset": name, "n_items": len(labels),
        "n_with_confidence": int(measured.sum()),
        "accuracy": float(np.mean(labels == gold)),
        "mean_confidence": float(confidence[measured].mean()),
        "ece": ece, "bins": bins, "seconds_per_label": seconds / len(labels),
    }


def threshold_rows(name, local, texts, gold, classes, args, accuracy):
    """Per asked agreement and split: the threshold the cascade measured on
    one half, and the agreement it keeps on the other."""
    gold_teacher = OracleTeacher(texts, gold.tolist())
    targets = args.targets or _targets(accuracy)
    rng = np.random.default_rng(args.random_state + 1)
    rows = []
    for split in range(args.splits):
        order = rng.permutation(len(texts))
        half = len(texts) // 2
        fit, check = order[:half], order[half:]
        answers = local.label([texts[i] for i in check], classes)
        for target in targets:
            cascade = TeacherCascade([("local", local), ("gold", gold_teacher)])
            cascade.calibrate([texts[i] for i in fit], classes,
                              target_agreement=target)
            threshold = cascade.thresholds_[0]
            kept = [label == gold[i] for i, label, c in
                    zip(check, answers.labels, answers.confidence)
                    if c is not None and label is not None and c >= threshold]
            agreement = float(np.mean(kept)) if kept else None
            rows.append({
                "dataset": name, "split": split, "target_agreement": target,
                "threshold": threshold,
                "calibration_agreement": cascade.calibration_[0]["agreement"],
                "held_out_agreement": agreement,
                "held_out_kept": len(kept), "held_out_n": len(check),
                "gap": None if agreement is None else agreement - target,
            })
    return rows


def _targets(accuracy):
    """Asked agreements from just above the model's accuracy up to 0.9."""
    start = math.ceil((accuracy + 0.05) * 10) / 10
    return [round(t, 2) for t in np.arange(start, 0.91, 0.1)]


def summarise(rows):
    """Per data set and asked agreement: how often the held-out agreement
    was within 5 points, its median gap, the median share kept."""
    out = []
    for key in dict.fromkeys((r["dataset"], r["target_agreement"]) for r in rows):
        part = [r for r in rows if (r["dataset"], r["target_agreement"]) == key]
        found = [r for r in part if r["held_out_agreement"] is not None]
        gaps = [r["gap"] for r in found]
        out.append({
            "dataset": key[0], "target_agreement": key[1], "n_splits": len(part),
            "n_with_threshold": len(found),
            "median_threshold": (float(np.median([r["threshold"] for r in found]))
                                 if found else None),
            "median_held_out_agreement": (float(np.median(
                [r["held_out_agreement"] for r in found])) if found else None),
            "median_gap": float(np.median(gaps)) if gaps else None,
            "share_within_5_points": (float(np.mean(np.abs(gaps) <= MAX_GAP))
                                      if gaps else None),
            "median_kept_share": (float(np.median(
                [r["held_out_kept"] / r["held_out_n"] for r in found]))
                if found else None),
            "met": bool(gaps) and abs(float(np.median(gaps))) <= MAX_GAP,
        })
    return out


def plot(calibration, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot([0, 1], [0, 1], ":", color="grey", label="calibrated")
    for row in calibration:
        conf, acc, _ = zip(*row["bins"])
        ax.plot(conf, acc, "o-", label=f"{row['dataset']} (ECE {row['ece']:.2f})")
    ax.set(xlabel="confidence (log-probabilities)", ylabel="accuracy",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.suptitle("SmolLM2-135M's confidence, reliability", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def page(payload, figure):
    """The generated section of the docs page, from a full run's payload."""
    start, end = (", ".join(f"{x:.1f}" for x in payload[key])
                  for key in ("loadavg_at_start", "loadavg_at_end"))
    lines = [
        f"Command: `{payload['command']}`; {payload['seconds_total'] / 60:.0f} "
        f"minutes, load average {start} at the start and {end} at the end. "
        f"Model: `{payload['model']}`.", "",
        "## Calibration", "",
        *markdown_table(
            ["data set", "texts", "with confidence", "accuracy", "mean confidence",
             "ECE", "s per label"],
            [[r["dataset"], r["n_items"], r["n_with_confidence"], fmt(r["accuracy"]),
              fmt(r["mean_confidence"]), fmt(r["ece"]), fmt(r["seconds_per_label"],
                                                             "{:.2f}")]
             for r in payload["calibration"]], "lrrrrrr"),
        "", f"![reliability]({os.path.relpath(figure, DOC.parent)})", "",
        "## Thresholds measured by the cascade, checked on the other half", "",
        *markdown_table(
            ["data set", "asked agreement", "splits with a threshold",
             "median threshold", "median held-out agreement", "median gap",
             "splits within 5 points", "median share kept", "met"],
            [[r["dataset"], fmt(r["target_agreement"], "{:.2f}"),
              f"{r['n_with_threshold']}/{r['n_splits']}",
              fmt(r["median_threshold"]), fmt(r["median_held_out_agreement"]),
              fmt(r["median_gap"], "{:+.3f}"),
              fmt(r["share_within_5_points"], "{:.0%}"),
              fmt(r["median_kept_share"], "{:.2f}"), "yes" if r["met"] else "no"]
             for r in payload["thresholds"]], "lrrrrrrrl"),
    ]
    return lines


def main(argv=None):
    args = parse_args(argv)
    stem = "confidence_quick" if args.quick else "confidence"
    start, load_at_start = time.perf_counter(), list(os.getloadavg())
    calibration, splits = [], []
    with tempfile.TemporaryDirectory() as tmp, LlamaCppServer() as server:
        for name in args.datasets:
            cache = TeacherCache(os.path.join(tmp, f"{name}.sqlite"))
            local, texts, gold, classes, result, seconds = label_items(
                server, name, args, cache)
            row = calibration_row(name, gold, result, seconds, args.bins)
            print(f"{name}: accuracy {row['accuracy']:.3f}, ECE {row['ece']:.3f}, "
                  f"{row['seconds_per_label']:.2f} s/label", flush=True)
            calibration.append(row)
            splits += threshold_rows(name, local, texts, gold, classes, args,
                                     row["accuracy"])
        model = server.model
    payload = {
        "command": command_line("confidence", argv), "machine": machine_info(),
        "loadavg_at_start": load_at_start, "loadavg_at_end": list(os.getloadavg()),
        "model": model, "setup": vars(args), "calibration": calibration,
        "thresholds": summarise(splits), "splits": splits,
        "seconds_total": time.perf_counter() - start,
    }
    write_json(RESULTS / f"{stem}.json", payload)
    write_csv(RESULTS / f"{stem}.csv", payload["thresholds"])
    figure = RESULTS / f"{stem}.png"
    plot(calibration, figure)
    if not args.quick:
        write_generated(DOC, page(payload, figure), SOURCE)
    for row in payload["thresholds"]:
        print(row, flush=True)
    return payload


if __name__ == "__main__":
    main()
