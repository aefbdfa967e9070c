"""A persistent answer cache shared by fits, clones, CV folds and processes."""

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from .._cache_home import cache_home
from .._items import take
from ._base import UNLABELED, BaseTeacher, TeacherResult, check_teacher_labels

__all__ = ["CachedTeacher", "TeacherCache", "default_cache_path", "request_key"]

_KEY_VERSION = "skakd-teacher-cache-v1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS answers ("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)",
    # Who is asking for a key now, until when (a lease: a crashed claimant's
    # keys are free again once it expires).
    "CREATE TABLE IF NOT EXISTS claims ("
    " key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)


def default_cache_path():
    """Where ``cache=True`` keeps answers.

    ``$SKAKD_CACHE_DIR/teacher_cache.sqlite`` if that variable is set, else
    ``$XDG_CACHE_HOME/skakd/…`` or ``~/.cache/skakd/teacher_cache.sqlite``.
    """
    return cache_home() / "teacher_cache.sqlite"


def request_key(payload):
    """A stable hash of a JSON-serialisable request description.

    The same model, prompt, messages, tool schema and temperature give the
    same key in every process and on every machine.

    Examples
    --------
    >>> from skakd.teachers import request_key
    >>> request_key({"model": "m", "t": 0}) == request_key({"t": 0, "model": "m"})
    True
    """
    text = json.dumps(
        [_KEY_VERSION, payload], sort_keys=True, ensure_ascii=False,
        separators=(",", ":"), default=_json_default,
    )
    # A lone surrogate (a text no API can carry) still has a key.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot hash a {type(value).__name__} into a cache key")


