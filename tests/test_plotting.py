"""skakd.plotting draws what the histories hold."""

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Scoring
from skakd.sampling import MRARU, RandomSampler
from skakd.teachers import OracleTeacher

Figure = pytest.importorskip("matplotlib.figure").Figure
plotting = pytest.importorskip("skakd.plotting")
plot_acceptance_rate = plotting.plot_acceptance_rate
plot_cost = plotting.plot_cost
plot_learning_curve = plotting.plot_learning_curve
plot_summary = plotting.plot_summary


@pytest.fixture(scope="module")
def runs():
    X, y = make_classification(n_samples=700, n_classes=3, n_informative=4,
                               random_state=0)
    fitted = {}
    for name, sampler in (("mraru", MRARU(batch_size=10)),
                          ("random", RandomSampler(batch_size=10))):
        fitted[name] = ActiveDistillationClassifier(
            LogisticRegression(), teacher=OracleTeacher(X, y, cost_per_item=0.01),
            sampler=sampler, max_iter=3, callbacks=[Scoring(X[500:], y[500:])],
            random_state=0,
        ).fit(X[:15], y[:15], X_pool=X[15:500])
    return fitted


def axes():
    return Figure().subplots()


def test_learning_curve_has_one_line_per_run_with_the_history_values(runs):
    ax = plot_learning_curve(runs, ax=axes())
    assert [line.get_label() for line in ax.lines] == ["mraru", "random"]
    for line, clf in zip(ax.lines, runs.values()):
        np.testing.assert_array_equal(line.get_xdata(), clf.history_[:, "n_labeled"])
        np.testing.assert_array_equal(line.get_ydata(), clf.history_[:, "accuracy"])
    assert ax.get_legend() is not None


def test_histories_read_back_from_json_plot_the_same(runs, tmp_path):
    clf = runs["mraru"]
    path = tmp_path / "history.json"
    path.write_text(json.dumps(list(clf.history_)))
    from_json = plot_cost(json.loads(path.read_text()), ax=axes())
    from_clf = plot_cost(clf, ax=axes())
    np.testing.assert_allclose(from_json.lines[0].get_ydata(),
                               from_clf.lines[0].get_ydata())
    np.testing.assert_allclose(from_clf.lines[0].get_ydata(),
                               clf.history_[:, "teacher_cost_total"])
    assert from_clf.lines[0].get_ydata()[-1] == pytest.approx(0.3)


def test_acceptance_rate_skips_the_seed_round(runs):
    clf = runs["mraru"]
    ax = plot_acceptance_rate(clf, ax=axes())
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(ax.lines[0].get_ydata(),
                               clf.history_[1:, "acceptance_rate"])
    assert all(0 < rate <= 1 for rate in ax.lines[0].get_ydata())


def test_summary_has_a_learning_curve_only_when_a_score_was_recorded(runs):
    assert len(plot_summary(runs, figure=Figure())) == 3
    unscored = [{k: v for k, v in r.items() if k != "accuracy"}
                for r in runs["random"].history_]
    titles = [ax.get_title() for ax in plot_summary(unscored, figure=Figure())]
    assert titles == ["Acceptance rate", "Teacher cost"]


def test_errors_name_what_was_expected():
    with pytest.raises(TypeError, match="list of per-round dicts; got int"):
        plot_cost(3, ax=axes())
    with pytest.raises(ValueError, match="no history has a score"):
        plot_learning_curve([{"n_labeled": 1}], ax=axes())


def test_learning_curve_draws_a_forecast_with_its_band(runs):
    from skakd.stopping import LearningCurveForecast

    clf = runs["random"]
    forecast = LearningCurveForecast().fit_points(
        [20, 40, 80, 160], [0.5, 0.6, 0.68, 0.72])
    ax = plot_learning_curve(clf, ax=axes(), forecast=forecast)
    run, curve = ax.lines
    assert curve.get_label() == "forecast" and curve.get_linestyle() == "--"
    grid = curve.get_xdata()
    assert grid[0] == 20 and grid[-1] == 2 * 160
    np.testing.assert_allclose(curve.get_ydata(),
                               [forecast.accuracy_at(n) for n in grid])
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() <= curve.get_ydata().min()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["forecast"]
    with pytest.raises(ValueError, match="x='n_labeled'"):
        plot_learning_curve(clf, x="round", ax=axes(), forecast=forecast)
