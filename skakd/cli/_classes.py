"""``--classes``: the label set, as a comma list or a file with descriptions.

A classes file is enough to start a run without ``--seed``: its names are
the label set, and its descriptions and example texts go to an LLM
teacher's prompt (``class_descriptions``, ``examples``). A ``.csv`` file has
a ``name`` column and optional ``description`` and ``example`` columns (a
class may take several rows, one example each); a ``.jsonl`` file holds
objects ``{"name": ..., "description": ..., "examples": [...]}``.
"""

from dataclasses import dataclass, field
from pathlib import Path

from ._io import InputError, _iter_records

__all__ = ["Taxonomy", "read_classes"]

FILE_SUFFIXES = (".csv", ".jsonl", ".json")


@dataclass
class Taxonomy:
    """The classes of a run, and what is said of them.

    Attributes
    ----------
    names : list of str
        The label set, sorted.
    descriptions : dict
        ``name -> description`` for the classes that have one.
    examples : list of (str, str)
        ``(text, name)`` example texts.
    """

    names: list
    descriptions: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)


def read_classes(value, encoding="utf-8-sig"):
    """The :class:`Taxonomy` of ``--classes VALUE`` (``None`` when not given).

    ``VALUE`` is a file when it ends in ``.csv``, ``.jsonl`` or ``.json``,
    else a comma list of names.
    """
    if value is None:
        return None
    if Path(value).suffix.lower() not in FILE_SUFFIXES:
        names = sorted({name.strip() for name in value.split(",") if name.strip()})
        return Taxonomy(names)
    taxonomy = Taxonomy([])
    for line, record in _iter_records(value, encoding):
        name = _field(record, "name", value, line, required=True)
        if name not in taxonomy.names:
            taxonomy.names.append(name)
        description = _field(record, "description", value, line)
        if description:
            taxonomy.descriptions.setdefault(name, description)
        examples = record.get("examples") or []
        if isinstance(examples, str) or not isinstance(examples, list):
            examples = [examples]
        examples += [_field(record, "example", value, line)]
        taxonomy.examples += [(str(text), name) for text in examples if text]
    if not taxonomy.names:
        raise InputError(f"--classes {value}: no rows; expected one class a row.")
    taxonomy.names.sort()
    return taxonomy


def _field(record, column, path, line, required=False):
    value = record.get(column)
    if value in (None, "") and required:
        raise InputError(
            f"--classes {path}, line {line}: no {column!r}; expected a class "
            "name on every row (columns name, description, example).")
    return None if value in (None, "") else str(value).strip()
