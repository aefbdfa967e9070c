"""OpenAITeacher through the real ``openai`` SDK against a fake server on
127.0.0.1 that keeps its own ledger: every way of asking for an answer, the
faults a server has, the exact bill, the cache, batches and secrets."""

import multiprocessing
import os
import pickle
import signal

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD, GenerationRequest
from skakd.sampling import MRARU
from skakd.teachers import OpenAITeacher, TeacherCache
from skakd.teachers.openai import MODES, OPENAI_PRICES
from skakd.teachers.testing import FakeOpenAI, Fault, default_labeler, random_faults

openai = pytest.importorskip("openai")

CLASSES = ["billing", "delivery", "refund", "account"]
TEXTS = [f"question {i} about my {CLASSES[i % 4]}" for i in range(45)]
MODEL = "gpt-4.1-mini"


def make_teacher(server, **params):
    return OpenAITeacher(**{"model": MODEL, "base_url": server.base_url,
                            "api_key": "test-key", "cache": None,
                            "batch_size": 20, **params})


def server_cost(server, model=MODEL, prefix=""):
    price_in, cached, price_out = OPENAI_PRICES[model]
    ledger = server.ledger
    fresh = ledger[prefix + "prompt_tokens"] - ledger[prefix + "cached_tokens"]
    return (fresh * price_in + ledger[prefix + "cached_tokens"] * cached
            + ledger[prefix + "completion_tokens"] * price_out) / 1e6


def distiller(teacher, max_iter=4):
    student = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300))
    return ActiveDistillationClassifier(student, teacher=teacher,
                                        sampler=MRARU(batch_size=10),
                                        max_iter=max_iter, random_state=0)


@pytest.mark.parametrize("supports, way", [
    (("json_schema", "tool", "json_object"), "json_schema"),
    (("tool", "json_object"), "tool"),
    (("json_object",), "json_object"),
    ((), "text"),
])
def test_the_teacher_finds_the_way_the_server_answers_and_keeps_it(supports, way):
    with FakeOpenAI(supports=supports) as server:
        teacher = make_teacher(server)
        result = teacher.label(TEXTS, CLASSES)
        assert teacher.structured_output_ == way
        rejected = server.n_completions - result.info["n_requests"]
        again = teacher.label([t + "!" for t in TEXTS[:5]], CLASSES)
        # Each unsupported way is refused once (a 400 is not billed), then kept.
        assert server.n_completions == 4 + rejected
    assert rejected == MODES.index(way)
    assert result.labels == [default_labeler(t, CLASSES) for t in TEXTS]
    assert again.n_unlabeled == 0
    assert server.ledger["n_billed"] == 4


def test_a_fixed_way_the_server_rejects_fails_with_a_note():
    with FakeOpenAI(supports=("tool",)) as server:
        teacher = make_teacher(server, structured_output="json_schema")
        with pytest.raises(openai.BadRequestError) as info:
            teacher.label(TEXTS[:3], CLASSES)
    assert "rejected (400)" in "".join(info.value.__notes__)


def test_faults_change_neither_the_labels_nor_the_student_and_the_bill_is_exact(
        trec400, tmp_path, monkeypatch):
    # The SDK's backoff on a 500 without retry-after is ~0.5 s: shorten it.
    monkeypatch.setattr(openai._base_client, "INITIAL_RETRY_DELAY", 0.01)
    monkeypatch.setattr(openai._base_client, "MAX_RETRY_DELAY", 0.02)
    truth = trec400["truth"]
    fits, met = [], set()
    for seed in (None, *range(10)):
        with FakeOpenAI(labeler=lambda text, classes: truth[text]) as server:
            script = [] if seed is None else random_faults(
                np.random.default_rng(seed), 200, overloaded=503, not_json=True)
            server.script(*script)
            teacher = make_teacher(server, batch_size=3, max_concurrency=2,
                                   timeout=0.3, max_retries=3,
                                   cache=TeacherCache(tmp_path / f"{seed}.sqlite"))
            clf = distiller(teacher).fit(trec400["X_seed"], trec400["y_seed"],
                                         X_pool=trec400["X_pool"])
            history = clf.history_
            assert sum(r["input_tokens"] + r["cache_read_tokens"]
                       for r in history[1:]) == server.ledger["prompt_tokens"]
            assert sum(history[1:, "output_tokens"]) == (
                server.ledger["completion_tokens"])
            assert sum(history[1:, "n_requests"]) == server.ledger["n_billed"]
            assert clf.teacher_cost_ == pytest.approx(server_cost(server))
            met.update(repr(f) for f in script[:server.n_completions])
        fits.append(clf)
    clean, *faulty = fits
    # Every kind of fault was met: the 7 of the transport and the 2 answers.
    assert len(met - {repr(Fault())}) == 8
    for fit in faulty:
        np.testing.assert_array_equal(fit.labeled_X_, clean.labeled_X_)
        np.testing.assert_array_equal(fit.labeled_y_, clean.labeled_y_)
        np.testing.assert_allclose(fit.predict_proba(trec400["X_pool"]),
                                   clean.predict_proba(trec400["X_pool"]))


