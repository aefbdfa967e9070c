"""Unlabelled pools: the cross-validation handle and pools read from disk.

:class:`Pool` keeps ``X_pool`` whole through scikit-learn's cross-validation
tools. The other classes are out-of-core pools: items stay on disk and are
read only when visited.

A pool of millions of texts or embeddings need not fit in memory: samplers
and :mod:`skakd.parallel` only read the rows they index. Any object with
``__len__``, ``shape`` and ``__getitem__`` on integer index arrays can serve
as ``X_pool``; :class:`BasePool` provides that protocol on top of one
method, ``_read(indices)``, and pools pickle as a reference to their file, so
worker processes (joblib, Dask) read rows themselves instead of receiving
them.
"""

from ._files import BasePool, NpyPool, TextFilePool
from ._handle import Pool

__all__ = ["BasePool", "NpyPool", "Pool", "TextFilePool"]
