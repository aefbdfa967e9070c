"""Smoke test: the label-efficiency benchmark runs end to end on tiny data."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
label_efficiency = pytest.importorskip("label_efficiency")

WORDS = {"sports": "goal match team score", "tech": "chip software code cpu",
         "food": "pizza bread soup cook"}


def _write_texts(folder, n, rng):
    folder.mkdir()
    for split, size in (("train", n), ("test", n // 2)):
        with (folder / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            for i in range(size):
                label = list(WORDS)[i % 3]
                words = rng.choice(WORDS[label].split(), 3).tolist()
                noise = rng.choice(["the", "a", "it", "was", "very"], 2).tolist()
                writer.writerow([" ".join(words + noise + [str(i)]), label])


def test_benchmark_writes_curves_tables_and_docs(tmp_path):
    _write_texts(tmp_path / "tiny", 120, np.random.default_rng(0))
    out, docs = tmp_path / "res", tmp_path / "doc.md"
    argv = ["--data", str(tmp_path / "tiny"), "--students", "tfidf_lr",
            "--samplers", "random", "mraru", "mraru_margin_a0.1", "lc", "--seeds", "2",
            "--rounds", "3", "--batch-size", "5", "--noise", "0", "0.2",
            "--out", str(out), "--docs", str(docs)]
    label_efficiency.main([*argv, "--jobs", "2"])  # worker processes

    runs = [json.loads(line) for line in Path(f"{out}_runs.jsonl").open()]
    assert len(runs) == 4 * 2 * 2
    for run in runs:
        labels = [r["n_labeled"] for r in run["curve"]]
        assert labels == [3, 8, 13, 18]  # seed of one per class, then 3 x 5
        assert 0.0 <= run["final_accuracy"] <= 1.0
        assert 0.5 < run["full_accuracy"] <= 1.0
    mraru = [r for r in runs if r["sampler"] == "mraru"]
    assert all(0 < r["acceptance_mean"] <= 1 for r in mraru)

    summary = json.loads(Path(f"{out}.json").read_text())["summary"]
    assert {(r["sampler"], r["noise"]) for r in summary} == {
        (s, n) for s in ("random", "mraru", "mraru_margin_a0.1", "lc")
        for n in (0.0, 0.2)}
    # The docs/benchmarks.md overview: one row per student, defaults vs the rest.
    overview = label_efficiency._overview_table(summary)
    assert len(overview) == 3
    cells = [cell.strip() for cell in overview[2].strip("| ").split("|")]
    row = {(r["sampler"], r["noise"]): r for r in summary}
    assert cells[:3] == ["tiny", "tfidf_lr", "15"]
    assert cells[4] == label_efficiency._labels(row["mraru_margin_a0.1", 0.0])
    assert cells[7] == label_efficiency._labels(row["lc", 0.0]) + " (lc)"
    assert Path(f"{out}_tiny_noise0_accuracy.png").stat().st_size > 0
    assert "| tiny | tfidf_lr | 0.2 | mraru | 2 |" in docs.read_text()

    # Re-running skips finished runs instead of appending them again.
    label_efficiency.main(argv)
    assert sum(1 for _ in Path(f"{out}_runs.jsonl").open()) == len(runs)

    # A worker process gives the curve the same run gives in this process.
    in_process = tmp_path / "seq"
    label_efficiency.main([*argv[:-4], "--out", str(in_process), "--docs", "none"])
    again = {label_efficiency._key(r): r["curve"]
             for r in map(json.loads, Path(f"{in_process}_runs.jsonl").open())}
    for run in runs:
        for mine, theirs in zip(run["curve"], again[label_efficiency._key(run)]):
            assert mine["accuracy"] == theirs["accuracy"]
            assert mine["n_labeled"] == theirs["n_labeled"]


@pytest.mark.parametrize("sampler", ["mraru", "smalltext_lc", "modal_lc",
                                     "smalltext_random", "modal_random"])
def test_ours_and_peers_share_the_curve_format(sampler):
    if sampler.startswith("smalltext"):
        pytest.importorskip("small_text")
    if sampler.startswith("modal"):
        pytest.importorskip("modAL")
    X, y = make_classification(n_samples=300, n_features=8, n_informative=5,
                               n_classes=3, random_state=0)
    y = np.array(["a", "b", "c"])[y]
    data = {"y": y[:200], "y_test": y[200:], "minilm": X[:200],
            "minilm_test": X[200:]}
    curve = label_efficiency.run_one(data, "lr", sampler, seed=1, noise=0.0,
                                     rounds=3, batch_size=10)
    assert [r["n_labeled"] for r in curve] == [3, 13, 23, 33]
    assert all(r["seconds"] >= r["fit_seconds"] > 0 for r in curve[1:])
    # Thirty informative labels beat the three-example seed on this easy task.
    assert curve[-1]["accuracy"] > curve[0]["accuracy"]
    summary = label_efficiency.summarize_run(curve, full_acc=0.8)
    assert summary["teacher_labels"] == 30


def test_peer_selection_timing_runs(tmp_path):
    pytest.importorskip("small_text")
    pytest.importorskip("modAL")
    peers = pytest.importorskip("peers")
    rows = peers.main(["--synthetic", "--pool-sizes", "3000", "--repeats", "1",
                       "--n-labeled", "200", "--out", str(tmp_path / "sel")])
    assert {r["method"] for r in rows} == {
        "skakd_mraru", "skakd_mraru_default", "skakd_lc", "smalltext_lc",
        "modal_lc"}
    exhaustive = [r for r in rows if not r["method"].startswith("skakd_mraru")]
    assert all(r["n_visited"] == 3000 for r in exhaustive)
    assert (tmp_path / "sel.png").stat().st_size > 0