def test_a_body_that_is_not_json_is_retried_and_not_billed():
    with FakeOpenAI() as server:
        server.script(Fault(answer="not_json"), Fault(answer="not_json"))
        result = make_teacher(server, max_retries=3).label(TEXTS[:4], CLASSES)
        assert server.n_completions == 3 and server.ledger["n_billed"] == 1
    assert result.labels == [default_labeler(t, CLASSES) for t in TEXTS[:4]]
    assert result.info["n_api_retries"] == 2 and result.info["n_requests"] == 1


def test_unreadable_answers_past_the_retries_fail_with_a_resume_hint():
    with FakeOpenAI() as server:
        server.script(*[Fault(answer="not_json")] * 3)
        with pytest.raises(Exception, match="could not be read") as info:
            make_teacher(server, max_retries=2).label(TEXTS[:4], CLASSES)
    assert "resumes without paying" in "".join(info.value.__notes__)


def test_a_refit_on_the_same_cache_sends_nothing(trec400, tmp_path):
    truth = trec400["truth"]
    with FakeOpenAI(labeler=lambda text, classes: truth[text]) as server:
        teacher = make_teacher(server, batch_size=5,
                               cache=TeacherCache(tmp_path / "c.sqlite"))
        first = distiller(teacher).fit(trec400["X_seed"], trec400["y_seed"],
                                       X_pool=trec400["X_pool"])
        sent = server.n_completions
        again = distiller(make_teacher(
            server, batch_size=5, cache=TeacherCache(tmp_path / "c.sqlite"))).fit(
            trec400["X_seed"], trec400["y_seed"], X_pool=trec400["X_pool"])
        assert server.n_completions == sent
    assert again.teacher_cost_ == 0 and first.teacher_cost_ > 0
    np.testing.assert_array_equal(again.labeled_y_, first.labeled_y_)


def test_the_cache_key_does_not_depend_on_the_way_of_asking(tmp_path):
    cache = TeacherCache(tmp_path / "c.sqlite")
    with FakeOpenAI(supports=()) as server:
        make_teacher(server, cache=cache).label(TEXTS[:6], CLASSES)
    with FakeOpenAI() as server:
        result = make_teacher(server, cache=cache).label(TEXTS[:6], CLASSES)
        assert server.n_completions == 0
    assert result.n_cached == 6


def test_cached_prompt_tokens_are_billed_at_the_cached_price():
    examples = [(f"an example question {i} " * 12, CLASSES[i % 4]) for i in range(40)]
    with FakeOpenAI() as server:
        teacher = make_teacher(server, examples=examples, batch_size=5)
        result = teacher.label(TEXTS[:20], CLASSES)
        assert server.ledger["cached_tokens"] > 0
        assert result.info["cache_read_tokens"] == server.ledger["cached_tokens"]
        assert result.cost == pytest.approx(server_cost(server))
    price_in, cached, _ = OPENAI_PRICES[MODEL]
    full = result.cost + result.info["cache_read_tokens"] * (price_in - cached) / 1e6
    assert result.cost < 0.8 * full


def test_a_server_on_this_machine_needs_no_key_and_costs_nothing(monkeypatch,
                                                                  caplog):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeOpenAI(api_key=None) as server:
        teacher = OpenAITeacher(model="smollm2", base_url=server.base_url,
                                cache=None)
        with caplog.at_level("INFO", logger="skakd.teachers"):
            result = teacher.label(TEXTS[:3], CLASSES)
    assert result.cost == 0 and result.input_tokens > 0
    assert "cost $0" in caplog.text
    assert teacher.estimate_cost(100, classes=CLASSES) == 0


def test_a_remote_model_without_price_or_key_is_refused_clearly(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match="no price is known for model='my-llm'"):
        OpenAITeacher(model="my-llm", base_url="https://llm.example.com/v1",
                      cache=None).label(["x"], CLASSES)
    teacher = OpenAITeacher(cache=None)
    with pytest.raises(ValueError, match="OPENAI_API_KEY is not set"):
        teacher.label(["x"], CLASSES)


@pytest.mark.parametrize("key_from", ["argument", "environment"])
def test_a_pickled_error_never_carries_the_api_key(monkeypatch, key_from):
    secret = "sk-proj-very-secret-key"
    with FakeOpenAI(api_key=secret) as server:
        server.script(Fault(status=400))
        if key_from == "environment":
            monkeypatch.setenv("OPENAI_API_KEY", secret)
        teacher = make_teacher(server, api_key=secret if key_from == "argument"
                               else None)
        with pytest.raises(openai.BadRequestError) as info:
            teacher.label(["where is my parcel"], CLASSES)
    assert secret.encode() not in pickle.dumps(info.value)
    assert secret.encode() not in pickle.dumps(teacher)
    assert "sk-proj" not in repr(teacher)


