"""The teacher's bill is exact: what the library counts is what the server billed.

The fake Messages API keeps its own ledger of every answer it made (billed
even if the client had gone); fits with faults of every kind (retries, late
answers, corrective re-asks, a round that fails) must count the same tokens,
to the token, and the same cost.
"""

import pickle
import warnings
import zlib

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU
from skakd.teachers import PRICES, AnthropicTeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic, Fault, random_faults

anthropic = pytest.importorskip("anthropic")

TOKENS = ("input_tokens", "output_tokens", "cache_write_tokens",
          "cache_read_tokens")
LEDGER = {"input_tokens": "input_tokens", "output_tokens": "output_tokens",
          "cache_write_tokens": "cache_creation_input_tokens",
          "cache_read_tokens": "cache_read_input_tokens"}


def distiller(teacher, max_iter=4):
    student = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300))
    return ActiveDistillationClassifier(student, teacher=teacher,
                                        sampler=MRARU(batch_size=10),
                                        max_iter=max_iter, random_state=0)


def make_teacher(server, tmp_path, **params):
    defaults = dict(base_url=server.base_url, api_key="test-key", batch_size=5,
                    max_concurrency=1, timeout=0.4, max_retries=3,
                    cache=TeacherCache(tmp_path / "cache.sqlite"))
    return AnthropicTeacher(**{**defaults, **params})


def counted(history):
    """The tokens and requests that ``history_`` counts, failed rounds included."""
    records = history[1:]
    totals = {name: sum(r.get(name, 0) for r in records) for name in TOKENS}
    totals["n_requests"] = sum(r.get("n_requests", 0) for r in records)
    return totals


def billed(server):
    totals = {name: server.ledger[key] for name, key in LEDGER.items()}
    totals["n_requests"] = server.ledger["n_billed"]
    return totals


def server_cost(server, model="claude-haiku-4-5"):
    price_in, price_out = PRICES[model]
    ledger = server.ledger
    weighted = (ledger["input_tokens"] + 1.25 * ledger["cache_creation_input_tokens"]
                + 0.1 * ledger["cache_read_input_tokens"])
    return (weighted * price_in + ledger["output_tokens"] * price_out) / 1e6


def test_every_billed_token_is_counted_even_when_the_round_fails(trec400, tmp_path):
    truth = trec400["truth"]
    with FakeAnthropic(labeler=lambda text, classes: truth[text]) as server:
        server.script(
            # round 1: a corrective re-ask, then an answer after the timeout
            # (a second attempt answers first; the late one is billed too)
            Fault(answer="unknown_label"), Fault(), Fault(delay=1.0), Fault(),
            # round 2: a server error retried by the SDK
            Fault(status=500, retry_after=0.01), Fault(), Fault(),
            # round 3: the first batch is paid, the second is refused
            Fault(), Fault(status=400),
        )
        clf = distiller(make_teacher(server, tmp_path))
        with pytest.raises(anthropic.BadRequestError):
            clf.fit(trec400["X_seed"], trec400["y_seed"], X_pool=trec400["X_pool"])
        server.wait_for_messages(len(server.requests))
        ledger = dict(server.ledger)
        # Write-ahead: the failed round's paid batch is in the cache, so the
        # re-run pays only for round 3's second batch and round 4.
        assert len(TeacherCache(tmp_path / "cache.sqlite")) == 25
        sent = server.n_messages
        resumed = distiller(make_teacher(server, tmp_path)).fit(
            trec400["X_seed"], trec400["y_seed"], X_pool=trec400["X_pool"])
        assert server.n_messages - sent == 3 and resumed.n_iter_ == 4
        server.ledger = ledger

    assert clf.termination_condition_ == "error" and clf.n_iter_ == 2
    failed = clf.history_[-1]
    assert failed["error"] == "BadRequestError" and failed["teacher_cost"] > 0
    assert server.ledger["n_billed"] == 7
    assert counted(clf.history_) == billed(server)
    assert clf.teacher_cost_ == pytest.approx(server_cost(server), rel=1e-12)
    assert clf.history_[-1, "teacher_cost_total"] == pytest.approx(clf.teacher_cost_)


