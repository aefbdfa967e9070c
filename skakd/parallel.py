"""Chunked, parallel work over large pools through joblib's backend API.

Every helper here splits its input into chunks and maps them with joblib,
so the same code runs in the calling process (``n_jobs=None``), in local
worker processes (``n_jobs=2``, ``-1``...) or on a Dask cluster::

    from dask.distributed import Client
    import joblib
    client = Client("tcp://scheduler-host:8786")   # or dask_backend(...)
    with joblib.parallel_backend("dask"):
        y = predict_in_chunks(student, X_huge, n_jobs=-1)

Chunks are read in the worker when the input is a :class:`skakd.pools.NpyPool`
(only the file path and row numbers travel), otherwise read in the calling
process and sent. Results come back in order and are identical whatever the
backend. Teachers are never called from here: labelling and generation stay
in the calling process, where budgets, caches and rate limits live.
"""

import contextlib
import hashlib

import cloudpickle
import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from ._items import take
from .pools import NpyPool

__all__ = ["dask_backend", "map_chunks", "predict_in_chunks"]

PREDICT_METHODS = ("predict", "predict_proba", "predict_log_proba",
                   "decision_function", "transform")


def map_chunks(function, X, chunks, *, n_jobs=None, args=()):
    """Apply ``function(rows, *args)`` to chunks of ``X``, lazily and in order.

    Parameters
    ----------
    function : callable
        Called as ``function(rows, *args)`` on the rows of each chunk; must be
        picklable (a module-level function) to run in other processes.
    X : array-like, sparse matrix, sequence or pool
        The items.
    chunks : iterable of ndarray of int or slice
        Row indices of each chunk.
    n_jobs : int or None, default=None
        Number of joblib workers; ``None`` means 1 unless inside a
        ``joblib.parallel_backend`` context (e.g. ``"dask"``).
    args : tuple, default=()
        Extra arguments for ``function``, sent once per chunk.

    Returns
    -------
    results : generator
        ``function``'s result for each chunk, in the order of ``chunks``. At
        most a few chunks are in flight at a time, so memory stays bounded by
        the chunk size, not by the size of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.parallel import map_chunks
    >>> X = np.arange(10).reshape(5, 2)
    >>> [int(s) for s in map_chunks(np.sum, X, [slice(0, 3), slice(3, 5)])]
    [15, 30]
    """
    tasks = (delayed(_apply)(function, _rows(X, chunk), args) for chunk in chunks)
    return Parallel(n_jobs=n_jobs, return_as="generator")(tasks)


def predict_in_chunks(estimator, X, method="predict", *, chunk_size=10_000,
                      n_jobs=None, out=None):
    """Call ``estimator.<method>`` on ``X`` chunk by chunk, possibly in parallel.

    Parameters
    ----------
    estimator : fitted estimator
        E.g. a distilled student (``ActiveDistillationClassifier.estimator_``).
    X : array-like, sparse matrix, sequence or pool
        Items to predict; may be far larger than memory
        (:class:`~skakd.pools.NpyPool`, :class:`~skakd.pools.TextFilePool`).
    method : {"predict", "predict_proba", "predict_log_proba", \
"decision_function", "transform"}, default="predict"
        The estimator method to call.
    chunk_size : int, default=10000
        Rows per call (and per joblib task).
    n_jobs : int or None, default=None
        Number of joblib workers, see :func:`map_chunks`.
    out : ndarray or None, default=None
        Where to write the result, e.g. an ``np.memmap`` opened with
        ``np.lib.format.open_memmap``, so that predictions for tens of millions
        of rows never sit in memory at once. ``None`` returns a new array.

    Returns
    -------
    result : ndarray
        ``out`` if given, else the concatenated results.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skakd.parallel import predict_in_chunks
    >>> X = np.linspace(-1, 1, 7).reshape(-1, 1)
    >>> student = LogisticRegression().fit(X, X[:, 0] > 0)
    >>> predict_in_chunks(student, X, chunk_size=3).tolist()
    [False, False, False, False, True, True, True]
    """
    if method not in PREDICT_METHODS:
        raise ValueError(f"method={method!r}; expected one of {PREDICT_METHODS}.")
    if not hasattr(estimator, method):
        raise AttributeError(
            f"estimator {type(estimator).__name__} has no method {method!r}."
        )
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size={chunk_size}; expected an int >= 1.")
    n_rows = _num_rows(X)
    chunks = [slice(b, min(b + chunk_size, n_rows))
              for b in range(0, n_rows, chunk_size)]
    results = map_chunks(_call, X, chunks, n_jobs=n_jobs,
                         args=(_Reused(estimator), method))
    if out is None:
        parts = list(results)
        return np.concatenate(parts) if parts else np.empty(0)
    if len(out) != n_rows:
        raise ValueError(
            f"out has {len(out)} rows; expected {n_rows}, one per row of X."
        )
    for chunk, part in zip(chunks, results):
        out[chunk] = part
    return out


