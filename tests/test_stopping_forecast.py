"""The learning-curve forecast: known curves, measured points it must not
contradict, the source it reads from a run, and its progress bar."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Scoring
from skakd.sampling import RandomSampler
from skakd.stopping import (
    LearningCurveForecast,
    TargetNotReachable,
    TeacherAgreement,
    _forecast,
)
from skakd.teachers import OracleTeacher


def test_a_noisy_power_law_is_forecast_within_tolerance():
    # Pilots of rounds of 25 labels up to 400 on 0.9 - 2 / sqrt(n) with
    # noise; the truth of 0.84 is at 1,111 labels, 2.8 times the pilot (the
    # benchmark forecasts from a third of the budget). Scored as the
    # benchmark scores it: the median error over runs.
    n = np.arange(25, 401, 25)
    errors = []
    for seed in range(20):
        noisy = 0.9 - 2 * n ** -0.5 + np.random.default_rng(seed).normal(0, 0.003, len(n))
        forecast = LearningCurveForecast(n_bootstrap=0).fit_points(n, noisy)
        errors.append(abs(forecast.labels_to(0.84) / 1111 - 1))
    assert np.median(errors) <= 0.1
    assert np.mean(np.array(errors) <= 0.25) >= 0.8


def test_the_band_holds_the_point_and_the_exact_curve_is_recovered():
    n = np.arange(25, 401, 25)
    forecast = LearningCurveForecast(n_bootstrap=30, random_state=0).fit_points(
        n, 0.9 - 2 * n ** -0.5)
    point, low, high = forecast.labels_to(0.85, return_band=True)
    assert point == pytest.approx(1600, rel=0.01) and low <= point <= high
    np.testing.assert_allclose(forecast.params_, [0.9, 2, 0.5], rtol=1e-3)


def test_a_curve_that_passed_the_target_is_never_forecast_beyond_it():
    # The pilot: measured 0.982 at 414 labels, yet the curve through
    # its noisier points levelled off below 0.98 (145,198 labels forecast).
    n = np.array([14, 64, 114, 164, 214, 264, 314, 364, 414, 464])
    measured = np.array([0.60, 0.80, 0.90, 0.95, 0.96, 0.965, 0.97, 0.975, 0.982,
                         0.975])
    forecast = LearningCurveForecast(n_bootstrap=50, random_state=0).fit_points(
        n, measured)
    point, low, high = forecast.labels_to(0.98, return_band=True)
    assert point <= 414 and high <= 414
    assert forecast.usd_to(0.98) == 0.0
    for target in (0.9, 0.95, 0.97):
        assert forecast.labels_to(target) <= n[np.argmax(measured >= target)]


def test_measured_points_bound_a_forecast_fitted_to_other_estimates():
    # Estimates biased low (cross-validation on hard texts) never reach 0.8,
    # but a held-out score did at 300 labels.
    n = np.array([50, 100, 200, 400])
    forecast = LearningCurveForecast(n_bootstrap=0).fit_points(
        n, [0.40, 0.42, 0.43, 0.43], measured=([100, 300], [0.7, 0.81]))
    assert forecast.labels_to(0.8) == 300
    with pytest.raises(TargetNotReachable, match="levels off"):
        forecast.labels_to(0.9)


def _data():
    X, y = make_classification(n_samples=2000, n_features=20, n_informative=10,
                               n_classes=4, class_sep=1.0, random_state=0)
    return X[:1500], y[:1500], X[1500:], y[1500:]


def _run(*callbacks, max_iter=8):
    X, y, X_val, y_val = _data()
    seed = np.concatenate([np.flatnonzero(y == c)[:2] for c in np.unique(y)])
    pool = np.setdiff1d(np.arange(len(y)), seed)
    clf = ActiveDistillationClassifier(
        LogisticRegression(max_iter=500), teacher=OracleTeacher(X, y),
        sampler=RandomSampler(batch_size=20), max_iter=max_iter, random_state=0,
        callbacks=[callback(X_val, y_val) for callback in callbacks] or None)
    return clf.fit(X[seed], y[seed], X_pool=X[pool])


def _scoring(X_val, y_val):
    return Scoring(X_val, y_val)


def _agreement(X_val, y_val):
    return TeacherAgreement(min_rounds=100)


@pytest.mark.parametrize("callbacks, source", [
    ((_scoring, _agreement), "validation"),
    ((_agreement,), "agreement"),
    ((), "cv"),
])
def test_auto_reads_the_best_source_the_run_has(callbacks, source):
    clf = _run(*callbacks)
    forecast = LearningCurveForecast(n_bootstrap=0, random_state=0).fit(clf)
    assert forecast.source_ == source
    if source == "validation":  # the Scoring curve itself, round 0 included
        np.testing.assert_array_equal(forecast.n_labels_, clf.history_[:, "n_labeled"])
        np.testing.assert_array_equal(forecast.accuracy_, clf.history_[:, "accuracy"])


@pytest.mark.parametrize("source", ["validation", "agreement", "cv"])
def test_no_source_forecasts_past_a_score_the_run_measured(source):
    clf = _run(_scoring, _agreement)
    forecast = LearningCurveForecast(source=source, n_bootstrap=20,
                                     random_state=0).fit(clf, until=120)
    n, score = np.array(clf.history_[:, "n_labeled"]), clf.history_[:, "accuracy"]
    pilot = n <= 120
    np.testing.assert_array_equal(forecast.measured_n_, n[pilot])
    best = int(np.argmax(np.where(pilot, score, -1)))
    point, _, high = forecast.labels_to(score[best], return_band=True)
    assert point <= n[best] and high <= n[best]


def test_validation_needs_scores_in_the_history():
    clf = _run(_agreement)
    with pytest.raises(ValueError, match="source='validation'.*Scoring"):
        LearningCurveForecast(source="validation").fit(clf)
    with pytest.raises(ValueError, match="key f1"):
        LearningCurveForecast(source="validation", metric="f1").fit(_run(_scoring))


def test_a_named_metric_is_read(monkeypatch):
    X, y, X_val, y_val = _data()
    clf = _run(lambda X, y: Scoring(X, y, scoring="f1_macro", name="val_f1"))
    forecast = LearningCurveForecast(metric="val_f1", n_bootstrap=0).fit(clf)
    assert forecast.source_ == "validation"
    np.testing.assert_array_equal(forecast.accuracy_, clf.history_[:, "val_f1"])


@pytest.mark.parametrize("progress", [True, False])
def test_cross_validation_shows_its_progress(progress, monkeypatch, capsys):
    monkeypatch.setattr(_forecast, "PROGRESS_DELAY_S", 0.0)
    clf = _run()
    LearningCurveForecast(source="cv", n_bootstrap=0, progress=progress).fit(clf)
    err = capsys.readouterr().err
    assert ("forecast: cross-validating" in err) is progress
    if progress:
        assert "30/30" in err  # 5 folds of 6 subset sizes
