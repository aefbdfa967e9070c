"""A fit killed mid-way resumes from the cache and pays nothing twice."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import AnthropicTeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic

pytest.importorskip("anthropic")

MAX_ITER = 6
TESTS = Path(__file__).resolve().parent


def _data():
    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = np.concatenate([np.flatnonzero(y == c)[:4] for c in np.unique(y)])
    pool = np.setdiff1d(np.arange(400), seed)
    return X[seed], y[seed], X[pool], dict(zip(X.tolist(), y.tolist()))


def run_fit(base_url, cache_path):
    """The fit under test, the same in the killed child and in this process."""
    X_seed, y_seed, X_pool, _ = _data()
    teacher = AnthropicTeacher(base_url=base_url, api_key="test-key",
                               cache=TeacherCache(cache_path), batch_size=10,
                               max_concurrency=1, timeout=10)
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300)),
        teacher=teacher, sampler=MRARU(batch_size=10), max_iter=MAX_ITER,
        random_state=0)
    return clf.fit(X_seed, y_seed, X_pool=X_pool)


def _wait_for_answers(server, n, child, timeout=120):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return server.wait_for_messages(n, timeout=0.5)
        except TimeoutError:
            if child.poll() is not None:
                pytest.fail("the child fit exited early: "
                            + child.stderr.read().decode()[-2000:])
            if time.monotonic() > deadline:
                raise


def test_a_killed_fit_resumes_from_the_cache_without_paying_twice(tmp_path):
    truth = _data()[3]
    with FakeAnthropic(labeler=lambda text, classes: truth[text]) as server:
        reference = run_fit(server.base_url, tmp_path / "uninterrupted.sqlite")
        n_rounds = server.n_messages
        assert n_rounds == MAX_ITER  # one request per round

        server.latency = 0.3  # slow answers, so the kill lands mid-fit
        start = server.n_messages
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]))
        child = subprocess.Popen(
            [sys.executable, "-c",
             "import sys, test_resume; test_resume.run_fit(*sys.argv[1:])",
             server.base_url, str(tmp_path / "resumed.sqlite")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_for_answers(server, start + 3, child)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        paid_before_kill = server.n_messages - start
        n_items = len(TeacherCache(tmp_path / "resumed.sqlite"))
        assert n_items % 10 == 0  # answers are cached item by item
        n_saved = n_items // 10  # rounds saved, one request of 10 each
        assert 2 <= n_saved <= paid_before_kill < MAX_ITER

        server.latency = 0.0
        start = server.n_messages
        resumed = run_fit(server.base_url, tmp_path / "resumed.sqlite")
        n_new = server.n_messages - start

    assert n_new == n_rounds - n_saved  # zero requests for the rounds done
    replayed = resumed.history_[1 : n_saved + 1]
    assert all(r["n_cached"] == r["n_queried"] == 10 for r in replayed)
    assert all(r["teacher_cost"] == 0 for r in replayed)
    assert all(r["n_cached"] == 0 for r in resumed.history_[n_saved + 1 :])
    np.testing.assert_array_equal(resumed.labeled_y_, reference.labeled_y_)
    np.testing.assert_array_equal(resumed.labeled_pool_index_,
                                  reference.labeled_pool_index_)
    X_test = load_dataset("trec").X_test[:100]
    np.testing.assert_allclose(resumed.predict_proba(X_test),
                               reference.predict_proba(X_test))
