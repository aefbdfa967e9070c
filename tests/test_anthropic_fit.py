"""Full ActiveDistillationClassifier fits with AnthropicTeacher on a fake API."""

import pickle

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import AnthropicTeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic

pytest.importorskip("anthropic")


@pytest.fixture(scope="module")
def trec():
    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = np.concatenate([np.flatnonzero(y == c)[:5] for c in np.unique(y)])
    pool = np.setdiff1d(np.arange(600), seed)
    truth = dict(zip(X.tolist(), y.tolist()))
    return {"X_seed": X[seed], "y_seed": y[seed], "X_pool": X[pool],
            "X_test": data.X_test[:200], "y_test": data.y_test[:200],
            "truth": truth, "X": X, "y": y}


def student():
    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300))


def test_mraru_fit_pays_once_then_replays_from_the_cache(trec, tmp_path):
    truth = trec["truth"]
    with FakeAnthropic(labeler=lambda text, classes: truth[text]) as server:
        teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
                                   cache=TeacherCache(tmp_path / "c.sqlite"),
                                   batch_size=5, max_concurrency=3, timeout=5)
        clf = ActiveDistillationClassifier(
            student(), teacher=teacher, sampler=MRARU(batch_size=10), max_iter=3,
            random_state=0)
        clf.fit(trec["X_seed"], trec["y_seed"], X_pool=trec["X_pool"])
        paid_requests = server.n_messages

        assert paid_requests == 3 * 2
        rounds = clf.history_[1:]
        assert [r["n_new"] for r in rounds] == [10, 10, 10]
        assert all(r["n_cached"] == 0 and r["teacher_cost"] > 0 for r in rounds)
        assert clf.teacher_cost_ == pytest.approx(sum(r["teacher_cost"] for r in rounds))
        assert all(r["input_tokens"] > 0 for r in rounds)
        assert "test-key" not in repr(clf) and "test-key" not in str(clf.history_)
        assert b"test-key" not in pickle.dumps(clf)
        taught = clf.label_source_ == "teacher"
        assert [truth[x] for x in clf.labeled_X_[taught]] == list(clf.labeled_y_[taught])

        again = ActiveDistillationClassifier(
            student(), teacher=teacher, sampler=MRARU(batch_size=10), max_iter=3,
            random_state=0).fit(trec["X_seed"], trec["y_seed"], X_pool=trec["X_pool"])
        assert server.n_messages == paid_requests  # nothing paid twice
    assert again.teacher_cost_ == 0.0
    assert [r["n_cached"] for r in again.history_[1:]] == [10, 10, 10]
    np.testing.assert_array_equal(again.labeled_y_, clf.labeled_y_)
    np.testing.assert_allclose(again.predict_proba(trec["X_test"]),
                               clf.predict_proba(trec["X_test"]))


def test_pgkd_fit_generates_through_the_fake_api(trec, tmp_path):
    X, y = trec["X"], trec["y"]

    def generator(classes, n_samples, prompt, counter):
        # Real training texts of the requested classes, new ones each call.
        picks = []
        for i in range(n_samples):
            label = classes[(counter + i) % len(classes)]
            rows = np.flatnonzero(y[600:] == label) + 600
            picks.append((X[rows[(counter + i) // len(classes) % len(rows)]], label))
        return picks

    with FakeAnthropic(generator=generator) as server:
        teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
                                   cache=TeacherCache(tmp_path / "c.sqlite"),
                                   timeout=5)
        clf = ActiveDistillationClassifier(
            student(), teacher=teacher, sampler=PGKD(batch_size=12, patience=None),
            max_iter=3, random_state=0)
        clf.fit(trec["X_seed"], trec["y_seed"])
        bodies = server.message_bodies()

    assert len(bodies) == 3
    assert all(b["tool_choice"]["name"] == "write_samples" for b in bodies)
    assert "Student validation report" in bodies[-1]["messages"][0]["content"]
    assert (clf.label_source_ == "generated").sum() > 0
    assert clf.teacher_cost_ > 0
    assert set(clf.labeled_y_) <= set(np.unique(trec["y_seed"]))


def test_max_cost_stops_before_a_round_would_exceed_the_budget(trec):
    truth = trec["truth"]
    with FakeAnthropic(labeler=lambda text, classes: truth[text]) as server:
        teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
                                   cache=None, batch_size=10, timeout=5)
        classes = list(np.unique(trec["y_seed"]))
        one_round = teacher.estimate_cost(10, classes=classes)
        clf = ActiveDistillationClassifier(
            student(), teacher=teacher, sampler=MRARU(batch_size=10), max_iter=50,
            max_cost=2.5 * one_round, random_state=0)
        clf.fit(trec["X_seed"], trec["y_seed"], X_pool=trec["X_pool"])

    assert clf.termination_condition_ == "max_cost"
    assert clf.n_iter_ >= 2
    # The classifier sizes rounds from estimates (the teacher's before any
    # answer, the average cost per item after): a round of longer texts than
    # average may overshoot by a fraction of an item, never by a round.
    per_item = max(r["teacher_cost"] / r["n_queried"] for r in clf.history_[1:])
    assert clf.teacher_cost_ <= clf.max_cost + per_item
    assert clf.max_cost - clf.teacher_cost_ < per_item
    assert clf.teacher_cost_ == pytest.approx(
        sum(r["teacher_cost"] for r in clf.history_[1:]))
