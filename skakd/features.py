"""Precompute the features (e.g. sentence embeddings) of a pool once, on disk.

Embedding millions of texts is the expensive part of distilling at scale;
:func:`precompute_features` does it once, chunk by chunk (in parallel
through joblib, so on a Dask cluster too), into a ``.npy`` file next to a
JSON manifest, and can pick up where an interrupted run stopped.
"""

import json
import os
from pathlib import Path

import numpy as np

from .parallel import map_chunks
from .pools import NpyPool

__all__ = ["precompute_features", "read_manifest"]


def precompute_features(transformer, X, path, *, dtype="float32", chunk_size=10_000,
                        n_jobs=None, model=None):
    """Transform ``X`` chunk by chunk into a memory-mappable ``.npy`` file.

    The file gets a manifest, ``<path>.json``, recording the model, the
    feature dimension, the dtype, the row count and how many rows are done.
    Calling again with the same ``model`` and row count resumes after the last
    finished chunk (or returns at once if all are done), so an interrupted
    run loses at most the chunks in flight.

    Parameters
    ----------
    transformer : fitted transformer
        Anything with ``transform(items) -> array of shape (n, d)``, e.g.
        :class:`skakd.text.SentenceEmbedder` or a fitted scikit-learn
        Pipeline. Sparse output is densified chunk by chunk.
    X : array-like, sequence or pool
        The items, e.g. a :class:`~skakd.pools.TextFilePool`; only one
        chunk per worker is read at a time.
    path : str or path-like
        Where to write the ``.npy`` file.
    dtype : {"float32", "float16"}, default="float32"
        Stored dtype; float16 halves the file (10^7 x 384 is 7.7 GB).
    chunk_size : int, default=10000
        Rows transformed per call, per joblib task and per manifest update.
    n_jobs : int or None, default=None
        Parallel workers, see :func:`skakd.parallel.map_chunks`.
    model : str or None, default=None
        Identifies the transformer in the manifest; a resumed run must give
        the same. ``None`` uses ``repr(transformer)``.

    Returns
    -------
    pool : NpyPool
        The features, read on demand; ``np.load(path, mmap_mode="r")`` maps
        the same file.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.feature_extraction.text import HashingVectorizer
    >>> from skakd.features import precompute_features, read_manifest
    >>> texts = ["a cat", "a dog", "the cat sat", "dogs bark"]
    >>> path = os.path.join(tempfile.mkdtemp(), "feats.npy")
    >>> pool = precompute_features(HashingVectorizer(n_features=8), texts, path,
    ...                            chunk_size=3)
    >>> pool.shape, read_manifest(path)["n_rows_done"]
    ((4, 8), 4)
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.float16, np.float32, np.float64):
        raise ValueError(f"dtype={dtype}; expected float16, float32 or float64.")
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size={chunk_size}; expected an int >= 1.")
    path = Path(path)
    n_rows = len(X)
    manifest = {
        "model": repr(transformer) if model is None else str(model),
        "dtype": dtype.name,
        "n_rows": n_rows,
        "chunk_size": int(chunk_size),
    }
    done = _resume_point(path, manifest)
    chunks = [slice(b, min(b + chunk_size, n_rows))
              for b in range(done, n_rows, chunk_size)]
    results = map_chunks(_transform, X, chunks, n_jobs=n_jobs,
                         args=(transformer, dtype))
    features = None
    for chunk, part in zip(chunks, results):
        if features is None:
            features = _open_output(path, manifest, part.shape[1], dtype)
        features[chunk] = part
        features.flush()  # rows reach the file before the manifest counts them
        _write_manifest(path, {**manifest, "n_rows_done": chunk.stop})
    if features is None and done == 0:  # no rows at all
        features = _open_output(path, manifest, 0, dtype)
        _write_manifest(path, {**manifest, "n_rows_done": 0})
    del features
    return NpyPool(path)


def read_manifest(path):
    """The manifest of a features file, or ``None`` if there is none.

    Parameters
    ----------
    path : str or path-like
        The ``.npy`` file passed to :func:`precompute_features`.

    Returns
    -------
    manifest : dict or None
        ``model``, ``dtype``, ``n_rows``, ``n_features``, ``chunk_size``,
        ``n_rows_done``.
    """
    manifest = _manifest_path(Path(path))
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text())


def _transform(rows, transformer, dtype):
    features = transformer.transform(rows)
    if hasattr(features, "toarray"):
        features = features.toarray()
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] != len(rows):
        raise ValueError(
            f"transformer {type(transformer).__name__} returned shape "
            f"{features.shape} for {len(rows)} items; expected (n_items, n_features)."
        )
    return features.astype(dtype, copy=False)


def _manifest_path(path):
    return path.with_name(path.name + ".json")


def _resume_point(path, manifest):
    """Rows already done by an earlier run with the same settings, else 0."""
    previous = read_manifest(path)
    if previous is None or not path.exists():
        return 0
    same = {k: previous.get(k) for k in manifest}
    if same != manifest:
        raise ValueError(
            f"path {os.fspath(path)!r} holds features made with {same}; expected "
            f"{manifest}. Remove the file and its manifest, or choose another path."
        )
    return int(previous["n_rows_done"])


def _open_output(path, manifest, n_features, dtype):
    manifest["n_features"] = int(n_features)
    shape = (manifest["n_rows"], int(n_features))
    if path.exists():
        if read_manifest(path) is None:
            raise FileExistsError(
                f"path {os.fspath(path)!r} exists and has no manifest, so it "
                "was not written by precompute_features; expected a new path."
            )
        features = np.lib.format.open_memmap(path, mode="r+")
        if features.shape != shape:
            raise ValueError(
                f"path {os.fspath(path)!r} holds features of shape "
                f"{features.shape}; the transformer now gives {shape}."
            )
        return features
    path.parent.mkdir(parents=True, exist_ok=True)
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)


def _write_manifest(path, manifest):
    # Write then rename: a crash leaves the old manifest or the new one.
    target = _manifest_path(path)
    partial = target.with_name(target.name + ".tmp")
    partial.write_text(json.dumps(manifest, indent=2))
    os.replace(partial, target)
