"""``skakd distill --multi-label`` and ``skakd predict`` round trips through
CSV (labels joined by ``|``) and JSONL (label lists)."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CLASSES = ["billing", "login", "refund"]
WORDS = {"billing": "invoice", "login": "password", "refund": "money back"}


def _rows(n, offset=0):
    rows = []
    for i in range(offset, offset + n):
        labels = [c for j, c in enumerate(CLASSES) if (i >> j) & 1]
        rows.append((" ".join(WORDS[c] for c in labels) + f" note {i}", labels))
    return rows


def _write(path, rows, separator="|"):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"text": t, "labels": labels}) + "\n"
                                for t, labels in rows))
    else:
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "labels"])
            writer.writerows((t, separator.join(labels)) for t, labels in rows)
    return str(path)


def skakd(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "skakd", *args], cwd=cwd, capture_output=True,
        text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def _read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("suffix, separator", [(".csv", "|"), (".jsonl", "|"),
                                               (".csv", ";")])
def test_distill_then_predict_with_label_sets(tmp_path, suffix, separator):
    seed = _write(tmp_path / f"seed{suffix}", _rows(16), separator)
    pool = _write(tmp_path / f"pool{suffix}", _rows(200, 16), separator)
    # Random sampling: "hello" (no known word) is predicted from the
    # intercepts alone, which sit near 0.5 after uncertainty sampling.
    done = skakd("distill", "--multi-label", "--label-separator", separator,
                 "--label-column", "labels", "--seed", seed, "--pool", pool,
                 "--teacher", "oracle", "--sampler", "random", "--batch-size",
                 "20", "--budget-labels", "60",
                 "--out", str(tmp_path / "model.joblib"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    history = json.loads((tmp_path / "model.history.json").read_text())
    assert [r["n_labeled"] for r in history] == [16, 36, 56, 76]
    assert all(0 <= r["micro_f1"] <= 1 for r in history)
    labels = _read(tmp_path / "model.labels.csv")
    truth = {text: separator.join(sets) for text, sets in _rows(216)}
    assert all(row["label"] == truth[row["text"]] for row in labels)

    new = tmp_path / "new.csv"
    _write(new, [("invoice and money back please", []), ("hello", [])])
    done = skakd("predict", str(tmp_path / "model.joblib"), str(new), "--proba",
                 "--label-separator", separator, "--out",
                 str(tmp_path / "predictions.csv"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = _read(tmp_path / "predictions.csv")
    assert rows[0]["prediction"] == separator.join(["billing", "refund"])
    assert rows[1]["prediction"] == ""
    assert [k for k in rows[0] if k.startswith("proba_")] == [
        f"proba_{c}" for c in CLASSES]
    assert 0 <= float(rows[0]["proba_login"]) <= 1


def test_estimate_cost_prices_label_sets(tmp_path):
    single = [(text, labels[:1] or ["billing"]) for text, labels in _rows(116)]
    seed = _write(tmp_path / "seed.csv", single[:16])
    pool = _write(tmp_path / "pool.csv", single[16:])
    reports = []
    for extra in ([], ["--multi-label"]):
        done = skakd("estimate-cost", *extra, "--label-column", "labels",
                     "--seed", seed, "--pool", pool, "--teacher", "anthropic",
                     "--budget-labels", "50", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        reports.append(done.stdout)
    assert "$" in reports[1] and reports[0] != reports[1]


def test_a_label_outside_classes_is_named(tmp_path):
    seed = _write(tmp_path / "seed.csv", _rows(16))
    pool = _write(tmp_path / "pool.csv", [("x", ["billing", "spam"])])
    done = skakd("distill", "--multi-label", "--label-column", "labels",
                 "--seed", seed, "--pool", pool, "--teacher", "oracle",
                 "--budget-labels", "10", "--out", str(tmp_path / "m.joblib"),
                 cwd=tmp_path)
    assert done.returncode != 0
    assert "'spam'" in done.stderr and "pool.csv" in done.stderr
    assert np.all([line.count("Traceback") == 0 for line in done.stderr.splitlines()])


def test_pgkd_with_label_sets_writes_each_validation_row_once(tmp_path):
    """PGKD's validation rows, added back at the final refit, are found in
    labels.csv as label sets (not written a second time)."""
    seed = _write(tmp_path / "seed.csv", _rows(64))
    pool = _write(tmp_path / "pool.csv", _rows(200, 64))
    done = skakd("distill", "--multi-label", "--label-column", "labels",
                 "--seed", seed, "--pool", pool, "--teacher", "oracle",
                 "--sampler", "pgkd", "--batch-size", "16", "--max-rounds", "2",
                 "--out", str(tmp_path / "model.joblib"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = _read(tmp_path / "model.labels.csv")
    texts = [row["text"] for row in rows]
    assert len(texts) == len(set(texts))
    sources = {row["source"] for row in rows}
    assert "validation" in sources and "never trained on" not in done.stdout
