"""Pools read from files: on-disk rows, read only when visited."""

import csv
import io
import json
import numbers
import os
from pathlib import Path

import numpy as np

__all__ = ["BasePool", "NpyPool", "TextFilePool"]

ITER_CHUNK_SIZE = 10_000  # rows read at a time when iterating over a pool


class BasePool:
    """Base class for pools read lazily, row by row.

    Subclasses implement ``__len__``, ``_read(indices)`` (rows at an array of
    non-negative indices, in that order) and set ``dtype``/``shape``.
    ``pool[i]`` returns one item; ``pool[indices]``, ``pool[mask]`` and
    ``pool[a:b]`` return an array of items. ``shape`` is what makes
    scikit-learn's ``_safe_indexing`` (used by the samplers) call
    ``pool[indices]`` once rather than item by item.
    """

    def __getitem__(self, key):
        if isinstance(key, tuple) and len(key) == 2 and key[1] is Ellipsis:
            key = key[0]  # scikit-learn indexes arrays as X[key, ...]
        if isinstance(key, numbers.Integral):
            return self._read(self._check_indices(np.array([key])))[0]
        if isinstance(key, slice):
            return self._read(np.arange(*key.indices(len(self)), dtype=np.intp))
        return self._read(self._check_indices(np.asarray(key)))

    def __iter__(self):
        for begin in range(0, len(self), ITER_CHUNK_SIZE):
            yield from self[begin : begin + ITER_CHUNK_SIZE]

    @property
    def ndim(self):
        return len(self.shape)

    def _check_indices(self, indices):
        if indices.dtype == bool:
            if indices.shape != (len(self),):
                raise IndexError(
                    f"boolean index has shape {indices.shape}; expected "
                    f"({len(self)},) for {self!r}."
                )
            return np.flatnonzero(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise IndexError(
                f"index must be an int, a slice or a 1-D array of ints or "
                f"booleans; got an array of dtype {indices.dtype} and shape "
                f"{indices.shape}."
            )
        indices = indices.astype(np.intp, copy=False)
        indices = np.where(indices < 0, indices + len(self), indices)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(
                f"index out of range for {self!r}: expected indices in "
                f"[{-len(self)}, {len(self)})."
            )
        return indices

    def __getstate__(self):
        # Pickle the reference, not the open file or the row index: worker
        # processes reopen the file and read their own rows.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class NpyPool(BasePool):
    """Numeric rows of a ``.npy`` file (e.g. precomputed embeddings), read on demand.

    Rows are read with positional reads (``os.pread``) into fresh arrays, not
    through a memory map, so scoring the whole pool chunk by chunk keeps the
    resident memory of the process at one chunk: nothing of the file stays
    mapped into it.

    Parameters
    ----------
    path : str or path-like
        A 2-D C-ordered ``.npy`` file, as written by :func:`numpy.save`,
        :func:`numpy.lib.format.open_memmap` or
        :func:`skakd.features.precompute_features`.
    n_rows : int or None, default=None
        Use only the first ``n_rows`` rows (e.g. the finished part of a file
        still being written). ``None`` uses all of them.

    Attributes
    ----------
    shape : tuple of int
        ``(n_rows, n_features)``.
    dtype : numpy.dtype
        The stored dtype (e.g. float16); rows are returned in it.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skakd.pools import NpyPool
    >>> path = os.path.join(tempfile.mkdtemp(), "pool.npy")
    >>> np.save(path, np.arange(12, dtype=np.float32).reshape(4, 3))
    >>> pool = NpyPool(path)
    >>> pool.shape, pool[[3, 0]].tolist()
    ((4, 3), [[9.0, 10.0, 11.0], [0.0, 1.0, 2.0]])
    """

    def __init__(self, path, n_rows=None):
        self.path = os.fspath(path)
        self.n_rows = n_rows
        self._open()

    def _open(self):
        # A read-only memory map parses the header without reading any row.
        mapped = np.load(self.path, mmap_mode="r")
        if mapped.ndim != 2 or not mapped.flags.c_contiguous or mapped.dtype.hasobject:
            raise ValueError(
                f"path {self.path!r} holds an array of shape {mapped.shape} "
                f"and dtype {mapped.dtype}; expected a 2-D C-ordered numeric "
                "array."
            )
        n_rows = mapped.shape[0] if self.n_rows is None else self.n_rows
        if not 0 <= n_rows <= mapped.shape[0]:
            raise ValueError(
                f"n_rows={self.n_rows} is out of range for {self.path!r}, "
                f"which has {mapped.shape[0]} rows."
            )
        self.dtype, self.shape = mapped.dtype, (n_rows, mapped.shape[1])
        self._offset = mapped.offset
        self._row_bytes = mapped.dtype.itemsize * mapped.shape[1]

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._open()

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"NpyPool({self.path!r}, shape={self.shape}, dtype={self.dtype})"

    def _read(self, indices):
        out = np.empty((len(indices), self.shape[1]), dtype=self.dtype)
        if len(indices) == 0:
            return out
        # Read runs of consecutive rows with one call each: a slice is one
        # read, a random sample one read per row.
        order = np.argsort(indices, kind="stable")
        sorted_idx = indices[order]
        breaks = np.flatnonzero(np.diff(sorted_idx) != 1) + 1
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for run in np.split(np.arange(len(indices)), breaks):
                first, count = int(sorted_idx[run[0]]), len(run)
                data = os.pread(fd, count * self._row_bytes,
                                self._offset + first * self._row_bytes)
                out[order[run]] = np.frombuffer(data, self.dtype).reshape(count, -1)
        finally:
            os.close(fd)
        return out


class TextFilePool(BasePool):
    """Texts of one column of a CSV or JSON Lines file, read on demand.

    The first access scans the file once to record where each record
    starts (8 bytes per row, kept in memory); afterwards reading rows
    seeks straight to them. Texts are returned as a 1-D object array, like
    the in-memory text pools.

    Parameters
    ----------
    path : str or path-like
        A CSV file with a header row, or a JSON Lines file (one JSON object
        per line), UTF-8 encoded.
    column : str, default="text"
        The CSV column or JSON key holding the text.
    file_format : {"csv", "jsonl"} or None, default=None
        ``None`` infers it from the file suffix (``.jsonl``/``.ndjson`` are
        JSON Lines, anything else CSV).

    Examples
    --------
    >>> import tempfile, os
    >>> from skakd.pools import TextFilePool
    >>> path = os.path.join(tempfile.mkdtemp(), "pool.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write('text,label\\nhello,a\\n"two\\nlines, quoted",b\\nbye,a\\n')
    >>> pool = TextFilePool(path)
    >>> len(pool), pool[[2, 1]].tolist()
    (3, ['bye', 'two\\nlines, quoted'])
    """

    dtype = np.dtype(object)

    def __init__(self, path, column="text", file_format=None):
        self.path = os.fspath(path)
        self.column = column
        self.file_format = file_format

    def __len__(self):
        return len(self._starts()) - 1

    @property
    def shape(self):
        return (len(self),)

    def __repr__(self):
        return f"TextFilePool({self.path!r}, column={self.column!r})"

    def _format(self):
        if self.file_format is not None:
            if self.file_format not in ("csv", "jsonl"):
                raise ValueError(
                    f"file_format={self.file_format!r}; expected 'csv', 'jsonl' "
                    "or None."
                )
            return self.file_format
        suffix = Path(self.path).suffix.lower()
        return "jsonl" if suffix in (".jsonl", ".ndjson") else "csv"

    def _starts(self):
        """Byte offset of every record, plus the end of the file."""
        if getattr(self, "_offsets", None) is None:
            self._offsets, self._field = self._index()
        return self._offsets

    def _index(self):
        is_csv = self._format() == "csv"
        starts, field = [], None
        with open(self.path, "rb") as handle:
            if is_csv:
                header = next(csv.reader([handle.readline().decode("utf-8")]))
                if self.column not in header:
                    raise ValueError(
                        f"column={self.column!r} is not in the header of "
                        f"{self.path!r}; expected one of {header}."
                    )
                field = header.index(self.column)
            position, open_quotes = handle.tell(), 0
            for line in handle:
                # A CSV record ends at a newline outside quotes: quotes come
                # in pairs (doubled when escaped), so an even running count
                # means the record is complete.
                if open_quotes == 0 and line.strip():
                    starts.append(position)
                if is_csv:
                    open_quotes = (open_quotes + line.count(b'"')) % 2
                position += len(line)
            starts.append(position)
        return np.asarray(starts, dtype=np.int64), field

    def _read(self, indices):
        starts = self._starts()
        out = np.empty(len(indices), dtype=object)
        with open(self.path, "rb") as handle:
            for i, row in enumerate(indices):
                handle.seek(starts[row])
                out[i] = self._parse(handle.read(starts[row + 1] - starts[row]), row)
        return out

    def _parse(self, record, row):
        text = record.decode("utf-8")
        if self._field is not None:
            return next(csv.reader(io.StringIO(text)))[self._field]
        value = json.loads(text).get(self.column)
        if not isinstance(value, str):
            raise ValueError(
                f"record {row} of {self.path!r} has {self.column!r}="
                f"{value!r:.40}; expected a string."
            )
        return value
