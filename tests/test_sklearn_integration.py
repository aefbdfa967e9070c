"""Pipelines, cross-validation, grid search, cloning and persistence."""

import threading
import warnings

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import Pipeline

from skakd import ActiveDistillationClassifier, Pool
from skakd.sampling import MRARU, RandomSampler
from skakd.teachers import OracleTeacher


@pytest.fixture
def equal_length(blobs):
    """A seed and a pool of exactly the same length: the case CV would slice."""
    X_seed = np.concatenate([blobs["X_seed"], blobs["X_pool"][:51]])
    y_seed = np.concatenate([blobs["y_seed"], blobs["y_pool"][:51]])
    X_pool = blobs["X_pool"][100:160]
    assert len(X_pool) == len(X_seed) == 60
    return X_seed, y_seed, X_pool


def distiller(blobs, **params):
    return ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(blobs["X"], blobs["y"]),
        sampler=RandomSampler(batch_size=10), random_state=0, **params)


def test_cross_validation_keeps_the_pool_whole(blobs, equal_length):
    X_seed, y_seed, X_pool = equal_length
    result = cross_validate(
        distiller(blobs, max_iter=6), X_seed, y_seed, cv=3,
        params={"X_pool": Pool(X_pool)}, return_estimator=True,
    )
    for fold in result["estimator"]:
        assert (fold.label_source_ == "teacher").sum() == 60
        assert fold.termination_condition_ == "max_iter"


def test_an_unwrapped_pool_of_seed_length_warns(blobs, equal_length):
    X_seed, y_seed, X_pool = equal_length
    with pytest.warns(UserWarning, match="skakd.Pool"):
        distiller(blobs, max_iter=1).fit(X_seed, y_seed, X_pool=X_pool)


def test_grid_search_over_sampler_settings(blobs, equal_length):
    X_seed, y_seed, X_pool = equal_length
    grid = {"sampler": [MRARU(), RandomSampler()], "sampler__batch_size": [10, 25]}
    search = GridSearchCV(distiller(blobs, max_iter=2), grid, cv=StratifiedKFold(3))
    search.fit(X_seed, y_seed, X_pool=Pool(X_pool))
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_
    assert best.sampler_.batch_size == search.best_params_["sampler__batch_size"]
    assert (best.label_source_ == "teacher").sum() == 2 * best.sampler_.batch_size


def test_grid_search_with_metadata_routing(blobs, equal_length):
    X_seed, y_seed, X_pool = equal_length
    with sklearn.config_context(enable_metadata_routing=True):
        clf = distiller(blobs, max_iter=2).set_fit_request(X_pool=True)
        search = GridSearchCV(clf, {"max_iter": [1, 2]}, cv=3)
        search.fit(X_seed, y_seed, X_pool=Pool(X_pool))
        assert search.best_estimator_.n_iter_ == search.best_params_["max_iter"]


def test_as_a_pipeline_step(blobs):
    pipe = Pipeline([("distil", distiller(blobs, max_iter=2))])
    pipe.fit(blobs["X_seed"], blobs["y_seed"], distil__X_pool=blobs["X_pool"])
    assert pipe.named_steps["distil"].history_[-1, "n_labeled"] == 29
    assert pipe.predict(blobs["X_test"]).shape == (300,)


def test_clone_and_nested_set_params(blobs):
    clf = distiller(blobs, max_iter=2).fit(blobs["X_seed"], blobs["y_seed"],
                                           X_pool=blobs["X_pool"])
    copy = clone(clf)
    assert not hasattr(copy, "estimator_")
    assert copy.teacher is clf.teacher  # teachers are shared services
    copy.set_params(sampler__batch_size=7, estimator__C=0.5)
    assert copy.get_params()["sampler__batch_size"] == 7
    copy.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    assert copy.history_[:, "n_queried"] == [0, 7, 7]
    assert copy.estimator_.C == 0.5


def test_joblib_round_trip_predicts_identically(blobs, tmp_path):
    clf = distiller(blobs, max_iter=3).fit(blobs["X_seed"], blobs["y_seed"],
                                           X_pool=blobs["X_pool"])
    joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(blobs["X_test"]),
                                  clf.predict_proba(blobs["X_test"]))
    assert loaded.history_ == clf.history_
    assert isinstance(loaded.teacher, OracleTeacher)


class _LockedTeacher:
    """A teacher holding a lock: no pickler can carry it."""

    def __init__(self, oracle):
        self.oracle, self.lock = oracle, threading.Lock()

    def label(self, items, classes):
        with self.lock:
            return self.oracle.label(items, classes)


def test_a_function_teacher_survives_joblib_dump(blobs, tmp_path):
    oracle = OracleTeacher(blobs["X"], blobs["y"])
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=lambda items: oracle(items, [0, 1, 2]),
        max_iter=2, random_state=0,
    ).fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    refit = loaded.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    assert refit.labeled_y_.tolist() == clf.labeled_y_.tolist()


def test_verbose_fit_pickles(blobs, tmp_path):
    clf = distiller(blobs, max_iter=2, verbose=1).fit(
        blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict(blobs["X_test"]),
                                  clf.predict(blobs["X_test"]))


def test_grid_search_in_worker_processes_with_a_function_teacher(blobs):
    oracle = OracleTeacher(blobs["X"], blobs["y"])
    search = GridSearchCV(
        ActiveDistillationClassifier(
            LogisticRegression(), teacher=lambda items: oracle(items, [0, 1, 2]),
            sampler=RandomSampler(batch_size=10), random_state=0),
        {"max_iter": [1, 3]}, cv=2, n_jobs=2, error_score="raise",
    ).fit(blobs["X_seed"], blobs["y_seed"], X_pool=Pool(blobs["X_pool"]))
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    assert best.n_iter_ == search.best_params_["max_iter"]
    # The function teacher, sent by value, answered as the oracle does.
    taught = best.label_source_ == "teacher"
    assert taught.sum() == 10 * best.n_iter_
    np.testing.assert_array_equal(
        best.labeled_y_[taught], blobs["y_pool"][best.labeled_pool_index_[taught]])


def test_an_unpicklable_teacher_is_dropped_not_fatal(blobs, tmp_path):
    clf = ActiveDistillationClassifier(
        LogisticRegression(),
        teacher=_LockedTeacher(OracleTeacher(blobs["X"], blobs["y"])),
        max_iter=2, random_state=0,
    ).fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    with pytest.warns(UserWarning, match="cannot be pickled"):
        joblib.dump(clf, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    assert loaded.teacher is None and clf.teacher is not None
    np.testing.assert_array_equal(loaded.predict(blobs["X_test"]),
                                  clf.predict(blobs["X_test"]))
    with pytest.raises(ValueError, match="set_params\\(teacher=...\\)"):
        loaded.fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
