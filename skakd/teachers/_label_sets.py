"""Multi-label answers of the LLM teachers: ``{"items": [{"id", "labels"}]}``.

The schema lists the allowed labels as the enum of each entry's ``labels``
array; an empty array is an answer (none of the classes applies), a label
outside the classes makes the item's answer malformed. Pure functions, like
:mod:`._prompts`, whose answer reading they share.
"""

from .._items import label_matcher
from ._prompts import (
    LABEL_TOOL,
    Prompt,
    _answer_list,
    _list_schema,
    _short,
    _temperature,
    entry_id,
    label_system_prompt,
    label_user_message,
)

__all__ = ["MULTI_LABEL_RULE", "label_sets_prompt", "label_sets_schema",
           "parse_label_sets"]

MULTI_LABEL_RULE = (
    "Each text may carry any number of classes: give it every class that "
    "applies, and an empty list when none does."
)


def label_sets_prompt(model, texts, names, *, class_descriptions=None,
                      instructions=None, examples=None, temperature=0.0):
    """The :class:`Prompt` that asks for the label set of each of ``texts``.

    Its system prompt and schema differ from the single-label prompt's, so
    the teachers' cache keys its answers apart.

    Examples
    --------
    >>> from skakd.teachers._label_sets import label_sets_prompt
    >>> prompt = label_sets_prompt("m", ["late refund"], ["billing", "refund"])
    >>> "empty list" in prompt.system, prompt.tool
    (True, 'label_items')
    """
    rule = f"{instructions} {MULTI_LABEL_RULE}" if instructions else MULTI_LABEL_RULE
    system = label_system_prompt(names, class_descriptions, rule, examples).replace(
        "and a label copied", "and its labels copied", 1)
    return Prompt(model, system, label_user_message(texts), LABEL_TOOL,
                  "Record the classes of every item, one entry per item id.",
                  label_sets_schema(names), _temperature(temperature))


def label_sets_schema(names):
    """JSON schema of ``{"items": [{"id", "labels": [...]}]}``, labels from
    ``names``.

    Examples
    --------
    >>> from skakd.teachers._label_sets import label_sets_schema
    >>> entry = label_sets_schema(["a", "b"])["properties"]["items"]["items"]
    >>> entry["properties"]["labels"]["items"]
    {'type': 'string', 'enum': ['a', 'b']}
    """
    return _list_schema("items", {
        "id": {"type": "integer"},
        "labels": {"type": "array", "items": {"type": "string", "enum": list(names)}},
    })


def parse_label_sets(reply, n_items, names):
    """Check a multi-label answer.

    Returns
    -------
    labels : list of tuple or None
        One label tuple per item (``()`` for none of the classes), ``None``
        where the answer gave no valid set.
    problems : list of str
        What was wrong, for the corrective message.

    Examples
    --------
    >>> from skakd.teachers._prompts import Reply
    >>> from skakd.teachers._label_sets import parse_label_sets
    >>> reply = Reply({"items": [{"id": 0, "labels": ["b", "a"]},
    ...                          {"id": 1, "labels": []},
    ...                          {"id": 2, "labels": ["a", "HACKED"]}]})
    >>> parse_label_sets(reply, 3, ["a", "b"])
    ([('b', 'a'), (), None], ["item 2: label 'HACKED' is not one of the classes"])
    """
    entries, problem = _answer_list(reply, "items", LABEL_TOOL)
    if problem:
        return [None] * n_items, [problem]
    match = label_matcher(names)
    labels, problems, seen = [None] * n_items, [], set()
    for entry in entries:
        item_id = entry_id(entry, n_items, problems)
        if item_id is None:
            continue
        answer, why = _label_set(entry.get("labels"), match, item_id)
        if item_id in seen:
            if labels[item_id] != answer:
                problems.append(f"item {item_id}: answered twice, differently")
                labels[item_id] = None
            continue
        seen.add(item_id)
        if why:
            problems.append(why)
        labels[item_id] = answer
    missing = sorted(set(range(n_items)) - seen)
    if missing:
        problems.append(f"items {missing[:20]} have no labels")
    return labels, problems


def _label_set(value, match, item_id):
    """``(labels, problem)``: the set as a tuple of class names, or ``None``
    and why not."""
    if not isinstance(value, list):
        return None, f"item {item_id}: labels {_short(value)} is not a list"
    matched = [match(label) for label in value]
    for label, name in zip(value, matched):
        if name is None:
            return None, (f"item {item_id}: label {_short(label)} is not one "
                          "of the classes")
    return tuple(dict.fromkeys(matched)), None
