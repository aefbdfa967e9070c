"""Smoke tests of the cold start benchmark's measurements, on tiny data."""

import numpy as np
import pytest

from benchmarks import cold_start

pytest.importorskip("model2vec")


def tiny(n=120):
    rng = np.random.default_rng(0)
    words = {"refund": "money back refund paid", "card": "card arrived lost stolen",
             "transfer": "transfer bank account sent"}
    y = np.array(list(words) * (n // 3))
    X = np.array([" ".join(rng.choice(words[c].split(), 3)) for c in y], dtype=object)
    return X, y


def test_labels_to_target_is_the_first_point_at_the_target():
    curve = [(10, 0.5), (20, 0.8), (30, 0.7), (40, 0.9)]
    assert cold_start.labels_to_target(curve, 0.8) == 20
    assert cold_start.labels_to_target(curve, 0.95) is None


def test_coverage_counts_the_classes_a_first_batch_hits():
    X, y = tiny()
    share, topped_up, labels = cold_start.coverage(X, y, "coverage", 0)
    assert share == topped_up == 1.0 and labels == 3  # the names find them all
    share, topped_up, labels = cold_start.coverage(X, y, "random", 0)
    assert 0 < share <= 1 and labels == 3


def test_a_curve_from_no_seed_stops_at_the_target():
    X, y = tiny()
    data = {"name": "tiny", "X": X, "y": y, "X_test": X[:30], "y_test": y[:30],
            "target": 0.9}
    curve, cold = cold_start.run_curve(data, "cold_coverage", 0, max_labels=60)
    assert cold == 25  # max(batch 25, 3 classes)
    assert curve[-1][1] >= 0.9 or curve[-1][0] == 60
