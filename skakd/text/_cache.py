"""On-disk embedding cache: one SQLite file per (model, max_length)."""

import hashlib
import sqlite3
from pathlib import Path

import numpy as np

from .._sqlite import chunks, placeholders

__all__ = ["EmbeddingCache"]


class EmbeddingCache:
    """Maps texts to float32 vectors, keyed by the SHA-1 of the text.

    SQLite gives atomic writes and file locking, so parallel CV folds or
    benchmark processes can share one cache directory.
    """

    def __init__(self, cache_dir, key):
        self.path = Path(cache_dir).expanduser() / f"{key}.sqlite"

    def _connect(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=60)
        connection.execute(
            "CREATE TABLE IF NOT EXISTS embedding "
            "(key BLOB PRIMARY KEY, vector BLOB NOT NULL)"
        )
        return connection

    @staticmethod
    def keys(texts):
        return [hashlib.sha1(text.encode("utf-8")).digest() for text in texts]

    def get(self, keys, dim):
        """Array of the cached vectors (NaN rows where missing), found mask."""
        out = np.full((len(keys), dim), np.nan, dtype=np.float32)
        position = {}
        for i, key in enumerate(keys):
            position.setdefault(key, []).append(i)
        unique = list(position)
        with self._connect() as connection:
            for chunk in chunks(unique):
                rows = connection.execute(
                    "SELECT key, vector FROM embedding WHERE key IN "
                    f"({placeholders(len(chunk))})",
                    chunk,
                )
                for key, vector in rows:
                    out[position[key]] = np.frombuffer(vector, dtype=np.float32)
        connection.close()
        return out, ~np.isnan(out[:, 0])

    def put(self, keys, vectors):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._connect() as connection:
            connection.executemany(
                "INSERT OR IGNORE INTO embedding VALUES (?, ?)",
                ((key, vector.tobytes()) for key, vector in zip(keys, vectors)),
            )
        connection.close()
