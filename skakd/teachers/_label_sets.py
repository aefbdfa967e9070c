"""Multi-label answers of the LLM teachers: ``{"items": [{"id", "labels"}]}``,
and generated texts with label sets, ``{"samples": [{"text", "labels"}]}``.

The schema lists the allowed labels as the enum of each entry's ``labels``
array; an empty array is an answer (none of the classes applies), a label
outside the classes makes the item's answer (or the written sample)
malformed. Pure functions, like :mod:`._prompts`, whose answer reading they
share.
"""

import dataclasses

from .._items import label_matcher
from ._prompts import (
    LABEL_TOOL,
    SAMPLES_TOOL,
    Prompt,
    _answer_list,
    _list_schema,
    _short,
    _temperature,
    entry_id,
    label_system_prompt,
    label_user_message,
    samples_prompt,
)

__all__ = ["MULTI_LABEL_RULE", "label_set_samples_prompt",
           "label_set_samples_schema", "label_sets_prompt", "label_sets_schema",
           "named_labels", "parse_label_set_samples", "parse_label_sets"]

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
        answer, why = _label_set(entry.get("labels"), match, f"item {item_id}")
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


def label_set_samples_prompt(model, prompt, names, *, instructions=None,
                             temperature=0.0, n_samples=None):
    """The :class:`Prompt` that asks for ``n_samples`` new texts, each with
    its label set.

    Examples
    --------
    >>> from skakd.teachers._label_sets import label_set_samples_prompt
    >>> prompt = label_set_samples_prompt("m", "Write 2 new texts.", ["a", "b"])
    >>> prompt.tool, list(prompt.schema["properties"]["samples"]["items"]["properties"])
    ('write_samples', ['text', 'labels'])
    """
    single = samples_prompt(model, prompt, names, instructions=instructions,
                            temperature=temperature, n_samples=n_samples)
    return dataclasses.replace(
        single, system=single.system + "\n" + MULTI_LABEL_RULE,
        description="Record the generated training texts with their label sets.",
        schema=label_set_samples_schema(names))


def label_set_samples_schema(names):
    """JSON schema of ``{"samples": [{"text", "labels": [...]}]}``, labels
    from ``names``."""
    return _list_schema("samples", {
        "text": {"type": "string"},
        "labels": {"type": "array", "items": {"type": "string", "enum": list(names)}},
    })


def parse_label_set_samples(reply, n_samples, names):
    """Check a generation answer with label sets: the valid ``(text, labels)``
    pairs (``labels`` a tuple, ``()`` for none of the classes) and problems.

    Examples
    --------
    >>> from skakd.teachers._prompts import Reply
    >>> from skakd.teachers._label_sets import parse_label_set_samples
    >>> samples = [{"text": "late refund", "labels": ["refund", "billing"]},
    ...            {"text": "hello", "labels": []},
    ...            {"text": "hacked", "labels": ["HACKED"]}]
    >>> kept, problems = parse_label_set_samples(Reply({"samples": samples}), 3,
    ...                                          ["billing", "refund"])
    >>> kept
    [('late refund', ('refund', 'billing')), ('hello', ())]
    >>> problems
    ["sample 2: label 'HACKED' is not one of the classes"]
    """
    entries, problem = _answer_list(reply, "samples", SAMPLES_TOOL)
    if problem:
        return [], [problem]
    match = label_matcher(names)
    samples, problems = [], []
    for i, entry in enumerate(entries):
        entry = entry if isinstance(entry, dict) else {}
        text = entry.get("text")
        labels, why = _label_set(entry.get("labels"), match, f"sample {i}")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"sample {i} has no text")
        elif why:
            problems.append(why)
        else:
            samples.append((text, labels))
    return samples[:n_samples], problems


def named_labels(answer, by_name):
    """An answer's label (or tuple of labels) as the classes themselves."""
    if isinstance(answer, (list, tuple)):
        return tuple(by_name[name] for name in answer)
    return by_name[answer]


def _label_set(value, match, where):
    """``(labels, problem)``: the set as a tuple of class names, or ``None``
    and why not (``where`` names the entry: ``"item 3"``)."""
    if not isinstance(value, list):
        return None, f"{where}: labels {_short(value)} is not a list"
    matched = [match(label) for label in value]
    for label, name in zip(value, matched):
        if name is None:
            return None, (f"{where}: label {_short(label)} is not one "
                          "of the classes")
    return tuple(dict.fromkeys(matched)), None
