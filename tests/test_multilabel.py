"""Multi-label distillation: label sets in, indicator matrices out."""

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_multilabel_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skakd import ActiveDistillationClassifier, MultiLabelStudent, Pool
from skakd.sampling import (
    MRARU,
    RandomSampler,
    UncertaintySampler,
    multilabel_uncertainty,
)
from skakd.teachers import OracleTeacher

NAMES = np.array(["billing", "login", "refund", "shipping"])


def _tag_data(n=600, seed=0):
    X, Y = make_multilabel_classification(n_samples=n, n_features=12, n_classes=4,
                                          n_labels=1, allow_unlabeled=True,
                                          random_state=seed)
    sets = [list(NAMES[row.astype(bool)]) for row in Y]
    return X, Y, sets


def _texts(n=300, seed=0):
    rng = np.random.default_rng(seed)
    words = {"billing": "invoice charge", "login": "password account",
             "refund": "money back", "shipping": "parcel delivery"}
    texts, sets = [], []
    for i in range(n):
        labels = [name for name in NAMES if rng.random() < 0.3]
        body = " ".join(words[name] for name in labels) or "hello there"
        texts.append(f"{body} note {i}")
        sets.append(labels)
    return texts, sets


def _fit(X, sets, **params):
    params = {"teacher": OracleTeacher(X, sets), "max_iter": 3, "random_state": 0,
              "classes": list(NAMES), **params}
    return ActiveDistillationClassifier(**params).fit(
        X[:40], sets[:40], X_pool=Pool(X[40:]))


def test_texts_with_label_sets_end_to_end():
    texts, sets = _texts()
    clf = _fit(np.array(texts, dtype=object), sets, sampler=MRARU(batch_size=20))
    assert clf.classes_.tolist() == NAMES.tolist()
    assert clf.predict(texts[:5]).shape == (5, 4)
    proba = clf.predict_proba(texts[:5])
    assert proba.shape == (5, 4) and ((proba >= 0) & (proba <= 1)).all()
    assert clf.labeled_y_.shape == (100, 4)
    assert clf.history_[:, "n_labeled"] == [40, 60, 80, 100]
    labels = clf.predict_labels(["invoice charge money back", "hello there"])
    assert set(labels[0]) == {"billing", "refund"} and labels[1] == ()
    assert clf.score(texts[200:], sets[200:]) > 0.8


def test_indicator_matrix_with_classes():
    X, Y, sets = _tag_data()
    clf = ActiveDistillationClassifier(
        OneVsRestClassifier(LogisticRegression()),
        teacher=OracleTeacher(X, Y, classes=NAMES),
        classes=NAMES, max_iter=2, random_state=0,
    ).fit(X[:40], Y[:40], X_pool=X[40:])
    assert isinstance(clf.estimator_, MultiLabelStudent)
    assert clf.predict(X[:3]).shape == (3, 4)


def test_same_labels_from_sets_or_indicator():
    X, Y, sets = _tag_data()
    a = _fit(X, sets)
    b = _fit(X, Y, teacher=OracleTeacher(X, Y, classes=NAMES))
    np.testing.assert_array_equal(a.labeled_y_, b.labeled_y_)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("student", [
    RandomForestClassifier(n_estimators=10, random_state=0),
    MultiOutputClassifier(LogisticRegression()),
])
def test_callable_teacher_and_list_proba_student(student):
    X, Y, sets = _tag_data()
    answers = {x.tobytes(): s for x, s in zip(X, sets)}
    clf = _fit(X, sets, teacher=lambda items: [answers[x.tobytes()] for x in items],
               estimator=student, sampler=UncertaintySampler(batch_size=20))
    assert isinstance(student.fit(X[:50], Y[:50]).predict_proba(X[:2]), list)
    proba = clf.predict_proba(X[:7])
    assert proba.shape == (7, 4)
    assert clf.predict(X[:7]).shape == (7, 4)


def test_tuned_thresholds():
    X, Y, sets = _tag_data()
    clf = _fit(X, sets, threshold="tuned", sampler=RandomSampler(batch_size=50))
    threshold = clf.estimator_.threshold_
    assert threshold.shape == (4,) and ((threshold > 0) & (threshold < 1)).all()


