"""A persistent answer cache shared by fits, clones, CV folds and processes."""

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from .._cache_home import cache_home
from .._process import is_alive
from .._sqlite import chunks, placeholders

__all__ = ["TeacherCache", "default_cache_path", "request_key", "resolve_cache"]

_KEY_VERSION = "skakd-teacher-cache-v1"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS answers ("
    " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)",
    # Who is asking for a key now, until when (a lease: a crashed claimant's
    # keys are free again once it expires).
    "CREATE TABLE IF NOT EXISTS claims ("
    " key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
    # Which keys a request now in flight asks about, and from which process:
    # a process killed while waiting leaves them, paid but never answered.
    "CREATE TABLE IF NOT EXISTS in_flight ("
    " key TEXT PRIMARY KEY, process TEXT NOT NULL)",
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
            for chunk in chunks(keys):
                marks = placeholders(len(chunk))
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
            for chunk in chunks(keys):
                conn.execute(f"DELETE FROM answers WHERE key IN "
                             f"({placeholders(len(chunk))})", chunk)

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
                for chunk in chunks(keys):
                    marks = placeholders(len(chunk))
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

    def mark_in_flight(self, keys):
        """Note that a request about ``keys`` is being sent by this process."""
        process = f"{socket.gethostname()}:{os.getpid()}"
        with self._lock:
            self._connection().executemany(
                "INSERT OR REPLACE INTO in_flight (key, process) VALUES (?, ?)",
                [(k, process) for k in keys])

    def unmark_in_flight(self, keys):
        """The request about ``keys`` came back (answered or failed)."""
        with self._lock:
            conn = self._connection()
            for chunk in chunks(list(keys)):
                conn.execute(f"DELETE FROM in_flight WHERE key IN "
                             f"({placeholders(len(chunk))})", chunk)

    def lost_in_flight(self, keys):
        """How many of ``keys`` a process that has died was asking about.

        Their requests were sent, and most likely billed, but their answers
        never came back: asking again pays for them a second time. The marks
        are dropped as they are counted.
        """
        keys, host, lost = list(keys), socket.gethostname(), []
        with self._lock:
            conn = self._connection()
            for chunk in chunks(keys):
                rows = conn.execute(
                    f"SELECT key, process FROM in_flight WHERE key IN "
                    f"({placeholders(len(chunk))})", chunk).fetchall()
                lost += [k for k, process in rows if _dead(process, host)]
            for chunk in chunks(lost):
                conn.execute(f"DELETE FROM in_flight WHERE key IN "
                             f"({placeholders(len(chunk))})", chunk)
        return len(lost)

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
    marks = placeholders(len(keys))
    owners = {row[0] for row in conn.execute(
        f"SELECT DISTINCT owner FROM claims WHERE key IN ({marks})", keys)}
    host = socket.gethostname()
    for owner in owners:
        if _dead(owner.rpartition(":")[0], host):  # host:pid:call
            conn.execute("DELETE FROM claims WHERE owner = ?", (owner,))


def _dead(process, host):
    """Whether ``host:pid`` names a process of this machine that has ended."""
    process_host, _, pid = process.partition(":")
    return process_host == host and pid.isdigit() and not is_alive(int(pid))



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