def test_batches_label_as_chat_completions_do_at_half_price():
    results = {}
    for batch_api in (False, True):
        with FakeOpenAI(batch_latency=0.1) as server:
            teacher = make_teacher(server, batch_api=batch_api)
            results[batch_api] = teacher.label(TEXTS, CLASSES)
            prefix = "batch_" if batch_api else ""
            assert server.ledger[prefix + "n_billed"] == 3
            discount = 0.5 if batch_api else 1.0
            assert results[batch_api].cost == pytest.approx(
                discount * server_cost(server, prefix=prefix))
            estimate = teacher.estimate_cost(TEXTS, classes=CLASSES)
            assert estimate == pytest.approx(results[batch_api].cost, rel=0.3)
        if batch_api:
            assert len(server.batches) == 1 and server.n_completions == 0
    assert results[True].labels == results[False].labels
    assert results[True].cost == pytest.approx(0.5 * results[False].cost, rel=0.05)


def _label_in_child(base_url, path):
    OpenAITeacher(model=MODEL, base_url=base_url, api_key="test-key",
                  cache=TeacherCache(path), batch_size=20,
                  batch_api=True).label(TEXTS, CLASSES)


def test_a_crash_while_the_batch_is_in_flight_collects_it_instead_of_paying(
        tmp_path):
    path = tmp_path / "c.sqlite"
    with FakeOpenAI(batch_latency=1.0) as server:
        child = multiprocessing.get_context("fork").Process(
            target=_label_in_child, args=(server.base_url, path))
        child.start()
        try:
            server.wait_for_requests(lambda r: r["path"].startswith("/v1/batches/"),
                                     timeout=30)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=30)
        result = make_teacher(server, batch_api=True,
                              cache=TeacherCache(path)).label(TEXTS, CLASSES)
        assert len(server.batches) == 1 and server.n_completions == 0
        assert server.ledger["batch_n_billed"] == 3
    assert result.labels == [default_labeler(t, CLASSES) for t in TEXTS]


def test_pgkd_generates_through_the_fake_server(trec400, tmp_path):
    X = trec400["X_pool"]
    y = np.asarray([trec400["truth"][t] for t in X])

    def generator(classes, n_samples, prompt, counter):
        # Real texts of the requested classes, new ones each call.
        picks = []
        for i in range(n_samples):
            label = classes[(counter + i) % len(classes)]
            rows = np.flatnonzero(y == label)
            picks.append((X[rows[(counter + i) // len(classes) % len(rows)]], label))
        return picks

    with FakeOpenAI(generator=generator) as server:
        teacher = make_teacher(server, cache=TeacherCache(tmp_path / "c.sqlite"))
        samples = teacher.generate(GenerationRequest(
            classes=sorted(set(y)), n_samples=6))
        assert len(samples) == 6 and samples.cost > 0
        clf = ActiveDistillationClassifier(
            make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300)),
            teacher=teacher, sampler=PGKD(batch_size=12, patience=None),
            max_iter=2, random_state=0).fit(trec400["X_seed"], trec400["y_seed"])
        assert server.n_completions == 3
    assert clf.n_iter_ == 2 and clf.teacher_cost_ > 0


def _label_slowly_in_child(base_url, path):
    OpenAITeacher(model=MODEL, base_url=base_url, api_key="test-key",
                  cache=TeacherCache(path), batch_size=10,
                  max_concurrency=1).label(TEXTS[:20], CLASSES)


def test_items_lost_in_flight_by_a_killed_process_are_counted_when_paid_again(
        tmp_path):
    path = tmp_path / "c.sqlite"
    with FakeOpenAI(latency=0.5) as server:
        child = multiprocessing.get_context("fork").Process(
            target=_label_slowly_in_child, args=(server.base_url, path))
        child.start()
        try:  # killed while its second request (items 10 to 19) is out
            server.wait_for_requests(lambda r: r["path"] == "/v1/chat/completions"
                                     and r["answered"], timeout=30)
            server.wait_for_requests(lambda r: not r["answered"], timeout=30)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=30)
        server.latency = 0.0
        result = make_teacher(server, cache=TeacherCache(path)).label(
            TEXTS[:20], CLASSES)
        server.wait_until_idle()
    assert result.n_cached == 10  # the first request's answers were stored
    assert result.info["n_paid_twice"] == 10
    assert server.ledger["n_billed"] == 3  # the lost request was billed too


def test_the_answer_list_is_bounded_to_the_items_and_texts_asked_for():
    # A server that enforces the schema with a grammar stops a small model
    # at the last item instead of letting it write ids past the batch.
    with FakeOpenAI() as server:
        teacher = make_teacher(server, batch_size=5)
        teacher.label(TEXTS[:9], CLASSES)
        teacher.generate(GenerationRequest(classes=CLASSES, n_samples=3))
        bodies = server.completion_bodies()
    schemas = [b["response_format"]["json_schema"]["schema"]["properties"]
               for b in bodies]
    assert [s["items"]["maxItems"] for s in schemas[:2]] == [5, 4]
    assert [s["items"]["minItems"] for s in schemas[:2]] == [5, 4]
    assert schemas[2]["samples"]["maxItems"] == 3
