"""Message Batches: half price, the same labels, and a crash costs nothing twice."""

import multiprocessing
import os
import signal

import pytest

from skakd.teachers import PRICES, AnthropicTeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic, Fault, default_labeler

pytest.importorskip("anthropic")

CLASSES = ["billing", "delivery", "refund", "account"]
TEXTS = [f"question {i} about my {CLASSES[i % 4]}" for i in range(45)]


def make_teacher(server, **params):
    return AnthropicTeacher(**{"base_url": server.base_url, "api_key": "test-key",
                               "cache": None, "batch_size": 20, **params})


def test_a_batch_labels_as_the_messages_api_does_at_half_price():
    results = {}
    for batch_api in (False, True):
        with FakeAnthropic(batch_latency=0.1) as server:
            teacher = make_teacher(server, batch_api=batch_api)
            results[batch_api] = teacher.label(TEXTS, CLASSES)
            estimate = teacher.estimate_cost(TEXTS, classes=CLASSES)
            ledger = dict(server.ledger)
        if batch_api:
            assert len(server.batches) == 1 and server.n_messages == 0
            assert ledger["batch_n_billed"] == 3 and ledger["n_billed"] == 0
        price_in, price_out = PRICES["claude-haiku-4-5"]
        prefix = "batch_" if batch_api else ""
        billed = (ledger[prefix + "input_tokens"] * price_in
                  + ledger[prefix + "output_tokens"] * price_out) / 1e6
        discount = 0.5 if batch_api else 1.0
        assert results[batch_api].cost == pytest.approx(discount * billed)
        assert estimate == pytest.approx(results[batch_api].cost, rel=0.2)
    assert results[True].labels == results[False].labels == [
        default_labeler(t, CLASSES) for t in TEXTS]
    # The same requests (up to how their JSON is laid out) at half price.
    assert results[True].cost == pytest.approx(0.5 * results[False].cost, rel=0.05)


def test_a_bad_batch_answer_is_corrected_synchronously(tmp_path):
    def labeler(text, classes):
        return "NOT_A_CLASS" if text == TEXTS[3] else default_labeler(text, classes)

    with FakeAnthropic(batch_latency=0.05, labeler=labeler) as server:
        server.script(Fault(answer="unknown_label"))  # the re-ask fails too
        cache = TeacherCache(tmp_path / "c.sqlite")
        result = make_teacher(server, batch_api=True, cache=cache).label(
            TEXTS, CLASSES)
        assert server.n_messages == 1  # one corrective re-ask, not a batch
    assert result.labels[3] is None and result.reasons[3] == "unknown_label"
    assert result.n_unlabeled == 1 and result.info["n_corrections"] == 1
    assert len(cache) == len(TEXTS)  # answers only: the batch records are gone


def _label_in_child(base_url, path):
    teacher = AnthropicTeacher(base_url=base_url, api_key="test-key",
                               cache=TeacherCache(path), batch_size=20,
                               batch_api=True)
    teacher.label(TEXTS, CLASSES)


def test_a_crash_while_the_batch_is_in_flight_collects_it_instead_of_paying(
        tmp_path):
    path = tmp_path / "c.sqlite"
    with FakeAnthropic(batch_latency=1.0) as server:
        context = multiprocessing.get_context("fork")
        child = context.Process(target=_label_in_child, args=(server.base_url, path))
        child.start()
        try:
            server.wait_for_requests(lambda r: "/batches/" in r["path"], timeout=30)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=30)
        assert len(server.batches) == 1  # sent, and being polled, when killed
        teacher = make_teacher(server, batch_api=True, cache=TeacherCache(path))
        result = teacher.label(TEXTS, CLASSES)
        assert len(server.batches) == 1 and server.n_messages == 0
        assert server.ledger["batch_n_billed"] == 3  # each request paid once
    assert result.labels == [default_labeler(t, CLASSES) for t in TEXTS]
    assert result.cost > 0 and result.n_cached == 0
    assert len(TeacherCache(path)) == len(TEXTS)


def test_a_crash_while_the_batch_is_being_created_finds_it_again(tmp_path):
    path = tmp_path / "c.sqlite"
    with FakeAnthropic(batch_latency=0.1, latency=1.0) as server:
        context = multiprocessing.get_context("fork")
        child = context.Process(target=_label_in_child, args=(server.base_url, path))
        child.start()
        try:  # killed while the server makes the batch: its id is never stored
            server.wait_for_requests(
                lambda r: r["path"] == "/v1/messages/batches", timeout=30)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=30)
        server.wait_for_requests(lambda r: r["answered"], timeout=30)
        server.latency = 0.0
        assert len(server.batches) == 1
        teacher = make_teacher(server, batch_api=True, cache=TeacherCache(path))
        result = teacher.label(TEXTS, CLASSES)
        assert len(server.batches) == 1 and server.n_messages == 0
        assert server.ledger["batch_n_billed"] == 3
    assert result.labels == [default_labeler(t, CLASSES) for t in TEXTS]