class TeacherCache:
    """Teacher answers in an SQLite file (WAL mode), keyed by request hash.

    Safe to share between threads (one connection per process, serialised by
    a lock) and between processes (SQLite's WAL locking with a busy
    timeout). The first answer stored under a key wins: :meth:`put` returns
    the stored value, so two processes that asked the same question at the
    same time go on with the same answer. Only answers should be stored;
    callers never cache transport failures. :meth:`claim` leases keys to
    one caller while it pays for them, so that others wait for its answers
    instead of paying again.

    Parameters
    ----------
    path : str or path-like
        The SQLite file; created with its folder if missing.
    timeout : float, default=60.0
        Seconds to wait for another process's write lock.

    Examples
    --------
    >>> import tempfile, os
    >>> from skakd.teachers import TeacherCache
    >>> cache = TeacherCache(os.path.join(tempfile.mkdtemp(), "answers.sqlite"))
    >>> cache.put("k", {"labels": ["spam"]})
    {'labels': ['spam']}
    >>> cache.get("k"), cache.get("other"), len(cache)
    ({'labels': ['spam']}, None, 1)
    """

    def __init__(self, path, timeout=60.0):
        self.path = os.fspath(path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn = None
        self._pid = None

    def _connection(self):
        # A connection must not cross a fork: reconnect in a child process.
        if self._conn is None or self._pid != os.getpid():
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL: a committed answer survives a killed process.
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, key):
        """The value stored under ``key``, or ``None``."""
        with self._lock:
            row = self._connection().execute(
                "SELECT value FROM answers WHERE key = ?", (key,)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def get_many(self, keys):
        """``{key: value}`` for the ``keys`` that are stored."""
        keys = list(dict.fromkeys(keys))
        found = {}
        with self._lock:
            conn = self._connection()
            for chunk in _chunks(keys):
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk
                ).fetchall()
                found.update((key, json.loads(value)) for key, value in rows)
        return found

    def put(self, key, value):
        """Store ``value`` unless ``key`` is taken; return the stored value."""
        text = json.dumps(value, ensure_ascii=False, default=_json_default)
        with self._lock:
            conn = self._connection()
            conn.execute(
                "INSERT OR IGNORE INTO answers (key, value, created) VALUES (?, ?, ?)",
                (key, text, time.time()),
            )
            row = conn.execute(
                "SELECT value FROM answers WHERE key = ?", (key,)
            ).fetchone()
        return json.loads(row[0])

    def put_many(self, items):
        """Store several ``(key, value)`` pairs in one transaction.

        Keys already taken keep their value (the first writer wins); returns
        ``{key: stored value}`` for the keys given.
        """
        rows = [
            (key, json.dumps(value, ensure_ascii=False, default=_json_default),
             time.time())
            for key, value in items
        ]
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO answers (key, value, created) "
                    "VALUES (?, ?, ?)", rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return self.get_many(key for key, _, _ in rows)

    def delete(self, keys):
        """Delete the entries stored under ``keys``."""
        keys = list(keys)
        with self._lock:
            conn = self._connection()
            for chunk in _chunks(keys):
                conn.execute(f"DELETE FROM answers WHERE key IN "
                             f"({','.join('?' * len(chunk))})", chunk)

    def claim(self, keys, owner, lease):
        """Claim the ``keys`` that are neither answered nor claimed by others.

        Parameters
        ----------
        keys : iterable of str
            Keys about to be paid for.
        owner : str
            Who claims them (unique per call, e.g. from :func:`new_owner`).
        lease : float
            Seconds the claim holds unless renewed (:meth:`renew`).

        Returns
        -------
        mine : list of str
            The keys ``owner`` now holds (and should pay for), in order.
        """
        keys = list(dict.fromkeys(keys))
        now = time.time()
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                mine = []
                for chunk in _chunks(keys):
                    marks = ",".join("?" * len(chunk))
                    conn.execute(f"DELETE FROM claims WHERE expires < ? AND key IN "
                                 f"({marks})", [now, *chunk])
                    _drop_dead_claims(conn, chunk)
                    answered = {row[0] for row in conn.execute(
                        f"SELECT key FROM answers WHERE key IN ({marks})", chunk)}
                    free = [k for k in chunk if k not in answered]
                    conn.executemany(
                        "INSERT OR IGNORE INTO claims (key, owner, expires) "
                        "VALUES (?, ?, ?)", [(k, owner, now + lease) for k in free])
                    held = {row[0] for row in conn.execute(
                        f"SELECT key FROM claims WHERE owner = ? AND key IN "
                        f"({marks})", [owner, *chunk])}
                    mine += [k for k in free if k in held]
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return mine

    def renew(self, owner, lease):
        """Extend every claim of ``owner`` by ``lease`` seconds from now."""
        with self._lock:
            self._connection().execute(
                "UPDATE claims SET expires = ? WHERE owner = ?",
                (time.time() + lease, owner))

    def release(self, owner):
        """Drop every claim of ``owner`` (answered or given up)."""
        with self._lock:
            self._connection().execute("DELETE FROM claims WHERE owner = ?",
                                       (owner,))

    def __len__(self):
        with self._lock:
            return self._connection().execute(
                "SELECT COUNT(*) FROM answers"
            ).fetchone()[0]

    def clear(self):
        """Delete every stored answer (and claim)."""
        with self._lock:
            self._connection().execute("DELETE FROM answers")
            self._connection().execute("DELETE FROM claims")

    def close(self):
        """Close this process's connection (reopened on next use)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __repr__(self):
        return f"TeacherCache({self.path!r})"

    def __getstate__(self):
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state):
        self.__init__(**state)


def _drop_dead_claims(conn, keys):
    """Free the claims of processes of this machine that no longer run.

    A killed process cannot release its claims; on its own machine, that it
    is gone is known at once, without waiting for the lease to expire.
    """
    marks = ",".join("?" * len(keys))
    owners = {row[0] for row in conn.execute(
        f"SELECT DISTINCT owner FROM claims WHERE key IN ({marks})", keys)}
    host = socket.gethostname()
    for owner in owners:
        owner_host, _, rest = owner.partition(":")
        pid = rest.partition(":")[0]
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            conn.execute("DELETE FROM claims WHERE owner = ?", (owner,))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _chunks(keys, size=500):
    # SQLite limits the parameters of one statement.
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def new_owner():
    """A claimant id unique across machines, processes, threads and calls."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


class Lease:
    """Hold claims on cache keys while paying for them, renewed in the background.

    Used as a context manager around the paid work: claims are renewed every
    third of ``lease`` seconds (so a slow but live claimant keeps its keys)
    and released on exit, answered or not, so that another process waiting
    for them takes over at once after a failure. A crashed claimant stops
    renewing and its keys are free once the lease expires.
    """

    def __init__(self, cache, lease):
        self.cache, self.lease, self.owner = cache, lease, new_owner()
        self._stop = threading.Event()
        self._thread = None

    def claim(self, keys):
        """The ``keys`` this lease now holds (see :meth:`TeacherCache.claim`)."""
        return self.cache.claim(keys, self.owner, self.lease)

    def _renew(self):
        while not self._stop.wait(self.lease / 3):
            self.cache.renew(self.owner, self.lease)

    def __enter__(self):
        self._thread = threading.Thread(target=self._renew, daemon=True,
                                        name="skakd-lease")
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.cache.release(self.owner)


