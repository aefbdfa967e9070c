"""HumanReview: a person labels, through a file, what no teacher was sure of."""

import csv
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from sklearn.utils._param_validation import StrOptions

from .._items import check_texts
from ..reasons import AWAITING_REVIEW
from ._base import UNLABELED, BaseTeacher, TeacherResult
from ._prompts import class_names

__all__ = ["HumanReview"]

_FIELDS = ("text", "label")
#: How a person writes the empty label set, "none of these".
_NO_LABELS = "[]"


class HumanReview(BaseTeacher):
    """A person as a teacher: items go to a review file, labels come back.

    ``label`` reads the review file first: items a person has labelled
    there are answered (source ``"human"``, confidence 1); the others are
    added to the file with an empty label (once: an item already waiting
    is not written again) and answered :data:`~skakd.teachers.UNLABELED`
    with the reason ``"awaiting_review"``, to be asked again by a later
    call. Labels cost nothing here. As the last stage of a
    :class:`TeacherCascade`, it receives the items no teacher was sure of.

    The file is UTF-8 CSV with the header ``text,label`` (the format of
    skakd's datasets: open it in a spreadsheet), or JSON Lines
    ``{"text": ..., "label": null}`` for ``.jsonl``/``.json`` names. A label
    is one of the classes as written in the file (``str(class)``); a label
    outside the classes is an error naming the line. A label set (asked
    with ``multi_label=True``) is its labels joined by ``|`` in CSV
    (``billing|refund``) or a list in JSON Lines, and the empty set ("none
    of these") is written ``[]`` in both: an empty cell or ``null`` is an
    item not reviewed yet.

    Parameters
    ----------
    path : str or path-like
        The review file; created with its header at the first item to
        review.
    file_format : {"csv", "jsonl"} or None, default=None
        ``None`` picks by the name's suffix (``.jsonl``/``.json`` for JSON
        Lines, anything else CSV).

    Examples
    --------
    >>> import os, tempfile
    >>> from skakd.teachers import HumanReview
    >>> path = os.path.join(tempfile.mkdtemp(), "review.csv")
    >>> person = HumanReview(path)
    >>> person.label(["lost my card", "refund?"], ["card", "refund"]).reasons
    ['awaiting_review', 'awaiting_review']
    >>> print(open(path).read().strip())
    text,label
    lost my card,
    refund?,
    >>> with open(path, "w") as f:  # the person fills in one label
    ...     _ = f.write("text,label\\nlost my card,card\\nrefund?,\\n")
    >>> result = person.label(["lost my card", "refund?"], ["card", "refund"])
    >>> result.labels, result.sources
    (['card', None], ['human', None])
    """

    _parameter_constraints: dict = {
        "path": [str, os.PathLike],
        "file_format": [StrOptions({"csv", "jsonl"}), None],
    }

    def __init__(self, path, *, file_format=None):
        self.path = path
        self.file_format = file_format

    def label(self, items, classes, multi_label=False):
        """Answer the items a person labelled; queue the others for review.

        Parameters
        ----------
        items : sequence of str
            The texts.
        classes : sequence
            The labels to answer from.
        multi_label : bool, default=False
            Read a label set per item (a tuple of classes, ``()`` for
            ``[]``).

        Returns
        -------
        result : TeacherResult
            The person's labels (confidence 1, source ``"human"``), or
            ``None`` with the reason ``"awaiting_review"``; ``info`` has
            ``n_written`` (items added to the file) and ``n_awaiting_review``.
        """
        self._validate_params()
        start = time.perf_counter()
        items = list(items) if isinstance(items, Iterator) else items
        texts = check_texts(items, "items", hint="a person reviews texts.").tolist()
        _, by_name = class_names(classes)
        reviewed = self._read(by_name, multi_label)
        waiting = [t for t in dict.fromkeys(texts) if t not in reviewed]
        self._append(waiting)
        labels = [reviewed.get(t, UNLABELED) for t in texts]
        known = [label is not UNLABELED for label in labels]
        return TeacherResult(
            labels=labels,
            confidence=[1.0 if k else None for k in known],
            sources=["human" if k else None for k in known],
            reasons=None if all(known) else [None if k else AWAITING_REVIEW
                                             for k in known],
            latency=time.perf_counter() - start,
            info={"n_written": len(waiting),
                  "n_awaiting_review": len(labels) - sum(known)},
        )

    def reviewed(self, classes, multi_label=False):
        """The labels a person has filled in the file, ``{text: class}``
        (``{text: tuple of classes}`` with ``multi_label``).

        Nothing is written: a look at the file, e.g. to answer from it
        before any teacher is asked.
        """
        self._validate_params()
        found = self._read(class_names(classes)[1], multi_label)
        return {text: label for text, label in found.items()
                if label is not UNLABELED}

    def estimate_cost(self, items_or_n, classes=None):
        """A person's labels cost nothing here: 0.0."""
        return 0.0

    def _format(self):
        if self.file_format is not None:
            return self.file_format
        return "jsonl" if Path(self.path).suffix.lower() in (".jsonl", ".json") \
            else "csv"

    def _read(self, by_name, multi_label=False):
        """``{text: class, label set or UNLABELED}`` of every item in the file."""
        path = Path(self.path)
        if not path.is_file():
            return {}
        rows = {}
        for line, text, label in self._rows(path):
            if label is None or (isinstance(label, str) and not label.strip()):
                rows.setdefault(text, UNLABELED)
                continue
            names = _label_set(label) if multi_label else [str(label).strip()]
            for name in names:
                if name not in by_name:
                    raise ValueError(
                        f"{path}, line {line}: label {name!r} is not one of the "
                        f"classes {sorted(by_name)}; correct it or leave it empty."
                    )
            found = [by_name[name] for name in names]
            rows[text] = tuple(dict.fromkeys(found)) if multi_label else found[0]
        return rows

    def _rows(self, path):
        """``(line number, text, label)`` of each item of the file."""
        with path.open(newline="", encoding="utf-8") as handle:
            if self._format() == "csv":
                reader = csv.DictReader(handle)
                if not set(_FIELDS) <= set(reader.fieldnames or ()):
                    raise ValueError(
                        f"{path} has columns {reader.fieldnames}; expected the "
                        "header 'text,label'."
                    )
                for row in reader:
                    yield reader.line_num, row["text"], row["label"]
                return
            for number, raw in enumerate(handle, start=1):
                if raw.strip():
                    entry = _json_entry(raw, path, number)
                    yield number, entry["text"], entry.get("label")

    def _append(self, texts):
        if not texts:
            return
        path = Path(self.path)
        new = not path.is_file() or path.stat().st_size == 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", newline="", encoding="utf-8") as handle:
            if self._format() == "jsonl":
                handle.writelines(json.dumps({"text": t, "label": None},
                                             ensure_ascii=False) + "\n"
                                  for t in texts)
                return
            writer = csv.writer(handle, lineterminator="\n")
            if new:
                writer.writerow(_FIELDS)
            writer.writerows((t, "") for t in texts)


def _label_set(label):
    """The class names of a reviewed label set: a list, ``[]``, or names
    joined by ``|``."""
    if isinstance(label, (list, tuple)):
        return [str(name).strip() for name in label]
    label = str(label).strip()
    if label == _NO_LABELS:
        return []
    return [name.strip() for name in label.split("|")]


def _json_entry(raw, path, number):
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}, line {number}: not JSON ({exc.msg}).") from None
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str):
        raise ValueError(
            f"{path}, line {number}: expected an object with a 'text' string and "
            "a 'label'."
        )
    return entry
