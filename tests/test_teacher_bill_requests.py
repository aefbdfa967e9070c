"""What goes out to the teacher: each text once, in requests of equal size."""

import warnings

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.sampling import RandomSampler
from skakd.teachers import AnthropicTeacher
from skakd.teachers.testing import FakeAnthropic

pytest.importorskip("anthropic")

CLASSES = ["billing", "delivery", "refund"]


def texts(n, start=0):
    return [f"question {i} about {CLASSES[i % 3]}" for i in range(start, start + n)]


def distil(server, seed, pool, batch_size=25, teacher_batch=20, max_iter=2):
    teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
                               cache=None, batch_size=teacher_batch,
                               max_concurrency=1)
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(), LogisticRegression()), teacher=teacher,
        sampler=RandomSampler(batch_size=batch_size), max_iter=max_iter,
        random_state=0)
    X_seed = np.array(seed, dtype=object)
    y_seed = np.array([t.rsplit(" ", 1)[1] for t in seed])
    return clf.fit(X_seed, y_seed, X_pool=np.array(pool, dtype=object))


def sent_items(server):
    return [body["messages"][0]["content"].count('<item id="')
            for body in server.message_bodies()]


def test_a_round_goes_out_in_requests_of_equal_size():
    with FakeAnthropic() as server:
        distil(server, texts(6), texts(200, start=6))
        assert sent_items(server) == [13, 12, 13, 12]


def test_repeated_pool_texts_and_seed_texts_are_not_paid_for():
    seed = texts(6)
    pool = texts(10, start=6) * 4 + seed  # every text four times, the seed once
    with FakeAnthropic(labeler=lambda text, classes: classes[0]) as server:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = distil(server, seed, pool, batch_size=20, max_iter=3)
        sent = [t for body in server.message_bodies()
                for t in body["messages"][0]["content"].split('<item id="')[1:]]

    assert len(sent) == len(set(sent)) <= 10  # each pool text asked once at most
    assert not any(s.split(">", 1)[1].startswith(tuple(seed)) for s in sent)
    rounds = clf.history_[1:]
    n_copies = sum(r["n_duplicates"] + r["n_seed_duplicates"] for r in rounds)
    assert n_copies == sum(r["n_queried"] for r in rounds) - len(sent)
    assert sum(r["n_seed_duplicates"] for r in rounds) > 0
    # Copies take the answer (the fake says "billing"), seed copies the seed's.
    taught = clf.label_source_ == "teacher"
    for text, label in zip(clf.labeled_X_[taught], clf.labeled_y_[taught]):
        assert label == (text.rsplit(" ", 1)[1] if text in seed else "billing")
    duplicates = [w for w in caught if "repeats texts" in str(w.message)]
    assert len(duplicates) == 1
