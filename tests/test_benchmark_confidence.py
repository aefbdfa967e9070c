"""benchmarks.confidence's arithmetic (ECE, the thresholds' summary) and
benchmarks.cascade_bill's simulated cheap model behind a fake server."""

import numpy as np
import pytest

confidence = pytest.importorskip("benchmarks.confidence")
cascade_bill = pytest.importorskip("benchmarks.cascade_bill")


def test_expected_calibration_error_weighs_each_bin_by_its_items():
    conf = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    right = np.array([1, 1, 1, 0, 1, 0], dtype=float)
    ece, bins = confidence.expected_calibration_error(conf, right, 10)
    # bin 0.9-1: 4 items, confidence 0.95, accuracy 0.75; bin 0.5-0.6: 2
    # items, 0.55 against 0.5.
    assert ece == pytest.approx(4 / 6 * 0.2 + 2 / 6 * 0.05)
    assert bins == [(pytest.approx(0.55), 0.5, 2), (pytest.approx(0.95), 0.75, 4)]
    perfect, _ = confidence.expected_calibration_error(
        np.array([1.0, 1.0]), np.array([1.0, 1.0]), 10)
    assert perfect == 0


def test_the_thresholds_summary_counts_splits_and_the_median_gap():
    rows = [{"dataset": "d", "target_agreement": 0.5, "threshold": t,
             "held_out_agreement": a, "held_out_kept": 10, "held_out_n": 50,
             "gap": None if a is None else a - 0.5}
            for t, a in ((0.9, 0.52), (0.8, 0.40), (0.7, 0.47), (np.inf, None))]
    (row,) = confidence.summarise(rows)
    assert row["n_splits"] == 4 and row["n_with_threshold"] == 3
    assert row["median_gap"] == pytest.approx(-0.03)
    assert row["share_within_5_points"] == pytest.approx(2 / 3)
    assert row["median_kept_share"] == pytest.approx(0.2) and row["met"]


def test_the_fake_cheap_model_is_wrong_a_quarter_of_the_time_and_says_so():
    pytest.importorskip("anthropic")
    from skakd.teachers import AnthropicTeacher

    data = cascade_bill.load(quick=True)
    texts = list(data["X_pool"][:200])
    with cascade_bill.cheap_server(data, concentration=1.0) as server:
        result = AnthropicTeacher(
            base_url=server.base_url, api_key="test-key", model="claude-haiku-4-5",
            confidence="verbalized", cache=None, batch_size=20,
            timeout=5).label(texts, data["classes"])
    right = np.array(result.labels) == [data["truth"][t] for t in texts]
    conf = np.array(result.confidence)
    assert 0.6 < right.mean() < 0.9
    # Calibrated: the confident answers are right more often.
    assert right[conf >= 0.8].mean() > right[conf < 0.5].mean() + 0.3
