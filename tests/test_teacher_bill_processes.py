"""Processes sharing one cache never pay for the same item twice."""

import multiprocessing
import time

import pytest

from skakd.teachers import AnthropicTeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic, default_labeler

pytest.importorskip("anthropic")

CLASSES = ["billing", "delivery", "refund", "account"]
TEXTS = [f"message {i}: a question about my {CLASSES[i % 4]}" for i in range(240)]


def make_teacher(base_url, path, **params):
    return AnthropicTeacher(base_url=base_url, api_key="test-key",
                            cache=TeacherCache(path),
                            **{"batch_size": 10, "max_concurrency": 2,
                               "timeout": 2.0, **params})


def _label(base_url, path, texts, queue):
    result = make_teacher(base_url, path).label(texts, CLASSES)
    queue.put((texts, result.labels))


def asked(server):
    """Every item text the server was asked about (with repeats)."""
    return [block.split(">", 1)[1].split("</item>", 1)[0]
            for body in server.message_bodies()
            for block in body["messages"][0]["content"].split('<item id="')[1:]]


def test_two_processes_on_one_cache_pay_for_each_item_once(tmp_path):
    path = tmp_path / "shared.sqlite"
    with FakeAnthropic(latency=0.05) as server:
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        # Overlapping work in opposite orders: they meet in the middle.
        orders = [TEXTS, TEXTS[::-1]]
        workers = [context.Process(target=_label, args=(server.base_url, path,
                                                        texts, queue))
                   for texts in orders]
        for worker in workers:
            worker.start()
        answers = [queue.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        sent = asked(server)

    assert all(worker.exitcode == 0 for worker in workers)
    assert len(sent) == len(set(sent)) == len(TEXTS)  # 0 items paid twice
    for texts, labels in answers:
        assert labels == [default_labeler(t, CLASSES) for t in texts]
    assert len(TeacherCache(path)) == len(TEXTS)


def test_a_crashed_claimants_items_are_paid_for_once_its_lease_expires(tmp_path):
    path = tmp_path / "shared.sqlite"
    cache = TeacherCache(path)
    with FakeAnthropic() as server:
        teacher = make_teacher(server.base_url, path, timeout=0.3)
        keys = teacher_keys(teacher, TEXTS[:20])
        # A process claimed the first 10 items, then died without answering.
        assert cache.claim(keys[:10], "dead-process", lease=0.6) == keys[:10]
        start = time.monotonic()
        result = teacher.label(TEXTS[:20], CLASSES)
        waited = time.monotonic() - start
        sent = asked(server)

    assert waited >= 0.5
    assert result.labels == [default_labeler(t, CLASSES) for t in TEXTS[:20]]
    assert sorted(sent) == sorted(TEXTS[:20])


def teacher_keys(teacher, texts):
    # The keys under which the teacher caches these texts' labels.
    return teacher._item_keys(texts, CLASSES)
