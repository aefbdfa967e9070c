"""CachedTeacher: a persistent cache for any teacher."""

import time

import numpy as np

from .._items import take
from .._multilabel import check_label_sets
from ._base import UNLABELED, BaseTeacher, TeacherResult, check_teacher_labels
from ._cache import request_key, resolve_cache

__all__ = ["CachedTeacher"]


class CachedTeacher(BaseTeacher):
    """Give any teacher a persistent cache: each item is paid for once.

    Labels are cached item by item under a hash of (``namespace``, item,
    classes); generation answers under a hash of the request. Items the
    teacher could not label are not cached, so a later call asks again.
    Sharing one file between fits, clones, CV folds and processes makes a
    re-run (or a crashed fit run again) replay the answers for free.

    Parameters
    ----------
    teacher : teacher object or callable
        Any teacher (``label(items, classes)``) or a function ``items ->
        labels``.
    path : str, path-like, TeacherCache or True
        The cache file (``True``: :func:`default_cache_path`).
    namespace : str or None, default=None
        Separates the answers of different teachers sharing one file. ``None``
        derives it from the teacher's class and simple parameters (or the
        function's qualified name): give a name explicitly when two teachers
        differ in a way these do not show, e.g. in their data.

    Examples
    --------
    >>> import tempfile, os
    >>> from skakd.teachers import CachedTeacher
    >>> calls = []
    >>> def ask(items):
    ...     calls.append(len(items))
    ...     return ["long" if len(t) > 5 else "short" for t in items]
    >>> path = os.path.join(tempfile.mkdtemp(), "cache.sqlite")
    >>> teacher = CachedTeacher(ask, path)
    >>> teacher.label(["hi", "hello world"], ["long", "short"]).labels
    ['short', 'long']
    >>> result = teacher.label(["hi", "new text"], ["long", "short"])
    >>> result.labels, result.n_cached, calls
    (['short', 'long'], 1, [2, 1])
    """

    def __init__(self, teacher, path=True, namespace=None):
        self.teacher = teacher
        self.path = path
        self.namespace = namespace

    def label(self, items, classes, multi_label=False):
        """Answer from the cache, asking ``teacher`` about the rest.

        ``multi_label`` asks for label sets (``teacher.label(..., multi_label=
        True)``), cached apart from single labels.
        """
        from ._callable import CallableTeacher

        teacher = self.teacher
        if not hasattr(teacher, "label"):
            teacher = CallableTeacher(teacher)
        cache = resolve_cache(self.path, "path")
        start = time.perf_counter()
        items = list(items) if not hasattr(items, "shape") else items
        keys = [self._item_key(item, classes, multi_label) for item in _rows(items)]
        stored = cache.get_many(keys)
        labels = [_stored_answer(stored.get(key, {})) for key in keys]
        confidence = [stored.get(key, {}).get("confidence") for key in keys]
        missing = [i for i, key in enumerate(keys) if key not in stored]
        result = TeacherResult(labels=labels, n_cached=len(keys) - len(missing))
        if missing:
            asked = {"multi_label": True} if multi_label else {}
            answer = teacher.label(take(items, missing), classes, **asked)
            new = check_teacher_labels(answer.labels, len(missing),
                                       type(teacher).__name__)
            if multi_label:
                new = check_label_sets(new, type(teacher).__name__)
            sure = getattr(answer, "confidence", None) or [None] * len(missing)
            # Persist before use, with the teacher's confidence where it gave
            # one; failures (UNLABELED) stay uncached.
            cache.put_many(
                (keys[i], _entry(label, c, multi_label))
                for i, label, c in zip(missing, new, sure) if label is not UNLABELED
            )
            for i, label, c in zip(missing, new, sure):
                labels[i], confidence[i] = label, c
            for name in ("input_tokens", "output_tokens", "cost"):
                setattr(result, name, getattr(answer, name, 0) or 0)
            result.n_cached += getattr(answer, "n_cached", 0) or 0
            result.info = dict(getattr(answer, "info", {}) or {})
        if any(c is not None for c in confidence):
            result.confidence = confidence
        result.latency = time.perf_counter() - start
        return result

    def generate(self, request):
        from ._generation import GenerationResult

        cache = resolve_cache(self.path, "path")
        key = request_key(
            {"namespace": self._namespace(), "generate": request.to_prompt(),
             "classes": [_plain(c) for c in request.classes]}
        )
        stored = cache.get(key)
        if stored is not None:
            by_text = {str(c): c for c in request.classes}
            samples = [(text, _restored(lab, by_text)) for text, lab in stored]
            return GenerationResult(samples, n_cached=len(samples))
        answer = self.teacher.generate(request)
        samples = [(str(text), label) for text, label in answer]
        if samples:
            cache.put(key, [(text, _plain(label)) for text, label in samples])
        return answer

    def _namespace(self):
        return self.namespace if self.namespace is not None else _describe(
            self.teacher
        )

    def _item_key(self, item, classes, multi_label=False):
        classes = None if classes is None else sorted(str(c) for c in classes)
        key = {"namespace": self._namespace(), "item": _item_repr(item),
               "classes": classes}
        if multi_label:  # single-label keys stay as they were
            key["multi_label"] = True
        return request_key(key)


def _describe(teacher):
    """A process-independent description of a teacher, for cache keys."""
    parts = [f"{type(teacher).__module__}.{type(teacher).__qualname__}"]
    func = getattr(teacher, "func", None) if hasattr(teacher, "label") else teacher
    if callable(func):
        name = getattr(func, "__qualname__", type(func).__qualname__)
        parts.append(f"{getattr(func, '__module__', '')}.{name}")
    if hasattr(teacher, "get_params"):
        simple = (str, int, float, bool, type(None))
        params = sorted(teacher.get_params(deep=False).items())
        parts += [f"{k}={v!r}" for k, v in params if isinstance(v, simple)]
    return "|".join(parts)


def _rows(items):
    if hasattr(items, "tocsr"):
        items = items.tocsr()
        return [items[i] for i in range(items.shape[0])]
    return list(items)


def _item_repr(item):
    if isinstance(item, str):
        return ["text", item]
    if hasattr(item, "tocsr"):
        row = item.tocsr()
        row.sort_indices()
        return ["sparse", row.shape[1], row.indices.tolist(),
                np.asarray(row.data, dtype=np.float64).tobytes().hex()]
    array = np.asarray(item)
    if array.dtype.kind in "OUS":
        return ["seq", [str(v) for v in array.ravel().tolist()]]
    return ["array", list(array.shape),
            np.ascontiguousarray(array, dtype=np.float64).tobytes().hex()]


def _entry(answer, confidence, multi_label=False):
    entry = ({"labels": [_plain(label) for label in answer]} if multi_label
             else {"label": _plain(answer)})
    if confidence is not None:
        entry["confidence"] = float(confidence)
    return entry


def _stored_answer(entry):
    if "labels" in entry:
        return tuple(entry["labels"])
    return entry.get("label")


def _restored(label, by_text):
    """A stored generated label as the class it names; a label set (stored
    as a list) as a tuple of them."""
    if isinstance(label, list):
        return tuple(by_text.get(str(one), one) for one in label)
    return by_text.get(str(label), label)


def _plain(label):
    return label.item() if isinstance(label, np.generic) else label
