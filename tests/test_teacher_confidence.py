"""Confidence from the teachers: the simulated noisy oracle, token
log-probabilities through the real ``openai`` SDK, and a confidence the model
states, through both fake servers."""

import numpy as np
import pytest

from skakd.teachers import OracleTeacher

# Class names with look-alikes, as banking77's.
CLASSES = ["card_arrival", "card_delivery_estimate", "card_linking",
           "top_up_failed", "top_up_reverted", "top_up_limits",
           "exchange_rate", "exchange_charge", "refund_not_showing_up",
           "request_refund"]
N_ITEMS = 6000


def noisy_answers(**params):
    rng = np.random.default_rng(0)
    truth = rng.choice(CLASSES, N_ITEMS)
    items = [f"text {i}" for i in range(N_ITEMS)]
    teacher = OracleTeacher(items, truth, random_state=0, **params)
    return truth, teacher.label(items, CLASSES)


def expected_calibration_error(confidence, right, n_bins=10):
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return sum(abs(right[bins == b].mean() - confidence[bins == b].mean())
               * np.mean(bins == b) for b in np.unique(bins))


def test_the_noisy_oracle_is_calibrated_and_as_accurate_as_asked():
    truth, result = noisy_answers(noise_rate=0.25, confusion="names",
                                  confidence="calibrated")
    confidence = np.array(result.confidence)
    right = np.array(result.labels) == truth
    assert right.mean() == pytest.approx(0.75, abs=0.02)
    assert expected_calibration_error(confidence, right) < 0.03
    # It is less sure where it errs.
    assert confidence[~right].mean() < confidence[right].mean() - 0.2


def test_the_noisy_oracle_confuses_similar_names_not_any_class():
    truth, result = noisy_answers(noise_rate=0.25, confusion="names")
    labels = np.array(result.labels)
    wrong = labels != truth
    same_family = [a.split("_")[0] == b.split("_")[0]
                   for a, b in zip(truth[wrong], labels[wrong])]
    # Uniform noise would stay in the family 1 time in 4 at most.
    assert np.mean(same_family) > 0.6
    assert result.confidence is None


def test_a_given_confusion_structure_is_followed():
    confusion = {"exchange_rate": {"exchange_charge": 3, "top_up_failed": 1}}
    truth, result = noisy_answers(noise_rate=0.5, confusion=confusion)
    labels = np.array(result.labels)
    wrong = (labels != truth) & (truth == "exchange_rate")
    share = np.mean(labels[wrong] == "exchange_charge")
    assert set(labels[wrong]) == {"exchange_charge", "top_up_failed"}
    assert share == pytest.approx(0.75, abs=0.06)


def test_the_default_oracle_is_unchanged():
    items = [f"t{i}" for i in range(50)]
    truth = [CLASSES[i % 10] for i in range(50)]
    labels = OracleTeacher(items, truth, noise_rate=0.3, random_state=4).label(
        items, CLASSES).labels
    # The answers of the uniform noise before confusion and confidence existed.
    assert [i for i, (a, b) in enumerate(zip(labels, truth)) if a != b] == [
        0, 2, 4, 10, 11, 26, 30, 31, 37, 42]
    assert labels[:3] == ["top_up_reverted", "card_delivery_estimate",
                          "request_refund"]
    assert OracleTeacher(items, truth).label(items, CLASSES).confidence is None


@pytest.mark.parametrize("params, message", [
    ({"confidence": "sure"}, "confidence must be"),
    ({"confusion": "random"}, "confusion must be"),
    ({"confidence": "calibrated", "confidence_concentration": 0}, "concentration"),
])
def test_bad_noise_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        OracleTeacher(["a"], ["x"], **params).label(["a"], ["x", "y"])
