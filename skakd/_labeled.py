"""The growing labelled set: seed, teacher answers and generated texts."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import _safe_indexing

__all__ = ["LabeledSet"]


class LabeledSet:
    """Labelled items with their provenance, appended round by round.

    Items are kept as a list of blocks (each a 1-D object array, a dense or a
    sparse 2-D array) and concatenated lazily, so adding a batch never copies
    what is already there.
    """

    def __init__(self):
        self._blocks = []
        self._y = []
        self._source = []
        self._round = []
        self._pool_index = []
        self._cache = None

    def add(self, X, y, source, round_, pool_index=None):
        n = len(y)
        if n == 0:
            return
        self._blocks.append(X)
        self._y.append(np.asarray(y, dtype=object))
        self._source.append(np.full(n, source, dtype=object))
        self._round.append(np.full(n, round_, dtype=np.intp))
        index = np.full(n, -1, dtype=np.intp) if pool_index is None else pool_index
        self._pool_index.append(np.asarray(index, dtype=np.intp))
        self._cache = None

    def remove(self, mask):
        """Drop the rows where ``mask`` is true and return them as ``(X, y)``."""
        X, y = self.X, self.y
        taken = (_safe_indexing(X, np.flatnonzero(mask)), y[mask])
        keep = np.flatnonzero(~mask)
        columns = (self.source, self.rounds, self.pool_index)
        self._blocks = [_safe_indexing(X, keep)]
        self._y = [y[keep]]
        self._source, self._round, self._pool_index = ([c[keep]] for c in columns)
        self._cache = None
        return taken

    def __len__(self):
        return sum(len(y) for y in self._y)

    @property
    def X(self):
        if self._cache is None:
            self._cache = _concatenate(self._blocks)
        return self._cache

    @property
    def y(self):
        return _restore_dtype(np.concatenate(self._y))

    @property
    def source(self):
        return np.concatenate(self._source)

    @property
    def rounds(self):
        return np.concatenate(self._round)

    @property
    def pool_index(self):
        return np.concatenate(self._pool_index)


def _concatenate(blocks):
    if len(blocks) == 1:
        return blocks[0]
    if any(sp.issparse(b) for b in blocks):
        return sp.vstack(blocks, format="csr")
    if hasattr(blocks[0], "iloc"):
        import pandas as pd

        return pd.concat(blocks, ignore_index=True)
    if blocks[0].ndim == 1:
        return np.concatenate([np.asarray(b, dtype=object) for b in blocks])
    return np.vstack(blocks)


def _restore_dtype(y):
    """Labels are stored as objects; give estimators a native array back."""
    return np.asarray(y.tolist())
