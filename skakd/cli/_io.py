"""The command line's tables: CSV and JSON Lines, read and written as streams.

Rows are read one at a time (never the whole file), so scoring a file larger
than memory keeps memory constant. Every problem with the user's files is an
:class:`InputError` naming the file, the line and what was expected.
"""

import codecs
import csv
import json
import os
from pathlib import Path

__all__ = [
    "InputError",
    "RunFailed",
    "RowWriter",
    "check_output",
    "create_folder",
    "iter_chunks",
    "read_table",
]

JSONL_SUFFIXES = (".jsonl", ".ndjson")


class InputError(Exception):
    """A problem with the user's input: reported in one line, no traceback."""


class RunFailed(Exception):
    """A run that failed once started (a teacher's error, a student's): its
    message is the one line that names the cause and what was kept."""


def is_jsonl(path):
    return Path(path).suffix.lower() in JSONL_SUFFIXES


def read_table(path, text_column, label_column=None, *, encoding="utf-8-sig",
               separator=None):
    """Read a whole (small) table: its texts, and labels if asked for.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` file with a header row, or a ``.jsonl`` file of objects.
    text_column : str
        Column holding the texts.
    label_column : str or None
        Column holding the labels; ``None`` reads texts only.
    encoding : str, default="utf-8-sig"
        Text encoding (UTF-8, with or without a byte-order mark).
    separator : str or None, default=None
        Multi-label files: each label cell holds the labels of its text
        joined by ``separator`` (empty for none), or a JSON list (JSONL).

    Returns
    -------
    texts : list of str
    labels : list of str (tuples of str for multi-label files) or None
        Labels as strings (JSON numbers become their text, so that a CSV and
        a JSONL version of the same data give the same classes).
    """
    texts, labels = [], []
    for line, record in _iter_records(path, encoding):
        texts.append(_text(record, text_column, path, line))
        if label_column is not None and separator is not None:
            labels.append(_label_set(record, label_column, path, line, separator))
        elif label_column is not None:
            labels.append(_label(record, label_column, path, line))
    if not texts:
        raise InputError(f"{path} has no rows; expected at least one row of data.")
    return texts, (labels if label_column is not None else None)


def iter_chunks(path, text_column, chunk_size, *, encoding="utf-8-sig"):
    """Yield ``(records, texts)`` lists of at most ``chunk_size`` rows.

    ``records`` are the rows as dicts (to copy columns into the output),
    ``texts`` their ``text_column``.
    """
    records, texts, n_rows = [], [], 0
    for line, record in _iter_records(path, encoding):
        text = record.get(text_column)
        if text.__class__ is not str:  # per-row cost matters: millions of rows
            text = _text(record, text_column, path, line)  # or a clear error
        texts.append(text)
        records.append(record)
        n_rows += 1
        if len(records) == chunk_size:
            yield records, texts
            records, texts = [], []
    if records:
        yield records, texts
    if n_rows == 0:
        raise InputError(f"{path} has no rows; expected at least one row of data.")


def _iter_records(path, encoding):
    """Yield ``(line_number, record_dict)``, turning every failure into InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise InputError(f"--encoding {encoding!r} is not a known encoding.") from None
    jsonl = is_jsonl(path)
    # Decoded by the io module, in blocks: a Python decode call per line
    # cost as much as parsing the line. JSON Lines end at "\n" only.
    with path.open(encoding=encoding, newline="\n" if jsonl else "") as handle:
        try:
            yield from _jsonl(handle, path) if jsonl else _csv(handle, path)
        except UnicodeDecodeError:
            raise _decode_error(path, encoding) from None


def _decode_error(path, encoding):
    """The InputError naming the first line of ``path`` that does not decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                return InputError(
                    f"{path}, line {number}: cannot decode it as {encoding} "
                    f"({exc.reason}, byte {raw[exc.start:exc.start + 1]!r}); save "
                    "the file as UTF-8 or pass its encoding with --encoding."
                )
    return InputError(
        f"{path} ends inside a character: cannot decode it as {encoding}; save "
        "the file as UTF-8 or pass its encoding with --encoding."
    )


