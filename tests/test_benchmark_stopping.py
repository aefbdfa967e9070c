"""The stopping benchmark: a tiny grid end to end, and its verdicts on hand-made runs."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # benchmarks/ is a package at the repository root
from benchmarks import stopping  # noqa: E402
from benchmarks._report import append_run, read_runs  # noqa: E402

TOPICS = {"sports": ["goal", "match", "team", "score"],
          "tech": ["chip", "software", "code", "cpu"],
          "food": ["pizza", "bread", "soup", "cook"]}


def _write_texts(folder, n, rng):
    """Three topics, each text three of its topic's words and a number."""
    folder.mkdir()
    for split, size in (("train", n), ("test", n // 2)):
        labels = np.resize(list(TOPICS), size)
        rows = [(" ".join([*rng.choice(TOPICS[label], 3), str(i)]), label)
                for i, label in enumerate(labels)]
        with (folder / f"{split}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *rows])


def test_a_tiny_grid_runs_scores_every_criterion_and_writes_its_report(tmp_path):
    pytest.importorskip("small_text")
    pytest.importorskip("matplotlib")
    _write_texts(tmp_path / "tiny", 400, np.random.default_rng(0))
    out, docs = tmp_path / "res", tmp_path / "page.md"
    docs.write_text("# Stopping\n\nHand-written words.\n")
    summary = stopping.main([
        "--data", str(tmp_path / "tiny"), "--students", "tfidf_lr",
        "--samplers", "random", "--seeds", "1", "--budget", "150",
        "--batch-size", "10", "--out", str(out), "--docs", str(docs),
    ])
    run = json.loads(Path(f"{out}_runs.jsonl").read_text().splitlines()[0])
    assert run["curve"]["n_labeled"][-1] == 3 + 150
    assert set(run["decisions"]) == {*stopping.OURS, *stopping._small_text()}
    assert all(len(d) == 15 for d in run["decisions"].values())
    # The offline replay of a setting decides as the criterion did in the run;
    # DEFAULT_RULE names the setting default() returns.
    replayed = stopping.replay(run)
    for swept, observed in ((stopping.DEFAULT_RULE, "default"),
                            ("kappa(0.98,w3)", "kappa(0.98,w3)"),
                            ("projected(0.4,w3)", "projected(0.4,w3)"),
                            ("uncertainty(0.1)", "uncertainty(0.1)"),
                            ("agreement(plateau,w5,0.005)", "agreement(plateau,w5)")):
        assert replayed[swept] == run["decisions"][observed]
    # Three keyword classes: the student is perfect early, so the default stops.
    assert stopping.stop_round(run["decisions"]["default"], 10) is not None
    assert summary["verdicts"]["tiny"]["loss_points"] <= 1.0
    for suffix in ("_summary.csv", "_forecast.csv", ".json", ".png"):
        assert Path(f"{out}{suffix}").is_file()
    page = docs.read_text()
    assert page.startswith("# Stopping\n\nHand-written words.")
    assert f"| tiny | tfidf_lr | random | {stopping.DEFAULT_RULE} |" in page
    assert "### Is the target reachable?" in page
    assert Path(f"{out}_tradeoff.png").is_file()
    # --report-only rebuilds the report from the runs without running any.
    stopping.main(["--data", "none", "--out", str(out), "--docs", str(docs),
                   "--report-only"])


def test_stop_round_applies_the_minimum():
    assert stopping.stop_round([False, True, False, True], 0) == 2
    assert stopping.stop_round([False, True, False, True], 3) == 4
    assert stopping.stop_round([True, True], 3) is None


def _run(accuracy, kappa=None, decisions=None, budget=100, dataset="d"):
    """A hand-made run: the kappa curve drives the replayed kappa settings;
    the other statistics are missing, so their settings never fire."""
    n = [2 + 10 * i for i in range(len(accuracy))]
    flat = [None] * (len(accuracy) - 1)
    statistics = {f"stat:{probe}": flat for probe in stopping.STATISTICS.values()}
    statistics[f"stat:{stopping.STATISTICS['kappa']}"] = kappa or flat
    return {"dataset": dataset, "student": "s", "sampler": "r", "seed": 0,
            "budget": budget, "decisions": decisions or {},
            "curve": {"n_labeled": n, "accuracy": accuracy, **statistics}}


def test_verdicts_compare_the_stop_with_the_full_budget():
    accuracy = [0.5] + [0.9] * 5 + [0.905] * 5  # 10 rounds, 100 labels
    kappa = [None] * 3 + [1.0] * 7  # the default would fire at round 4
    table = stopping.aggregate([_run(accuracy, kappa,
                                     {"st:KappaAverage": [False] * 3 + [True] * 7})])
    rows = {r["criterion"]: r for r in table}
    assert rows[stopping.DEFAULT_RULE]["labels_at_stop"] == 100  # min 10 rounds
    assert rows["st:KappaAverage"]["labels_at_stop"] == 40  # no minimum: round 4
    assert rows["st:KappaAverage"]["loss_points"] == pytest.approx(0.5)
    verdict = stopping.verdicts(table)["d"]
    assert verdict["budget_used"] == 1.0 and not verdict["met"]


def test_the_oracle_stops_at_the_first_round_within_one_point():
    accuracy = [0.2] + [0.5] * 11 + [0.895, 0.88, 0.9, 0.9]
    assert stopping.oracle(_run(accuracy)) == [False] * 11 + [True, False, True, True]
    table = stopping.aggregate([_run(accuracy)])
    oracle = stopping.verdicts(table, stopping.ORACLE)["d"]
    assert oracle["budget_used"] == pytest.approx(12 / 15 * 150 / 100)
    assert oracle["loss_points"] == pytest.approx(0.5)


def _table():
    """Two datasets; kappa reaches 1 at round 12, accuracy flattens at round
    12 on "flat" and at round 20 on "late"."""
    kappa = [0.5] * 11 + [1.0] * 9
    runs = [_run([0.1] + [0.5] * 11 + [0.9] * 9, kappa, dataset="flat", budget=200),
            _run([0.1] + [0.5] * 19 + [0.9], kappa, dataset="late", budget=200)]
    return stopping.aggregate(runs)


def test_the_choice_respects_the_loss_and_is_checked_without_each_dataset():
    table = _table()
    ranked = stopping.candidates(table)
    rows = {r["criterion"]: r for r in ranked}
    # Kappa settings stop on "late" while it is still learning: 40 points lost.
    assert rows["kappa(0.95,w3)"]["worst_dataset_loss_points"] == pytest.approx(40)
    assert rows["kappa(0.95,w3)"]["pareto"] and not rows[stopping.ORACLE]["pareto"]
    choices = stopping.choices(table, ranked)
    per_dataset = choices["every dataset"]
    # Only the settings that never fire lose nothing on both datasets.
    assert per_dataset["choice"]["budget_used"] == 1.0
    # Chosen on "flat" alone, a kappa setting stops early and loses on "late".
    assert per_dataset["left_out"]["late"]["loss_points"] == pytest.approx(40)


def test_small_text_is_compared_with_the_cheapest_of_ours_losing_no_more():
    ranked = [{"criterion": "st:X", "kind": "small-text", "budget_used": 0.8,
               "loss_points": 1.0},
              {"criterion": "a", "kind": "ours", "budget_used": 0.7, "loss_points": 1.5},
              {"criterion": "b", "kind": "ours", "budget_used": 0.75, "loss_points": 0.9},
              {"criterion": "c", "kind": "ours", "budget_used": 0.9, "loss_points": 0.1}]
    versus = stopping.versus_small_text(ranked)["st:X"]
    assert versus["ours"] == "b"
    assert versus["budget_saved"] == pytest.approx(0.05)


def test_forecast_verdicts_count_unreachable_as_misses():
    rows = [{"dataset": "d", "observed_labels_to_95": 100, "agreement_rel_error": e,
             "agreement_labels_to_95": None if e is None else 100 * (1 + e),
             "cv_rel_error": None, "cv_labels_to_95": None}
            for e in (0.1, -0.2, 0.5, None)]
    verdict = stopping.forecast_verdicts(rows)
    assert verdict["d|agreement"]["within_25"] == 0.5
    assert verdict["d|agreement"]["unreachable_or_failed"] == 1
    # Median of 0.1, 0.2, 0.5 and inf: (0.2 + 0.5) / 2 > 0.25.
    assert verdict["d|agreement"]["median_abs_error"] == pytest.approx(0.35)
    assert verdict["d|agreement"]["median_abs_error_labels"] == pytest.approx(35)
    assert not verdict["d|agreement"]["met"]
    assert verdict["d|cv"]["median_abs_error"] is None and not verdict["d|cv"]["met"]


def _power_law_run(noise=0.0, dataset="d", seed=0):
    """A run whose test accuracy follows 0.9 - 2 / sqrt(n), rounds of 25
    labels up to a budget of 1,500; agreement 0.2 below it."""
    n = np.arange(25, 1526, 25)
    rng = np.random.default_rng(seed)
    accuracy = 0.9 - 2 * n ** -0.5 + rng.normal(0, noise, len(n))
    return {"dataset": dataset, "student": "s", "sampler": "r", "seed": seed,
            "budget": 1500, "forecast": {"cv_labels_to_95": None},
            "curve": {"n_labeled": n.tolist(), "accuracy": accuracy.tolist(),
                      "teacher_agreement": [None, *(accuracy[:-1] - 0.2)]}}


def test_the_forecast_is_scored_offline_from_the_logged_curve():
    run = _power_law_run()
    # Truth: the first round at 95% of 0.9 - 2 / sqrt(1525) (0.806): 475
    # labels, 450 of them bought.
    assert stopping.observed_labels(run) == 450
    row = stopping.forecast_rows([run])[0]
    assert row["observed_labels_to_95"] == 450
    # The exact curve, seen up to 525 labels: forecast to within a round.
    assert abs(row["validation_rel_error"]) <= 0.05
    # The agreement is 0.2 lower: its curve's 95% comes later (575 labels),
    # and it has no held-out score to bound it.
    assert row["agreement_rel_error"] == pytest.approx(100 / 450, abs=0.05)
    assert row["cv_labels_to_95"] is None and row["cv_rel_error"] is None
    verdict = stopping.forecast_verdicts([row])
    assert verdict["d|validation"]["met"]
    assert verdict["d|cv"]["unreachable_or_failed"] == 1


def test_the_simulated_validation_split_adds_noise_and_counts_draws():
    runs = [_power_law_run(0.002, seed=seed) for seed in range(3)]
    noisy = stopping.forecast_points(runs[0], "validation", draw=0)[0][1]
    exact = stopping.forecast_points(runs[0], "validation")[0][1]
    assert len(noisy) == len(exact) and not np.array_equal(noisy, exact)
    assert np.all(noisy * stopping.SIMULATED_SIZE % 1 == 0)  # a count of texts
    found = stopping.simulated_validation(runs)["d"]
    assert found["draws"] == stopping.SIMULATED_DRAWS
    assert found["lowest"] <= found["median_abs_error"] <= found["highest"]


@pytest.mark.parametrize("compressed", [False, True])
def test_run_logs_are_read_and_extended_plain_or_gzip(tmp_path, compressed):
    import gzip

    path = tmp_path / "x_runs.jsonl"
    if compressed:
        with gzip.open(f"{path}.gz", "wt") as handle:
            handle.write(json.dumps({"run": 0}) + "\n")
    append_run(path, {"run": 1})
    assert read_runs(path) == ([{"run": 0}] if compressed else []) + [{"run": 1}]
    assert path.is_file() is not compressed  # a gzip log stays the one log


def test_the_vectorised_overall_uncertainty_decides_as_small_text_does():
    pytest.importorskip("small_text")
    from small_text.stopping_criteria import OverallUncertainty

    rng = np.random.default_rng(0)
    for threshold in (0.05, 0.3, 0.6, 0.9):
        for k in (3, 20):
            proba = rng.dirichlet(np.full(k, 0.2), 60)
            rows = np.arange(60)
            fast = stopping._small_text()["st:OverallUncertainty"](k)
            fast.threshold = threshold
            assert fast.stop(proba=proba, indices_stopping=rows) == OverallUncertainty(
                k, threshold=threshold).stop(proba=proba, indices_stopping=rows)
