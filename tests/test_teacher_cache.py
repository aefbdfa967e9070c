"""TeacherCache and CachedTeacher: persistence shared by threads and processes."""

import multiprocessing
import pickle
import sqlite3
import threading

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from skakd import ActiveDistillationClassifier, Pool
from skakd.augmentation import GenerationRequest
from skakd.sampling import RandomSampler
from skakd.teachers import (
    CachedTeacher,
    OracleTeacher,
    TeacherCache,
    default_cache_path,
    request_key,
)


def test_values_round_trip_and_the_first_writer_wins(tmp_path):
    cache = TeacherCache(tmp_path / "sub" / "answers.sqlite")
    assert cache.get("k") is None
    assert cache.put("k", {"labels": ["a", None]}) == {"labels": ["a", None]}
    assert cache.put("k", {"labels": ["b", "b"]}) == {"labels": ["a", None]}
    assert TeacherCache(tmp_path / "sub" / "answers.sqlite").get("k") == {
        "labels": ["a", None]}
    mode = sqlite3.connect(cache.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_keys_hash_the_whole_request():
    base = {"model": "m", "system": "s", "messages": [{"content": "x"}],
            "tools": [{"name": "t"}], "temperature": 0.0}
    keys = {request_key(base)}
    for name, value in [("model", "m2"), ("system", "s2"), ("temperature", 0.5),
                        ("messages", [{"content": "y"}]), ("tools", [{"name": "u"}])]:
        keys.add(request_key({**base, name: value}))
    assert len(keys) == 6
    assert request_key(dict(reversed(list(base.items())))) == request_key(base)


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKAKD_CACHE_DIR", str(tmp_path))
    assert default_cache_path() == tmp_path / "teacher_cache.sqlite"


def test_threads_share_one_cache(tmp_path):
    cache = TeacherCache(tmp_path / "c.sqlite")
    errors = []

    def work(worker):
        try:
            for i in range(100):
                stored = cache.put(f"key{i}", {"by": worker})
                assert cache.get(f"key{i}") == stored
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(cache) == 100


def _write_from_process(path, worker, queue):
    cache = TeacherCache(path)
    seen = {}
    for i in range(150):
        seen[f"shared{i}"] = cache.put(f"shared{i}", {"by": worker})["by"]
        cache.put(f"own{worker}-{i}", {"by": worker})
    queue.put(seen)


def test_processes_share_one_cache(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = TeacherCache(path)
    cache.put("before-fork", {"by": "parent"})  # the children must reconnect
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_write_from_process, args=(path, w, queue))
               for w in range(4)]
    for worker in workers:
        worker.start()
    seen = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert all(worker.exitcode == 0 for worker in workers)
    assert len(cache) == 1 + 150 + 4 * 150
    # Every process went on with the answer that was stored first.
    for key in seen[0]:
        assert {s[key] for s in seen} == {cache.get(key)["by"]}


def test_pickled_cache_reopens_its_file(tmp_path):
    cache = TeacherCache(tmp_path / "c.sqlite")
    cache.put("k", [1, 2])
    assert pickle.loads(pickle.dumps(cache)).get("k") == [1, 2]


class CountingTeacher(OracleTeacher):
    """An oracle that counts the items it was asked about."""

    def label(self, items, classes):
        self.asked_ = getattr(self, "asked_", 0) + len(items)
        return super().label(items, classes)


def test_cached_teacher_pays_each_item_once(tmp_path):
    oracle = CountingTeacher({"a": "x", "b": "y"}, cost_per_item=0.5)
    teacher = CachedTeacher(oracle, tmp_path / "c.sqlite")
    first = teacher.label(["a", "b", "unknown"], ["x", "y"])
    assert first.labels == ["x", "y", None] and first.cost == 1.5
    second = teacher.label(["b", "a", "unknown"], ["x", "y"])
    assert second.labels == ["y", "x", None]
    assert second.n_cached == 2 and second.cost == 0.5  # only "unknown" again
    assert oracle.asked_ == 4  # the unlabelled item was not cached
    assert clone(teacher) is teacher


def test_cached_teacher_works_with_numeric_rows_and_callables(tmp_path):
    calls = []

    def sign(rows):
        calls.append(len(rows))
        return ["pos" if row.sum() > 0 else "neg" for row in rows]

    teacher = CachedTeacher(sign, tmp_path / "c.sqlite")
    X = np.array([[1.0, 2.0], [-1.0, -3.0]])
    assert teacher.label(X, ["neg", "pos"]).labels == ["pos", "neg"]
    assert teacher.label(X[::-1], ["neg", "pos"]).labels == ["neg", "pos"]
    assert calls == [2]


def test_cached_teacher_takes_series_rows_by_position(tmp_path):
    pd = pytest.importorskip("pandas")
    asked = []

    def shout(items):
        asked.append(list(items))
        return [text.upper() for text in items]

    teacher = CachedTeacher(shout, tmp_path / "c.sqlite")
    teacher.label(["b"], None)
    # A Series whose index is not 0..n-1: the uncached items are rows 0 and 2.
    items = pd.Series(["a", "b", "c"], index=[10, 11, 12])
    assert teacher.label(items, None).labels == ["A", "B", "C"]
    assert asked == [["b"], ["a", "c"]]


def test_cv_folds_share_the_cache(tmp_path, blobs):
    oracle = CountingTeacher(blobs["X"], blobs["y"])
    teacher = CachedTeacher(oracle, tmp_path / "c.sqlite", namespace="blobs")
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=teacher,
        sampler=RandomSampler(batch_size=20), max_iter=2, random_state=0)
    X_pool = Pool(blobs["X_pool"][:60])
    cross_val_score(clf, blobs["X_seed"], blobs["y_seed"], cv=3,
                    params={"X_pool": X_pool})
    asked = oracle.asked_
    assert asked <= 60  # each pool item was paid for at most once over the folds
    cross_val_score(clf, blobs["X_seed"], blobs["y_seed"], cv=3,
                    params={"X_pool": X_pool})
    assert oracle.asked_ == asked


def test_cached_teacher_caches_generation(tmp_path):
    class Writer:
        calls = 0

        def generate(self, request):
            Writer.calls += 1
            return [(f"text {i}", request.classes[0]) for i in range(request.n_samples)]

    teacher = CachedTeacher(Writer(), tmp_path / "c.sqlite", namespace="writer")
    request = GenerationRequest(classes=["a", "b"], n_samples=3)
    first = teacher.generate(request)
    again = teacher.generate(request)
    assert list(again) == list(first) and again.n_cached == 3 and Writer.calls == 1


def test_bad_cache_argument_is_reported():
    with pytest.raises(TypeError, match="cache"):
        CachedTeacher(lambda items: items, path=3.5).label(["a"], ["a"])