def _csv(lines, path):
    """Yield ``(line_number, record_dict)`` as csv.DictReader would, faster.

    Blank lines are skipped and a short row's missing columns are None;
    cells past the header are dropped.
    """
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if not header:
            raise InputError(
                f"{path} is empty; expected a header row naming the columns, "
                "then one row per text."
            )
        width = len(header)
        for row in reader:
            if len(row) < width:
                if not row:
                    continue
                row += [None] * (width - len(row))
            yield reader.line_num, dict(zip(header, row))
    except csv.Error as exc:
        raise InputError(
            f"{path}, line {reader.line_num}: not valid CSV ({exc})."
        ) from None


def _jsonl(lines, path):
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}, line {number}: not valid JSON ({exc.msg}); expected "
                "one JSON object per line."
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                f"{path}, line {number}: got a JSON {type(record).__name__}; "
                "expected one JSON object per line, e.g. {\"text\": \"...\"}."
            )
        yield number, record


def _value(record, column, path, line, option):
    if column not in record:
        raise InputError(
            f"{path}, line {line}: no column {column!r} (columns: "
            f"{', '.join(map(repr, record))}); name the right one with {option}."
        )
    value = record[column]
    if value is None:
        raise InputError(
            f"{path}, line {line}: column {column!r} is missing a value; "
            "expected one on every row."
        )
    return value


def _text(record, column, path, line):
    value = _value(record, column, path, line, "--text-column")
    if not isinstance(value, str):
        raise InputError(
            f"{path}, line {line}: column {column!r} holds {value!r}; expected "
            "a text."
        )
    return value


def _label(record, column, path, line):
    value = _value(record, column, path, line, "--label-column")
    label = value if isinstance(value, str) else json.dumps(value)
    if label == "":
        raise InputError(
            f"{path}, line {line}: column {column!r} is empty; expected a label "
            "on every row."
        )
    return label


def _label_set(record, column, path, line, separator):
    value = _value(record, column, path, line, "--label-column")
    if isinstance(value, list):
        labels = [v if isinstance(v, str) else json.dumps(v) for v in value]
    elif isinstance(value, str):
        labels = [label.strip() for label in value.split(separator)]
    else:
        raise InputError(
            f"{path}, line {line}: column {column!r} holds {value!r}; expected "
            f"labels joined by {separator!r} (--label-separator) or a JSON list."
        )
    return tuple(dict.fromkeys(label for label in labels if label))


def check_output(path, example, option="--out"):
    """Check that the file ``path`` can be written; create nothing yet.

    A folder that does not exist is fine (:func:`create_folder` makes it
    once the other checks have passed); a path that is a folder, or under a
    file, or in a folder that cannot be written, is an :class:`InputError`.
    ``example`` is a file name to suggest when ``path`` is a folder.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"{option} {path} is a folder; expected a file name, e.g. "
            f"{option} {path / example}."
        )
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(
            f"{option} {path}: {existing} is a file, not a folder; choose "
            "another path."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"{option} {path}: cannot write in the folder {existing} "
            "(permission denied); choose another path."
        )


def create_folder(path, option="--out"):
    """Create the folder of the file ``path`` (and its parents) if missing."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{option} {path}: cannot create the folder {folder} "
            f"({exc.strerror or exc}); choose another path."
        ) from None


class RowWriter:
    """Write dict rows to a CSV file (with a header) or a JSONL file.

    Use as a context manager; rows go to disk as they are written. The
    format follows ``path``'s suffix unless ``like`` names another path.
    """

    def __init__(self, path, fieldnames, like=None):
        self.path = Path(path)
        self.fieldnames = list(fieldnames)
        self.like = like

    def __enter__(self):
        self._handle = self.path.open("w", encoding="utf-8", newline="")
        if is_jsonl(self.path if self.like is None else self.like):
            self._writer = None
        else:
            self._writer = csv.writer(self._handle)
            self._writer.writerow(self.fieldnames)
        return self

    def write(self, rows):
        """Write dict rows; a missing column is empty, an extra one ignored."""
        if self._writer is not None:
            self.write_values([row.get(name, "") for name in self.fieldnames]
                              for row in rows)
            return
        for row in rows:
            self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def write_values(self, rows):
        """Write rows of values in the order of ``fieldnames`` (no dicts: faster)."""
        if self._writer is not None:
            self._writer.writerows(rows)
            return
        self.write(dict(zip(self.fieldnames, row)) for row in rows)

    def __exit__(self, *exc_info):
        self._handle.close()
