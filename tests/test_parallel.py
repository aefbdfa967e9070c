"""Chunked, joblib-backed prediction, scoring and feature precomputation."""

import os
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd.features import precompute_features, read_manifest
from skakd.parallel import dask_backend, map_chunks, predict_in_chunks
from skakd.pools import NpyPool
from skakd.sampling import MRARU, UncertaintySampler


@pytest.fixture
def student(blobs):
    return LogisticRegression().fit(blobs["X_seed"], blobs["y_seed"])


@pytest.mark.parametrize("method", ["predict", "predict_proba",
                                    "predict_log_proba", "decision_function"])
def test_predict_in_chunks_matches_one_call(blobs, student, method):
    X = blobs["X"]
    expected = getattr(student, method)(X)
    np.testing.assert_array_equal(
        predict_in_chunks(student, X, method, chunk_size=77), expected
    )


def test_predict_in_chunks_in_processes_and_into_memmap(blobs, student, tmp_path):
    X = blobs["X"]
    np.save(tmp_path / "X.npy", X)
    pool = NpyPool(tmp_path / "X.npy")
    out = np.lib.format.open_memmap(tmp_path / "proba.npy", mode="w+",
                                    dtype=np.float64, shape=(len(X), 3))
    result = predict_in_chunks(student, pool, "predict_proba", chunk_size=100,
                               n_jobs=2, out=out)
    assert result is out
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"),
                                  student.predict_proba(X))


def test_predict_in_chunks_on_texts(texts):
    X, y = texts
    student = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X, y)
    np.testing.assert_array_equal(
        predict_in_chunks(student, list(X), chunk_size=50), student.predict(X)
    )


def test_predict_in_chunks_errors(student, blobs):
    with pytest.raises(ValueError, match="method='fit'"):
        predict_in_chunks(student, blobs["X"], "fit")
    with pytest.raises(ValueError, match="chunk_size=0"):
        predict_in_chunks(student, blobs["X"], chunk_size=0)
    with pytest.raises(ValueError, match="out has 3 rows; expected 900"):
        predict_in_chunks(student, blobs["X"], out=np.empty(3))


def test_map_chunks_is_lazy_and_ordered():
    X = np.arange(100).reshape(50, 2)
    chunks = [np.arange(b, b + 10)[::-1] for b in range(0, 50, 10)]
    results = map_chunks(np.sum, X, chunks, n_jobs=2)
    assert not isinstance(results, list)
    assert list(results) == [X[c].sum() for c in chunks]


def test_uncertainty_sampler_selection_does_not_depend_on_n_jobs(blobs, student):
    candidates = np.arange(0, len(blobs["X_pool"]), 3)
    for strategy in ("least_confidence", "margin"):
        chosen = [
            UncertaintySampler(batch_size=12, chunk_size=40, n_jobs=n_jobs,
                               strategy=strategy)
            .select(student, blobs["X_pool"], candidates, 12, random_state=0)
            for n_jobs in (None, 2)
        ]
        np.testing.assert_array_equal(chosen[0], chosen[1])


class _CountingTransformer(TransformerMixin, BaseEstimator):
    """Wraps a fitted transformer; counts rows and fails after ``fail_after``."""

    def __init__(self, transformer, fail_after=None):
        self.transformer = transformer
        self.fail_after = fail_after

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        self.calls_ = getattr(self, "calls_", 0) + 1
        if self.fail_after is not None and self.calls_ > self.fail_after:
            raise RuntimeError("worker lost")
        return self.transformer.transform(X)


def test_precompute_features_writes_file_and_manifest(texts, tmp_path):
    X, _ = texts
    embedder = make_pipeline(HashingVectorizer(n_features=256),
                             TruncatedSVD(16, random_state=0)).fit(X)
    path = tmp_path / "emb.npy"
    pool = precompute_features(embedder, X, path, dtype="float16", chunk_size=50)
    np.testing.assert_array_equal(
        np.load(path), embedder.transform(X).astype(np.float16)
    )
    assert isinstance(pool, NpyPool) and pool.shape == (len(X), 16)
    manifest = read_manifest(path)
    assert manifest["n_features"] == 16 and manifest["n_rows"] == len(X)
    assert manifest["n_rows_done"] == len(X) and manifest["dtype"] == "float16"
    # Features are reused as a numeric pool.
    student = LogisticRegression().fit(pool[:40], texts[1][:40])
    assert len(MRARU(5).select(student, pool, np.arange(40, len(X)), 5, 0)) == 5


