"""Fits in joblib worker processes: the teacher travels with the estimator.

``GridSearchCV(n_jobs=2)`` and ``cross_validate(n_jobs=2)`` pickle the
estimator into worker processes; a function teacher, an ``OracleTeacher``
and an ``AnthropicTeacher`` (on the local fake API, one shared cache) must
arrive and give the same results as fits in this process.
"""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier, Pool
from skakd.datasets import load_dataset
from skakd.sampling import RandomSampler
from skakd.teachers import OracleTeacher


def _distiller(teacher, estimator=None, **params):
    return ActiveDistillationClassifier(
        estimator or LogisticRegression(), teacher=teacher,
        sampler=RandomSampler(batch_size=10), random_state=0, **params)


def _same_results(search_parallel, search_serial):
    for key in ("mean_test_score", "params"):
        assert list(search_parallel.cv_results_[key]) == list(
            search_serial.cv_results_[key])


@pytest.mark.parametrize("kind", ["oracle", "lambda"])
def test_grid_search_in_two_workers_equals_one_process(blobs, kind):
    oracle = OracleTeacher(blobs["X"], blobs["y"])
    teacher = oracle if kind == "oracle" else (lambda items: oracle(items, [0, 1, 2]))
    searches = [
        GridSearchCV(_distiller(teacher), {"max_iter": [1, 4]}, cv=3,
                     n_jobs=n_jobs, error_score="raise").fit(
            blobs["X_seed"], blobs["y_seed"], X_pool=Pool(blobs["X_pool"]))
        for n_jobs in (1, 2)
    ]
    _same_results(*searches)
    assert searches[1].best_estimator_.n_iter_ == searches[1].best_params_["max_iter"]


def test_cross_validate_in_two_workers_with_a_closure(blobs):
    truth = dict(zip(map(tuple, blobs["X"].round(12)), blobs["y"]))

    def teacher(rows):  # a closure over a dict: not picklable by reference
        return [truth[tuple(row.round(12))] for row in rows]

    results = [
        cross_validate(_distiller(teacher, max_iter=3), blobs["X_seed"],
                       blobs["y_seed"], cv=3, n_jobs=n_jobs,
                       params={"X_pool": Pool(blobs["X_pool"])},
                       return_estimator=True, error_score="raise")
        for n_jobs in (1, 2)
    ]
    np.testing.assert_array_equal(results[0]["test_score"], results[1]["test_score"])
    for fold in results[1]["estimator"]:
        assert fold.n_iter_ == 3 and fold.teacher is not None


def test_grid_search_with_claude_on_the_fake_api_and_one_shared_cache(
        tmp_path, monkeypatch):
    pytest.importorskip("anthropic")
    from joblib.externals.loky import get_reusable_executor

    from skakd.teachers import AnthropicTeacher, TeacherCache
    from skakd.teachers.testing import FakeAnthropic

    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = np.concatenate([np.flatnonzero(y == c)[:4] for c in np.unique(y)])
    pool = np.setdiff1d(np.arange(400), seed)
    truth = dict(zip(X.tolist(), y.tolist()))
    # The key is never pickled: workers read it from the environment, as
    # they would in production. Fresh workers, so that they see this one.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    get_reusable_executor().shutdown(wait=True)
    with FakeAnthropic(labeler=lambda text, classes: truth[text]) as server:
        teacher = AnthropicTeacher(base_url=server.base_url,
                                   cache=TeacherCache(tmp_path / "cache.sqlite"),
                                   batch_size=10, timeout=10)
        student = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300))
        search = GridSearchCV(
            _distiller(teacher, student, max_iter=2),
            {"sampler__batch_size": [5, 10]}, cv=2, n_jobs=2, error_score="raise",
        ).fit(X[seed], y[seed], X_pool=Pool(X[pool]))
        assert server.n_messages > 0  # the workers reached the API
        best = search.best_estimator_
        taught = best.label_source_ == "teacher"
        assert taught.sum() == 2 * search.best_params_["sampler__batch_size"]
        assert [truth[x] for x in best.labeled_X_[taught]] == list(
            best.labeled_y_[taught])
        assert best.teacher.cache.path == teacher.cache.path
