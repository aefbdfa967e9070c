"""Label-free stopping criteria and the learning-curve forecast, on real fits."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from skakd import ActiveDistillationClassifier
from skakd.callbacks import EarlyStopping, Scoring
from skakd.sampling import MRARU, RandomSampler
from skakd.stopping import (
    ConfidenceStop,
    LearningCurveForecast,
    ProjectedChange,
    StabilizingPredictions,
    TargetNotReachable,
    TeacherAgreement,
    default,
    projected_change,
)
from skakd.teachers import OracleTeacher


def _easy():
    """Two far-apart blobs: a handful of labels give a perfect student."""
    X, y = make_blobs(n_samples=1500, centers=[[-5, 0], [5, 0]], random_state=0)
    return X, y


def _hard():
    """Ten classes in 60 dimensions: 5 labels a round keep changing the student."""
    X, y = make_classification(
        n_samples=3000, n_features=60, n_informative=50, n_redundant=0,
        n_classes=10, n_clusters_per_class=2, class_sep=1.0, random_state=0,
    )
    return X, y


def _seed(y, per_class=1):
    return np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])


def _fit(X, y, criterion, *, batch_size=10, max_iter=40, sampler=None, **params):
    seed = _seed(y)
    pool = np.setdiff1d(np.arange(len(y)), seed)
    params.setdefault("callbacks", None if criterion is None else [criterion])
    clf = ActiveDistillationClassifier(
        LogisticRegression(max_iter=500), teacher=OracleTeacher(X, y),
        sampler=sampler or RandomSampler(batch_size=batch_size),
        max_iter=max_iter, random_state=0, **params,
    )
    return clf.fit(X[seed], y[seed], X_pool=X[pool])


CRITERIA = [
    StabilizingPredictions(min_rounds=5),
    ProjectedChange(window=3, min_rounds=5),
    ConfidenceStop(threshold=0.05, min_rounds=5),
    TeacherAgreement(threshold=0.98, window=3, min_rounds=5),
    TeacherAgreement(window=3, min_rounds=5),  # the plateau rule
]


@pytest.mark.parametrize("criterion", CRITERIA, ids=repr)
def test_each_criterion_stops_when_the_student_has_learned(criterion):
    clf = _fit(*_easy(), criterion)
    assert clf.termination_condition_ == "converged"
    assert 5 <= clf.n_iter_ < 40
    values = clf.history_[1:, criterion.key]
    assert len(values) == clf.n_iter_ and all(v is not None for v in values)


@pytest.mark.parametrize("criterion", CRITERIA[:4], ids=repr)
def test_no_criterion_stops_a_student_that_keeps_improving(criterion):
    X, y = _hard()
    clf = _fit(X, y, criterion, batch_size=5, max_iter=15)
    assert clf.termination_condition_ == "max_iter"
    # It really kept improving: accuracy on the pool rose over the run.
    first = clone(clf.estimator_).fit(clf.labeled_X_[:20], clf.labeled_y_[:20])
    assert clf.score(X, y) > first.score(X, y) + 0.05


def test_the_default_is_documented_and_waits_ten_rounds():
    criterion = default()
    assert isinstance(criterion, ProjectedChange)
    clf = _fit(*_easy(), criterion)
    assert clf.termination_condition_ == "converged" and clf.n_iter_ >= 10
    assert np.mean(clf.history_[-10:, "stop_projected_change"]) <= 0.4
    assert clf.history_[-1, "stop_kappa"] > 0.9


def test_projected_change_scales_one_round_to_a_doubling():
    # 1 - kappa = 0.01 a round; 40 rounds of 25 double 1,000 labels.
    assert projected_change(0.99, 1000, 25) == pytest.approx(0.4)
    assert projected_change(0.99, 100, 25) == pytest.approx(0.04)
    assert projected_change(1.0, 1000, 0) == 0.0  # nothing changed
    assert np.isnan(projected_change(0.9, 1000, 0))  # changed, yet no new label


def test_projected_change_reads_the_labels_each_round_added():
    X, y = _hard()
    clf = _fit(X, y, ProjectedChange(min_rounds=100), batch_size=5, max_iter=4)
    n = clf.history_[:, "n_labeled"]
    kappa = clf.history_[1:, "stop_kappa"]
    expected = [projected_change(k, after, after - before)
                for k, after, before in zip(kappa, n[1:], n[:-1])]
    np.testing.assert_allclose(clf.history_[1:, "stop_projected_change"], expected)
    assert n[1] - n[0] == 5


def test_a_criterion_observes_the_run_without_changing_it():
    X, y = _hard()
    plain = _fit(X, y, None, batch_size=5, max_iter=8, sampler=MRARU(batch_size=5))
    watched = _fit(X, y, StabilizingPredictions(min_rounds=100), batch_size=5,
                   max_iter=8, sampler=MRARU(batch_size=5))
    np.testing.assert_array_equal(plain.labeled_pool_index_, watched.labeled_pool_index_)
    again = _fit(X, y, StabilizingPredictions(min_rounds=100), batch_size=5,
                 max_iter=8, sampler=MRARU(batch_size=5))
    np.testing.assert_array_equal(watched.callbacks_[0].stop_indices_,
                                  again.callbacks_[0].stop_indices_)


def test_criteria_are_cloned_per_fit_and_the_fitted_model_pickles_small():
    criterion = StabilizingPredictions(min_rounds=5)
    clf = _fit(*_easy(), criterion)
    assert not hasattr(criterion, "values_")  # the user's object is untouched
    fitted = clf.callbacks_[0]
    assert fitted.stop_X_ is None and len(fitted.stop_indices_) == 1000
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.callbacks_[0].values_ == fitted.values_


def test_teacher_agreement_measures_the_student_before_its_refit():
    X, y = _hard()
    clf = _fit(X, y, TeacherAgreement(min_rounds=100), batch_size=20, max_iter=2)
    seed_student = LogisticRegression(max_iter=500).fit(
        clf.labeled_X_[clf.label_round_ == 0], clf.labeled_y_[clf.label_round_ == 0])
    batch = clf.label_round_ == 1
    expected = np.mean(seed_student.predict(clf.labeled_X_[batch]) == clf.labeled_y_[batch])
    assert clf.history_[1, "teacher_agreement"] == pytest.approx(expected)
    assert clf.callbacks_[0].n_compared_ == [20, 20]


def test_other_callbacks_still_stop_with_early_stopping():
    X, y = _easy()
    clf = _fit(X, y, None, callbacks=[
        Scoring(X, y), EarlyStopping(patience=2), StabilizingPredictions(min_rounds=100),
    ])
    assert clf.termination_condition_ == "early_stopping"
    # The criterion that did not stop still measured every round.
    kappas = clf.history_[1:, "stop_kappa"]
    assert len(kappas) == clf.n_iter_ and None not in kappas
    assert clf.callbacks_[2].values_ == pytest.approx(kappas, nan_ok=True)


@pytest.mark.parametrize("make, message", [
    (lambda: StabilizingPredictions(threshold=0), "'threshold' parameter.*range"),
    (lambda: ConfidenceStop(threshold=1.5), "'threshold' parameter.*range"),
    (lambda: TeacherAgreement(threshold=-0.1), "'threshold' parameter"),
    (lambda: StabilizingPredictions(window=0), "'window' parameter.*range"),
    (lambda: ProjectedChange(threshold=0), "'threshold' parameter.*range"),
    (lambda: ProjectedChange(threshold=1.5), "'threshold' parameter.*range"),
    (lambda: ProjectedChange(window=0), "'window' parameter.*range"),
    (lambda: TeacherAgreement(window=0), "'window' parameter.*range"),
    (lambda: ConfidenceStop(aggregate="median"), "'aggregate' parameter"),
])
def test_bad_parameters_are_refused_before_any_round(make, message):
    X, y = _easy()
    teacher_calls = []

    def teacher(rows):
        teacher_calls.append(len(rows))
        return [0] * len(rows)

    clf = ActiveDistillationClassifier(LogisticRegression(), teacher=teacher,
                                       callbacks=[make()], max_iter=3)
    with pytest.raises(ValueError, match=message):
        clf.fit(X[_seed(y)], y[_seed(y)], X_pool=X)
    assert teacher_calls == []


def test_a_stop_set_larger_than_the_pool_is_refused():
    X, y = _easy()
    with pytest.raises(ValueError, match=r"stop_set_size=5000.*larger than the pool"):
        _fit(X, y, StabilizingPredictions(stop_set_size=5000))
    clf = _fit(X, y, StabilizingPredictions(stop_set_size=0.1, min_rounds=100), max_iter=1)
    assert len(clf.callbacks_[0].stop_indices_) == round(0.1 * (len(y) - 2))


def test_confidence_stop_needs_predict_proba():
    X, y = _easy()
    clf = ActiveDistillationClassifier(
        LinearSVC(), teacher=OracleTeacher(X, y), sampler=RandomSampler(batch_size=5),
        callbacks=[ConfidenceStop()], max_iter=2)
    with pytest.raises(TypeError, match="predict_proba"):
        clf.fit(X[_seed(y)], y[_seed(y)], X_pool=X)


# -- forecast ------------------------------------------------------------------


def test_forecast_recovers_a_known_curve_and_answers_in_labels_and_dollars():
    n = np.array([25, 50, 100, 200, 400, 800])
    rng = np.random.default_rng(0)
    accuracy = 0.9 - 2 * n ** -0.5 + rng.normal(0, 0.002, len(n))
    forecast = LearningCurveForecast(n_bootstrap=30, random_state=0).fit_points(
        n, accuracy, cost_per_label=0.002)
    np.testing.assert_allclose(forecast.params_, [0.9, 2, 0.5], rtol=0.1)
    point, low, high = forecast.labels_to(0.85, return_band=True)
    assert low <= point <= high and point == pytest.approx(1600, rel=0.15)
    assert forecast.usd_to(0.85) == pytest.approx((point - 800) * 0.002)
    assert forecast.usd_to(0.7) == 0.0  # already there
    value, low, high = forecast.accuracy_at(3200, return_band=True)
    assert low <= value <= high and value == pytest.approx(0.865, abs=0.01)


@pytest.mark.parametrize("target", [0.95, 1.0])
def test_an_unreachable_target_says_so_with_the_ceiling(target):
    n = np.array([25, 50, 100, 200, 400, 800])
    forecast = LearningCurveForecast(n_bootstrap=0).fit_points(n, 0.9 - 2 * n ** -0.5)
    with pytest.raises(TargetNotReachable, match="not reachable.*levels off at 0.9") as info:
        forecast.usd_to(target)
    assert info.value.ceiling == pytest.approx(0.9, abs=0.01)
    assert isinstance(info.value, ValueError)


def test_a_target_past_the_horizon_is_not_reachable_either():
    n = np.array([25, 50, 100, 200, 400, 800])
    forecast = LearningCurveForecast(n_bootstrap=0, horizon=5000).fit_points(
        n, 0.9 - 2 * n ** -0.5)
    with pytest.raises(TargetNotReachable, match="beyond horizon=5,000"):
        forecast.labels_to(0.895)


@pytest.mark.parametrize("source", ["agreement", "cv", "auto"])
def test_forecast_from_a_real_fit(source):
    X, y = _hard()
    clf = _fit(X, y, TeacherAgreement(min_rounds=100), batch_size=20, max_iter=6)
    forecast = LearningCurveForecast(source=source, n_bootstrap=10, random_state=0).fit(clf)
    assert forecast.n_labeled_ == len(clf.labeled_y_)
    assert 0 < forecast.params_[0] <= 1
    assert forecast.cost_per_label_ == 0.0  # the oracle is free
    reached = forecast.accuracy_at(forecast.n_labeled_) - 0.01
    assert forecast.labels_to(reached) <= forecast.n_labeled_
    pilot = LearningCurveForecast(source=source, n_bootstrap=0).fit(clf, until=80)
    assert pilot.n_labeled_ == 70 and pilot.n_labels_.max() <= 70


def test_forecast_needs_points_it_can_use():
    X, y = _easy()
    clf = _fit(X, y, None, max_iter=3)
    with pytest.raises(ValueError, match="add skakd.stopping.TeacherAgreement"):
        LearningCurveForecast(source="agreement").fit(clf)
    with pytest.raises(ValueError, match="3 or more"):
        LearningCurveForecast().fit_points([10, 20], [0.5, 0.6])
    with pytest.raises(ValueError, match="'level' parameter"):
        LearningCurveForecast(level=1.0).fit_points([10, 20, 40], [0.5, 0.6, 0.65])
