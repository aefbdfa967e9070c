"""Dask backend: a local 2-worker cluster gives the single-process results."""

import os

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier
from skakd.features import precompute_features
from skakd.parallel import dask_backend, map_chunks, predict_in_chunks
from skakd.pools import NpyPool
from skakd.sampling import UncertaintySampler

distributed = pytest.importorskip("distributed")
joblib = pytest.importorskip("joblib")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, worker_dashboard_address=None,
    )
    with distributed.Client(cluster) as dask_client:
        yield dask_client
    cluster.close()


def test_cluster_is_local_with_two_workers(client):
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    assert all(address.startswith("tcp://127.0.0.1:") for address in workers)


def test_predictions_and_selection_match_single_process(client, blobs, tmp_path):
    X = blobs["X"]
    np.save(tmp_path / "X.npy", X)
    pool = NpyPool(tmp_path / "X.npy")
    student = LogisticRegression().fit(blobs["X_seed"], blobs["y_seed"])
    sampler = UncertaintySampler(batch_size=10, chunk_size=100)
    candidates = np.arange(10, len(X))
    expected_proba = predict_in_chunks(student, X, "predict_proba", chunk_size=100)
    expected_choice = sampler.select(student, X, candidates, 10, random_state=0)
    with joblib.parallel_backend("dask"):
        for data in (X, pool):
            np.testing.assert_array_equal(
                predict_in_chunks(student, data, "predict_proba", chunk_size=100),
                expected_proba,
            )
            np.testing.assert_array_equal(
                sampler.select(student, data, candidates, 10, random_state=0),
                expected_choice,
            )


def _pid(rows):
    return os.getpid()


def test_chunks_run_on_the_workers(client):
    worker_pids = set(client.run(os.getpid).values())
    with joblib.parallel_backend("dask"):
        pids = set(map_chunks(_pid, np.zeros((40, 1)),
                              [slice(b, b + 5) for b in range(0, 40, 5)]))
    assert pids <= worker_pids and os.getpid() not in pids


def test_precompute_features_on_cluster(client, texts, tmp_path):
    from sklearn.feature_extraction.text import HashingVectorizer

    X, _ = texts
    embedder = HashingVectorizer(n_features=32)
    local = precompute_features(embedder, X, tmp_path / "local.npy", chunk_size=60)
    with dask_backend(client):
        remote = precompute_features(embedder, X, tmp_path / "dask.npy",
                                     chunk_size=60)
    np.testing.assert_array_equal(remote[:], local[:])


def _pid_teacher(calls):
    def teacher(items):
        calls.append((os.getpid(), len(items)))
        return [int(row[0] > 0) for row in items]
    return teacher


def test_teacher_is_called_from_the_driver_only(client, blobs):
    X_pool = blobs["X_pool"]
    X_seed = np.vstack([X_pool[X_pool[:, 0] > 0][:3], X_pool[X_pool[:, 0] <= 0][:3]])
    y_seed = (X_seed[:, 0] > 0).astype(int)
    fits = {}
    for backend in ("sequential", "dask"):
        calls = []
        clf = ActiveDistillationClassifier(
            LogisticRegression(), teacher=_pid_teacher(calls),
            sampler=UncertaintySampler(batch_size=7, chunk_size=50),
            max_iter=3, random_state=0,
        )
        with joblib.parallel_backend(backend):
            clf.fit(X_seed, y_seed, X_pool=X_pool)
        assert calls == [(os.getpid(), 7)] * 3  # once per round, here, no repeats
        fits[backend] = clf
    np.testing.assert_array_equal(fits["dask"].labeled_pool_index_,
                                  fits["sequential"].labeled_pool_index_)
