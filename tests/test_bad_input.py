"""Bad input gets a clear error that names the argument and what was expected."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler
from skakd.teachers import OracleTeacher


def clf_for(blobs, **params):
    params.setdefault("teacher", OracleTeacher(blobs["X"], blobs["y"]))
    params.setdefault("random_state", 0)
    return ActiveDistillationClassifier(
        params.pop("estimator", LogisticRegression()), **params)


def test_empty_seed(blobs):
    with pytest.raises(ValueError, match=r"labelled seed\) are empty.*classes="):
        clf_for(blobs).fit(np.empty((0, 6)), [], X_pool=blobs["X_pool"])


def test_one_class_seed(blobs):
    with pytest.raises(ValueError, match="only one class"):
        clf_for(blobs).fit(blobs["X_seed"][:3], [0, 0, 0], X_pool=blobs["X_pool"])


def test_seed_lengths_differ(blobs):
    with pytest.raises(ValueError, match="X has 9 items and y has 8 labels"):
        clf_for(blobs).fit(blobs["X_seed"], blobs["y_seed"][:8])


def test_y_is_none(blobs):
    with pytest.raises(ValueError, match="requires y"):
        clf_for(blobs).fit(blobs["X_seed"], None)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_seed(blobs, bad):
    X = blobs["X_seed"].copy()
    X[0, 0] = bad
    with pytest.raises(ValueError, match="X"):
        clf_for(blobs).fit(X, blobs["y_seed"])


def test_nan_in_pool_names_the_pool(blobs):
    X_pool = blobs["X_pool"].copy()
    X_pool[5, 2] = np.nan
    with pytest.raises(ValueError, match="X_pool"):
        clf_for(blobs).fit(blobs["X_seed"], blobs["y_seed"], X_pool=X_pool)


def test_pool_with_other_feature_count(blobs):
    with pytest.raises(ValueError, match="X_pool has 5 features.*expecting 6"):
        clf_for(blobs).fit(blobs["X_seed"], blobs["y_seed"],
                           X_pool=blobs["X_pool"][:, :5])


def test_empty_pool(blobs):
    with pytest.raises(ValueError, match="X_pool is empty"):
        clf_for(blobs).fit(blobs["X_seed"], blobs["y_seed"], X_pool=np.empty((0, 6)))


def test_text_pool_for_a_numeric_seed(blobs):
    with pytest.raises((TypeError, ValueError), match="X_pool"):
        clf_for(blobs).fit(blobs["X_seed"], blobs["y_seed"], X_pool=["a", "b"])


def test_missing_and_non_text_items(texts):
    X, y = texts
    clf = ActiveDistillationClassifier(teacher=OracleTeacher(X, y))
    with pytest.raises(ValueError, match=r"X_pool contains missing items .* \[1\]"):
        clf.fit(X[:4], y[:4], X_pool=["a b", None, "c"])
    with pytest.raises(TypeError, match="X_pool mixes texts.*item 1 is int"):
        clf.fit(X[:4], y[:4], X_pool=["a b", 3, "c"])
    with pytest.raises(TypeError, match="X is a single str"):
        clf.fit("goal", y[:1])


@pytest.mark.parametrize("answer, error, message", [
    (lambda items: [0] * (len(items) - 1), ValueError, "returned 9 labels for 10 items"),
    (lambda items: None, TypeError, "returned None"),
    (lambda items: "0" * len(items), TypeError, "returned str"),
])
def test_teacher_answers_of_the_wrong_shape(blobs, answer, error, message):
    clf = clf_for(blobs, teacher=answer, sampler=RandomSampler(10))
    with pytest.raises(error, match=message):
        clf.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    assert len(clf.history_) == 1  # the seed student is kept


def test_labels_outside_classes_are_not_learned(blobs):
    clf = clf_for(blobs, teacher=lambda items: ["cat"] * len(items), max_iter=1)
    with pytest.warns(UserWarning, match="outside classes"):
        clf.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    assert clf.history_[-1, "n_rejected"] == 25


def test_seed_labels_outside_classes(blobs):
    with pytest.raises(ValueError, match="not in classes"):
        clf_for(blobs, classes=[0, 1]).fit(blobs["X_seed"], blobs["y_seed"])


@pytest.mark.parametrize("params", [
    {"sampler": MRARU(batch_size=0)},
    {"sampler": RandomSampler(batch_size=-3)},
    {"max_iter": 0},
    {"max_labels": 0},
    {"max_cost": -1.0},
    {"sampler": MRARU(temperature=0)},
    {"sampler": UncertaintySampler(strategy="smallest")},
])
def test_invalid_parameters(blobs, params):
    with pytest.raises(ValueError, match="parameter of|must be"):
        clf_for(blobs, **params).fit(blobs["X_seed"], blobs["y_seed"],
                                     X_pool=blobs["X_pool"])


def test_student_without_predict_proba_for_an_uncertainty_sampler(blobs):
    clf = clf_for(blobs, estimator=LinearSVC(), sampler=MRARU())
    with pytest.raises(TypeError, match="MRARU .* LinearSVC has no predict_proba"):
        clf.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])


def test_student_without_predict_proba_works_with_random_sampling(blobs):
    clf = clf_for(blobs, estimator=LinearSVC(), sampler=RandomSampler(), max_iter=1)
    clf.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    assert not hasattr(clf, "predict_proba")
    assert clf.predict(blobs["X_test"]).shape == (300,)


def test_pool_without_teacher(blobs):
    clf = ActiveDistillationClassifier(LogisticRegression())
    with pytest.raises(ValueError, match="teacher is None"):
        clf.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])


def test_predict_before_fit(blobs):
    with pytest.raises(NotFittedError):
        clf_for(blobs).predict(blobs["X_test"])


def test_predict_with_other_feature_count(blobs):
    clf = clf_for(blobs).fit(blobs["X_seed"], blobs["y_seed"])
    with pytest.raises(ValueError, match="X has 4 features"):
        clf.predict(blobs["X_test"][:, :4])
