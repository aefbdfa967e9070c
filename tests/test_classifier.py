"""The distillation loop: rounds, budgets, provenance, callbacks, failures."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Callback, EarlyStopping, Scoring
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler
from skakd.teachers import CallableTeacher, OracleTeacher


def make(blobs, **params):
    params.setdefault("teacher", OracleTeacher(blobs["X"], blobs["y"]))
    params.setdefault("sampler", MRARU(batch_size=10))
    params.setdefault("random_state", 0)
    return ActiveDistillationClassifier(LogisticRegression(), **params)


def fit(clf, blobs):
    return clf.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])


def test_each_round_adds_a_batch_of_teacher_labels(blobs):
    clf = fit(make(blobs, max_iter=4), blobs)
    assert clf.n_iter_ == 4
    assert clf.termination_condition_ == "max_iter"
    assert clf.history_[:, "round"] == [0, 1, 2, 3, 4]
    assert clf.history_[:, "n_labeled"] == [9, 19, 29, 39, 49]
    assert (clf.label_source_ == "seed").sum() == 9
    assert (clf.label_source_ == "teacher").sum() == 40
    np.testing.assert_array_equal(np.bincount(clf.label_round_), [9, 10, 10, 10, 10])


def test_teacher_labels_are_the_pool_items_labels(blobs):
    clf = fit(make(blobs, max_iter=3), blobs)
    teacher_rows = clf.label_source_ == "teacher"
    pool_index = clf.labeled_pool_index_[teacher_rows]
    np.testing.assert_array_equal(clf.labeled_y_[teacher_rows], blobs["y_pool"][pool_index])
    np.testing.assert_array_equal(clf.labeled_X_[teacher_rows], blobs["X_pool"][pool_index])
    assert len(np.unique(pool_index)) == len(pool_index)


def test_student_is_refitted_on_everything_labelled(blobs):
    clf = fit(make(blobs, max_iter=3), blobs)
    reference = LogisticRegression().fit(clf.labeled_X_, clf.labeled_y_)
    np.testing.assert_allclose(
        clf.predict_proba(blobs["X_test"]), reference.predict_proba(blobs["X_test"])
    )


def test_distillation_improves_on_the_seed_student(blobs):
    clf = fit(make(blobs, max_iter=8, callbacks=[
        Scoring(blobs["X_test"], blobs["y_test"])]), blobs)
    curve = clf.history_[:, "accuracy"]
    assert curve[-1] > curve[0] + 0.03
    assert clf.score(blobs["X_test"], blobs["y_test"]) == pytest.approx(curve[-1])


def test_max_labels_caps_the_teacher_budget_exactly(blobs):
    clf = fit(make(blobs, max_iter=10, max_labels=25), blobs)
    assert clf.history_[:, "n_queried"] == [0, 10, 10, 5]
    assert clf.termination_condition_ == "max_labels"


def test_max_cost_never_overspends(blobs):
    teacher = OracleTeacher(blobs["X"], blobs["y"], cost_per_item=0.01)
    clf = fit(make(blobs, teacher=teacher, max_iter=10, max_cost=0.25), blobs)
    assert clf.teacher_cost_ == pytest.approx(0.25)
    assert clf.history_[:, "n_queried"] == [0, 10, 10, 5]
    assert clf.history_[-1, "teacher_cost_total"] == pytest.approx(0.25)
    assert clf.termination_condition_ == "max_cost"


def test_max_cost_uses_the_teachers_estimate_before_any_cost(blobs):
    class PricedOracle(OracleTeacher):
        def estimate_cost(self, n_items, classes=None):
            return 0.1 * n_items

    teacher = PricedOracle(blobs["X"], blobs["y"])  # estimates, but charges 0
    clf = fit(make(blobs, teacher=teacher, max_iter=3, max_cost=0.45), blobs)
    assert clf.history_[1]["n_queried"] == 4


def test_pool_exhaustion_stops_the_loop(blobs):
    X_pool = blobs["X_pool"][:15]
    clf = make(blobs, max_iter=5).fit(blobs["X_seed"], blobs["y_seed"], X_pool=X_pool)
    assert clf.termination_condition_ == "pool_exhausted"
    assert clf.history_[:, "n_queried"] == [0, 10, 5]
    assert sorted(clf.labeled_pool_index_[9:]) == list(range(15))


def test_no_pool_trains_the_seed_student(blobs):
    clf = ActiveDistillationClassifier(LogisticRegression()).fit(
        blobs["X_seed"], blobs["y_seed"])
    assert clf.n_iter_ == 0 and len(clf.history_) == 1
    assert clf.termination_condition_ == "pool_exhausted"
    assert (clf.label_source_ == "seed").all()


@pytest.mark.parametrize("sampler", [MRARU(10), RandomSampler(10), UncertaintySampler(10)])
def test_same_random_state_gives_the_same_student(blobs, sampler):
    a = fit(make(blobs, sampler=sampler, max_iter=4, random_state=3), blobs)
    b = fit(make(blobs, sampler=sampler, max_iter=4, random_state=3), blobs)
    np.testing.assert_array_equal(a.labeled_pool_index_, b.labeled_pool_index_)
    np.testing.assert_array_equal(
        a.predict_proba(blobs["X_test"]), b.predict_proba(blobs["X_test"]))


def test_different_random_states_select_differently(blobs):
    a = fit(make(blobs, max_iter=2, random_state=1), blobs)
    b = fit(make(blobs, max_iter=2, random_state=2), blobs)
    assert set(a.labeled_pool_index_) != set(b.labeled_pool_index_)


def test_text_items_with_the_default_student(texts):
    X, y = texts
    seed = [0, 1, 2, 3]
    clf = ActiveDistillationClassifier(
        teacher=OracleTeacher(X, y), sampler=MRARU(batch_size=5), max_iter=3,
        random_state=0,
    ).fit(X[seed], y[seed], X_pool=X[4:200])
    assert clf.history_[-1, "n_labeled"] == 19
    assert clf.score(X[200:], y[200:]) > 0.9
    assert isinstance(clf.labeled_X_[0], str)


def test_a_plain_function_is_a_teacher(texts):
    X, y = texts
    asked = []

    def label(items):
        asked.extend(items)
        return ["sport" if "goal" in t or "team" in t else "money" for t in items]

    clf = ActiveDistillationClassifier(
        teacher=label, sampler=RandomSampler(batch_size=4), max_iter=2, random_state=0
    ).fit(X[:4], y[:4], X_pool=X[4:])
    assert len(asked) == 8 and all(isinstance(t, str) for t in asked)
    assert list(clf.labeled_X_[4:]) == asked


def test_unknown_teacher_labels_are_rejected_counted_and_warned_once(blobs):
    def label(items):
        return ["bogus"] + [0] * (len(items) - 1)

    with pytest.warns(UserWarning, match="outside classes") as record:
        clf = fit(make(blobs, teacher=label, max_iter=3), blobs)
    assert sum("outside classes" in str(w.message) for w in record) == 1
    assert clf.history_[:, "n_rejected"] == [0, 1, 1, 1]
    assert clf.history_[:, "n_new"][1:] == [9, 9, 9]
    assert "bogus" not in set(clf.labeled_y_.tolist())


def test_classes_param_lets_the_teacher_use_unseen_classes(blobs):
    seed = blobs["y_seed"] != 2
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(blobs["X"], blobs["y"]),
        sampler=RandomSampler(30), classes=[0, 1, 2], max_iter=2, random_state=0,
    ).fit(blobs["X_seed"][seed], blobs["y_seed"][seed], X_pool=blobs["X_pool"])
    assert clf.history_[:, "n_rejected"] == [0, 0, 0]
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


def test_teacher_abstentions_are_counted_and_leave_the_pool(blobs):
    def half(items):
        return [None if i % 2 else 0 for i in range(len(items))]

    clf = fit(make(blobs, teacher=half, max_iter=2), blobs)
    assert clf.history_[:, "n_unlabeled"] == [0, 5, 5]
    assert clf.history_[:, "n_new"][1:] == [5, 5]
    assert (clf.label_source_ == "teacher").sum() == 10


def test_a_callback_can_stop_the_loop(blobs):
    class StopAfterTwo(Callback):
        def on_round_end(self, clf, record):
            record["seen"] = True
            return record["round"] == 2

    clf = fit(make(blobs, max_iter=10, callbacks=[StopAfterTwo()]), blobs)
    assert clf.n_iter_ == 2
    assert clf.termination_condition_ == "early_stopping"
    assert clf.history_[:, "seen"] == [None, True, True]


def test_early_stopping_on_a_plateau(blobs):
    scoring = Scoring(blobs["X_test"], blobs["y_test"])
    stop = EarlyStopping(patience=2, min_delta=1.0)  # nothing can improve by 1.0
    clf = fit(make(blobs, max_iter=10, callbacks=[scoring, stop]), blobs)
    assert clf.n_iter_ == 2
    assert clf.termination_condition_ == "early_stopping"


def test_callbacks_are_cloned_not_mutated(blobs):
    stop = EarlyStopping(monitor="accuracy", patience=3)
    clf = fit(make(blobs, max_iter=2, callbacks=[
        Scoring(blobs["X_test"], blobs["y_test"]), stop]), blobs)
    assert not hasattr(stop, "best_")
    assert hasattr(clf.callbacks_[1], "best_")


def test_progress_bar_when_verbose(blobs, capsys):
    fit(make(blobs, max_iter=2, verbose=1), blobs)
    assert "distilling" in capsys.readouterr().err


def test_a_failing_teacher_keeps_what_was_paid_for(blobs):
    oracle = OracleTeacher(blobs["X"], blobs["y"])
    calls = []

    def flaky(items):
        calls.append(len(items))
        if len(calls) == 3:
            raise ConnectionError("teacher went away")
        return oracle.label(items, [0, 1, 2]).labels

    clf = make(blobs, teacher=flaky, max_iter=5)
    with pytest.raises(ConnectionError, match="teacher went away") as info:
        fit(clf, blobs)
    assert any("2 completed rounds" in note for note in getattr(info.value, "__notes__", []))
    assert clf.termination_condition_ == "error"
    assert len(clf.history_) == 3
    assert len(clf.labeled_y_) == 29
    assert clf.predict(blobs["X_test"]).shape == (300,)


def test_keyboard_interrupt_keeps_the_student(blobs):
    def interrupted(items):
        raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted"):
        clf = fit(make(blobs, teacher=interrupted, max_iter=5), blobs)
    assert clf.termination_condition_ == "interrupted"
    assert clf.predict(blobs["X_test"]).shape == (300,)


def test_history_records_selection_and_teacher_usage(blobs):
    teacher = CallableTeacher(lambda items: [0] * len(items), cost_per_item=0.002)
    clf = fit(make(blobs, teacher=teacher, max_iter=2), blobs)
    last = clf.history_[-1]
    for key in ("n_visited", "acceptance_rate", "select_seconds", "teacher_seconds",
                "fit_seconds", "seconds", "teacher_cost", "n_accepted", "n_fallback"):
        assert key in last, key
    assert last["teacher_cost"] == pytest.approx(0.02)
    assert 0 < last["acceptance_rate"] <= 1
    assert last["n_visited"] >= 10