def pay_once(cache, keys, pay, lease):
    """Answers for ``keys``, paying only for those no one else is paying for.

    Parameters
    ----------
    cache : TeacherCache
        Shared by every process that might ask for the same keys.
    keys : list of str
        Keys not in the cache when the call began.
    pay : callable
        ``pay(keys) -> {key: entry}``: asks the teacher about ``keys`` and
        stores each answer in ``cache`` as it comes.
    lease : float
        Seconds a claim holds without renewal (how long a crashed claimant's
        keys stay blocked).

    Returns
    -------
    answers, paid : dict, set
        ``{key: entry}`` for every key, and the keys this call paid for.
    """
    found, paid, pending, pause = {}, set(), list(keys), 0.02
    if not pending:
        return found, paid
    with Lease(cache, lease) as holder:
        while pending:
            mine = holder.claim(pending)
            if mine:
                found.update(pay(mine))
                paid.update(mine)
            else:  # another process is asking: wait for its answers
                time.sleep(pause)
                pause = min(2 * pause, 0.5)
            found.update(cache.get_many(k for k in pending if k not in found))
            pending = [k for k in pending if k not in found]
    return found, paid


_OPEN_CACHES = {}
_OPEN_LOCK = threading.Lock()


def resolve_cache(cache, name="cache"):
    """Turn a ``cache=`` parameter into a :class:`TeacherCache` or ``None``.

    ``None``/``False``: no cache; ``True``: :func:`default_cache_path`; a
    path: that file; a :class:`TeacherCache`: itself. Caches opened from a
    path are shared within the process.
    """
    if cache is None or cache is False:
        return None
    if isinstance(cache, TeacherCache):
        return cache
    if cache is True:
        cache = default_cache_path()
    if not isinstance(cache, (str, os.PathLike)):
        raise TypeError(
            f"{name}={cache!r} is not a cache; expected None, True (the default "
            "location), a file path or a TeacherCache."
        )
    path = os.path.abspath(os.fspath(cache))
    with _OPEN_LOCK:
        if path not in _OPEN_CACHES:
            _OPEN_CACHES[path] = TeacherCache(path)
        return _OPEN_CACHES[path]


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

    def label(self, items, classes):
        from ._callable import CallableTeacher

        teacher = self.teacher
        if not hasattr(teacher, "label"):
            teacher = CallableTeacher(teacher)
        cache = resolve_cache(self.path, "path")
        start = time.perf_counter()
        items = list(items) if not hasattr(items, "shape") else items
        keys = [self._item_key(item, classes) for item in _rows(items)]
        stored = cache.get_many(keys)
        labels = [stored.get(key, {}).get("label") for key in keys]
        missing = [i for i, key in enumerate(keys) if key not in stored]
        result = TeacherResult(labels=labels, n_cached=len(keys) - len(missing))
        if missing:
            answer = teacher.label(take(items, missing), classes)
            new = check_teacher_labels(answer.labels, len(missing),
                                       type(teacher).__name__)
            # Persist before use; failures (UNLABELED) stay uncached.
            cache.put_many(
                (keys[i], {"label": _plain(label)})
                for i, label in zip(missing, new) if label is not UNLABELED
            )
            for i, label in zip(missing, new):
                labels[i] = label
            for name in ("input_tokens", "output_tokens", "cost"):
                setattr(result, name, getattr(answer, name, 0) or 0)
            result.n_cached += getattr(answer, "n_cached", 0) or 0
            result.info = dict(getattr(answer, "info", {}) or {})
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
            samples = [(text, by_text.get(str(lab), lab)) for text, lab in stored]
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

    def _item_key(self, item, classes):
        classes = None if classes is None else sorted(str(c) for c in classes)
        return request_key(
            {"namespace": self._namespace(), "item": _item_repr(item),
             "classes": classes}
        )


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


def _plain(label):
    return label.item() if isinstance(label, np.generic) else label