def test_joblib_gridsearch_pipeline(tmp_path):
    X, Y, sets = _tag_data()
    clf = _fit(X, sets)
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))

    search = GridSearchCV(
        ActiveDistillationClassifier(
            teacher=OracleTeacher(X, sets), classes=list(NAMES), max_iter=2,
            random_state=0),
        {"sampler": [MRARU(batch_size=10),
                     MRARU(batch_size=10, label_aggregation="max")]},
        cv=2, scoring="f1_micro",
    ).fit(X[:60], Y[:60], X_pool=Pool(X[60:]))
    assert search.best_estimator_.predict(X[:2]).shape == (2, 4)

    pipe = make_pipeline(StandardScaler(), ActiveDistillationClassifier(
        teacher=OracleTeacher(StandardScaler().fit(X[:40]).transform(X), sets),
        classes=list(NAMES), max_iter=1, random_state=0))
    pipe.fit(X[:40], sets[:40],
             activedistillationclassifier__X_pool=StandardScaler().fit(X[:40]).transform(X[40:]))
    assert pipe.predict(X[:2]).shape == (2, 4)


@pytest.mark.parametrize("y, classes, message", [
    ([["billing"], ["nope"]], NAMES, "y\\[1\\] has label 'nope'"),
    ([["billing"], "login"], None, "mixes label lists and single labels"),
    (np.eye(4, dtype=int)[[0, 1]], None, "indicator matrix .* classes is None"),
])
def test_bad_targets_are_named(y, classes, message):
    X, _, _ = _tag_data(10)
    with pytest.raises(ValueError, match=message):
        ActiveDistillationClassifier(classes=classes).fit(X[:2], y)


def test_teacher_answering_a_string_where_a_set_is_due():
    X, Y, sets = _tag_data()
    with pytest.raises(TypeError, match="answered 'billing' for item 0"):
        _fit(X, sets, teacher=lambda items: ["billing"] * len(items))


def test_single_label_teacher_object_is_refused_before_paying():
    class OldTeacher:
        def label(self, items, classes):
            raise AssertionError("not asked")

    X, Y, sets = _tag_data()
    with pytest.raises(TypeError, match="cannot answer label sets"):
        _fit(X, sets, teacher=OldTeacher())


def test_labels_outside_classes_are_rejected():
    X, Y, sets = _tag_data()
    with pytest.warns(UserWarning, match="outside classes"):
        clf = _fit(X, sets, teacher=lambda items: [["billing", "spam"]] * len(items))
    assert clf.history_[-1, "n_rejected"] == 25


def test_multilabel_uncertainty_aggregations():
    proba = np.array([[0.5, 0.0, 0.0], [0.9, 0.1, 0.0], [1.0, 0.0, 1.0]])
    assert multilabel_uncertainty(proba, aggregation="max").round(2).tolist() == [
        1.0, 0.2, 0.0]
    assert multilabel_uncertainty(proba).round(3).tolist() == [
        0.333, 0.133, 0.0]
    lci = multilabel_uncertainty(proba, aggregation="cardinality", cardinality=1.0)
    assert lci.round(2).tolist() == [0.25, 0.0, 0.5]
    entropy = multilabel_uncertainty(proba, "entropy", aggregation="max")
    assert entropy[0] == 1.0 and entropy[2] == 0.0


def test_mraru_selection_stays_o_batch_for_multilabel():
    X, Y, sets = _tag_data()
    student = MultiLabelStudent(OneVsRestClassifier(LogisticRegression()),
                                NAMES).fit(X[:100], Y[:100])
    sampler = MRARU(batch_size=10)
    chosen = sampler.select(student, X, np.arange(100, 600), 10, random_state=0)
    assert len(chosen) == 10 and sampler.last_stats_["n_visited"] <= 500


def test_scoring_and_stopping_read_label_sets():
    from skakd.callbacks import Scoring
    from skakd.stopping import ConfidenceStop, StabilizingPredictions, TeacherAgreement

    texts, sets = _texts()
    texts = np.array(texts, dtype=object)
    clf = _fit(texts, sets, sampler=MRARU(batch_size=20), callbacks=[
        Scoring(texts[200:], sets[200:]), StabilizingPredictions(min_rounds=50),
        TeacherAgreement(min_rounds=50), ConfidenceStop(min_rounds=50)])
    record = clf.history_[-1]
    assert 0 <= record["hamming_loss"] <= 1 and record["micro_f1"] > 0.5
    assert record["macro_f1"] > 0 and 0 <= record["accuracy"] <= 1
    assert -1 <= record["stop_kappa"] <= 1
    assert 0 <= record["teacher_agreement"] <= 1


def test_learning_curve_plot_and_forecast_read_micro_f1():
    from skakd.callbacks import Scoring
    from skakd.plotting import pick_metric
    from skakd.stopping import LearningCurveForecast

    texts, sets = _texts()
    texts = np.array(texts, dtype=object)
    clf = _fit(texts, sets, sampler=MRARU(batch_size=20), max_iter=5,
               callbacks=[Scoring(texts[200:], sets[200:])])
    assert pick_metric(list(clf.history_)) == "micro_f1"
    forecast = LearningCurveForecast().fit(clf)
    assert 0 <= forecast.accuracy_at(10_000) <= 1.0001