def test_faults_change_neither_the_labels_nor_the_student_and_the_bill_is_exact(
        trec400, tmp_path, monkeypatch):
    # The SDK's backoff on a 500 without retry-after is ~0.5 s: shorten it.
    monkeypatch.setattr(anthropic._base_client, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(anthropic._base_client, "MAX_RETRY_DELAY", 0.02)
    truth = trec400["truth"]
    fits = []
    for faults in (False, True):
        with FakeAnthropic(labeler=lambda text, classes: truth[text]) as server:
            if faults:
                server.script(*random_faults(np.random.default_rng(3), 200,
                                             not_json=True))
            teacher = make_teacher(server, tmp_path / str(faults),
                                   max_concurrency=2, timeout=0.3)
            clf = distiller(teacher).fit(trec400["X_seed"], trec400["y_seed"],
                                         X_pool=trec400["X_pool"])
            assert counted(clf.history_) == billed(server)
            assert clf.teacher_cost_ == pytest.approx(server_cost(server))
        fits.append(clf)
    clean, faulty = fits
    assert sum(faulty.history_[1:, "n_api_retries"]) > 0
    np.testing.assert_array_equal(faulty.labeled_X_, clean.labeled_X_)
    np.testing.assert_array_equal(faulty.labeled_y_, clean.labeled_y_)
    np.testing.assert_allclose(faulty.predict_proba(trec400["X_pool"]),
                               clean.predict_proba(trec400["X_pool"]))


@pytest.mark.parametrize("key_from", ["argument", "environment"])
def test_a_pickled_error_never_carries_the_api_key(tmp_path, monkeypatch, key_from):
    secret = "sk-ant-very-secret-key"
    with FakeAnthropic(api_key=secret) as server:
        server.script(Fault(status=400))
        if key_from == "environment":
            monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
        teacher = make_teacher(server, tmp_path, cache=None,
                               api_key=secret if key_from == "argument" else None)
        with pytest.raises(anthropic.BadRequestError) as info:
            teacher.label(["where is my parcel"], ["a", "b"])
    data = pickle.dumps(info.value)
    assert secret.encode() not in data
    restored = pickle.loads(data)
    assert isinstance(restored, anthropic.BadRequestError)
    assert secret not in str(restored.request.headers)


def test_unlabelable_items_are_counted_per_reason_warned_once_and_never_paid_again(
        trec400, tmp_path):
    truth = trec400["truth"]
    bad = {t for t in trec400["X_pool"] if zlib.crc32(t.encode()) % 5 == 0}

    def labeler(text, classes):
        return "NOT_A_CLASS" if text in bad else truth[text]

    with FakeAnthropic(labeler=labeler) as server:
        teacher = make_teacher(server, tmp_path, max_concurrency=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = distiller(teacher).fit(trec400["X_seed"], trec400["y_seed"],
                                         X_pool=trec400["X_pool"])
        sent = server.n_messages
        with pytest.warns(UserWarning, match="could not label"):
            again = distiller(teacher).fit(trec400["X_seed"], trec400["y_seed"],
                                           X_pool=trec400["X_pool"])
        assert server.n_messages == sent  # the bad items are not paid again

    unlabeled = [str(w.message) for w in caught
                 if "could not label" in str(w.message)]
    assert len(unlabeled) == 1
    counts = clf.history_[1:, "n_unlabeled"]
    assert sum(counts) > 0
    assert clf.history_[1:, "n_unlabeled_unknown_label"] == counts
    assert not bad & set(clf.labeled_X_)
    assert all(r["n_new"] + r["n_unlabeled"] == 10 for r in clf.history_[1:])
    # Kept out of the pool: each round asks about 10 new items.
    assert sum(clf.history_[1:, "n_queried"]) == 40
    np.testing.assert_array_equal(again.labeled_X_, clf.labeled_X_)
    assert again.history_[1:, "n_unlabeled"] == counts