def test_precompute_features_resumes_after_interruption(texts, tmp_path):
    X, _ = texts
    embedder = make_pipeline(HashingVectorizer(n_features=64),
                             TruncatedSVD(8, random_state=0)).fit(X)
    path = tmp_path / "emb.npy"
    with pytest.raises(RuntimeError, match="worker lost"):
        precompute_features(_CountingTransformer(embedder, fail_after=2), X, path,
                            chunk_size=50, model="svd8")
    assert read_manifest(path)["n_rows_done"] == 100
    resumed = _CountingTransformer(embedder)
    precompute_features(resumed, X, path, chunk_size=50, model="svd8")
    assert resumed.calls_ == 3  # rows 100..240 only
    np.testing.assert_array_equal(
        np.load(path), embedder.transform(X).astype(np.float32)
    )
    again = _CountingTransformer(embedder)
    precompute_features(again, X, path, chunk_size=50, model="svd8")
    assert not hasattr(again, "calls_")  # complete: nothing recomputed
    with pytest.raises(ValueError, match="holds features made with"):
        precompute_features(embedder, X, path, chunk_size=50, model="other")


def test_precompute_features_refuses_foreign_files(texts, tmp_path):
    X, _ = texts
    path = tmp_path / "mine.npy"
    np.save(path, np.zeros((2, 2)))
    with pytest.raises(FileExistsError, match="has no manifest"):
        precompute_features(HashingVectorizer(n_features=4), X, path)
    with pytest.raises(ValueError, match="dtype=int64"):
        precompute_features(HashingVectorizer(), X, tmp_path / "x.npy", dtype="int64")


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"skakd\[distributed\]"):
        with dask_backend():
            pass


def test_classifier_serves_large_inputs_in_parallel_chunks(blobs):
    from sklearn.linear_model import LogisticRegression

    from skakd import ActiveDistillationClassifier

    clf = ActiveDistillationClassifier(LogisticRegression(), n_jobs=2).fit(
        blobs["X_seed"], blobs["y_seed"])
    X_big = np.tile(blobs["X_test"], (80, 1))  # 24,000 rows: over one chunk
    np.testing.assert_array_equal(clf.predict(X_big), clf.estimator_.predict(X_big))
    np.testing.assert_allclose(clf.predict_proba(X_big),
                               clf.estimator_.predict_proba(X_big))


_UNPICKLED = []  # one entry per time this process unpickled a _LoadCounter


class _LoadCounter(BaseEstimator):
    """Predicts (process id, how often the process has unpickled one) per row."""

    def __init__(self, tag=0):
        self.tag = tag

    def __setstate__(self, state):
        _UNPICKLED.append(1)
        self.__dict__.update(state)

    def predict(self, X):
        return np.array([(os.getpid(), len(_UNPICKLED))] * len(X))


def _loads_by_process(predictions):
    loads = {}
    for pid, count in predictions:
        loads.setdefault(pid, set()).add(count)
    return loads


def test_workers_unpickle_the_estimator_once_per_model():
    # A model that loads something on first use (a static embedder's table)
    # must not pay that in every task: each worker unpickles it once, even
    # across calls, and again only for another model.
    X, model = np.zeros((400, 1)), _LoadCounter()
    same = np.vstack([predict_in_chunks(model, X, chunk_size=10, n_jobs=2)
                      for _ in range(2)])
    loads = _loads_by_process(same)
    assert all(len(counts) == 1 for counts in loads.values())
    other = predict_in_chunks(_LoadCounter(tag=1), X, chunk_size=10, n_jobs=2)
    for pid, counts in _loads_by_process(other).items():
        assert len(counts) == 1
        assert pid not in loads or counts.pop() > loads[pid].pop()