@contextlib.contextmanager
def dask_backend(address=None, **client_kwargs):
    """Run joblib work (this module, ``n_jobs`` in scikit-learn) on a Dask cluster.

    Parameters
    ----------
    address : str, Client or None, default=None
        The scheduler, e.g. ``"tcp://10.0.0.5:8786"`` (start one with
        ``dask scheduler`` and workers with ``dask worker tcp://...:8786`` on
        each machine), or an existing ``dask.distributed.Client``. ``None``
        uses the current client if there is one, else starts a local
        cluster.
    **client_kwargs : dict
        Passed to ``dask.distributed.Client`` when one is created.

    Yields
    ------
    client : dask.distributed.Client

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed; the message names the
        ``skakd[distributed]`` extra.
    """
    try:
        import joblib
        from distributed import Client, default_client
    except ImportError as exc:
        raise ImportError(
            "dask_backend needs dask.distributed, which is not installed: "
            "pip install 'skakd[distributed]' (or dask[distributed])."
        ) from exc
    own = None
    if isinstance(address, Client):
        client = address
    elif address is None and _has_default_client(default_client):
        client = default_client()
    else:
        client = own = Client(address, **client_kwargs)
    try:
        with joblib.parallel_backend("dask", client=client):
            yield client
    finally:
        if own is not None:
            own.close()


def _has_default_client(default_client):
    try:
        default_client()
    except ValueError:
        return False
    return True


def _num_rows(X):
    shape = getattr(X, "shape", None)
    return shape[0] if shape is not None else len(X)


def _rows(X, chunk):
    """What a task receives: a reference to rows of an NpyPool, else the rows."""
    if isinstance(X, NpyPool):
        return _PoolRows(X, chunk)
    if isinstance(chunk, slice):
        if not hasattr(X, "iloc"):
            return X[chunk]  # a view: joblib sends slices of np.memmap by reference
        chunk = np.arange(chunk.start, chunk.stop)
    return take(X, chunk)


class _PoolRows:
    """Rows of a pool, read where the task runs; pickles as path + indices."""

    def __init__(self, pool, chunk):
        self.pool, self.chunk = pool, chunk

    def read(self):
        return self.pool[self.chunk]


def _apply(function, rows, args):
    if isinstance(rows, _PoolRows):
        rows = rows.read()
    return function(rows, *args)


def _call(rows, estimator, method):
    return getattr(estimator.value, method)(rows)


class _Reused:
    """An object that each worker process unpickles once, not once per task.

    joblib pickles a task's arguments with every task. An estimator that
    loads something when first used (a static embedder's vector table, a
    tokenizer) would load it again in every task, which can cost more than
    the task. Copies are keyed by a digest of the pickle, so the same model
    sent again, by this call or by the next one, is the object the worker
    already has, with whatever it has loaded since; a process keeps only the
    last one, so memory stays constant.
    """

    _last = (None, None)  # (key, value) last unpickled in this process

    def __init__(self, value):
        self.value = value
        self._state = None

    def __getstate__(self):
        if self._state is None:  # pickled once, however many tasks carry it
            data = cloudpickle.dumps(self.value)
            self._state = (hashlib.sha256(data).hexdigest(), data)
        return self._state

    def __setstate__(self, state):
        key, data = state
        if _Reused._last[0] != key:
            _Reused._last = (None, None)  # free the old value before loading
            _Reused._last = (key, cloudpickle.loads(data))
        self.value = _Reused._last[1]
        self._state = state
