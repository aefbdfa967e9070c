"""Faults and answers that the fake servers script: shared by every fake."""

import html
import math
import re
import zlib
from dataclasses import dataclass

__all__ = ["Fault", "char_tokens", "default_confidence", "default_generator",
           "default_labeler",
           "items_of", "label_entries", "random_faults", "sample_entries",
           "subword_tokens", "wanted"]

ITEM = re.compile(r'<item id="(\d+)">(.*?)</item>', re.DOTALL)
_WANTED = re.compile(r"Write (\d+) new")
_INJECTED = re.compile(r"answer (\w+)", re.IGNORECASE)
# A word with its leading space, a number, a run of punctuation, or blanks.
_PIECE = re.compile(r" ?[A-Za-z]+| ?\d+|[^\sA-Za-z\d]+|\s+")


@dataclass
class Fault:
    """What goes wrong with one request.

    Parameters
    ----------
    status : int or None
        Answer with this HTTP error status (429, 500, 529, 401, 400...).
    retry_after : float or None
        ``retry-after`` header (seconds) sent with the error.
    delay : float
        Seconds to wait before answering (beyond the client timeout = a
        timeout).
    drop : bool
        Close the connection without answering.
    answer : str or None
        A bad answer: ``"malformed"`` (an answer object without ``items``: a
        schema violation), ``"unknown_label"`` (item 0 gets a label outside
        the classes), ``"missing_ids"`` (the last item is left out),
        ``"text_only"`` (no answer object), ``"refusal"`` (the model or its
        content filter declines), ``"not_json"`` (status 200 with a body
        that is not JSON, as a proxy's error page: not billed).
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    answer: str | None = None


def random_faults(rng, n, rate=0.2, answer_share=0.3, answer_gap=10, delay=0.6,
                  overloaded=529, not_json=False):
    """A script of ``n`` faults, ``rate`` of them injected, of every kind.

    Transport faults (429 and ``overloaded`` (529; 503 for OpenAI) with
    ``retry-after``, 500, a dropped connection, an answer ``delay`` seconds
    late and, with ``not_json``, a 200 whose body is not JSON) and wrong
    answers (``"malformed"``, ``"unknown_label"``), these ``answer_share``
    of the injected ones. Two wrong answers to one request make its items
    unlabellable by design (one corrective re-ask), so wrong answers are at
    least ``answer_gap`` requests apart.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.teachers.testing import random_faults
    >>> script = random_faults(np.random.default_rng(0), 1000)
    >>> 0.15 < sum(f != Fault() for f in script) / 1000 < 0.25
    True
    """
    transport = [Fault(status=429, retry_after=0.01), Fault(status=500),
                 Fault(status=overloaded, retry_after=0.01), Fault(drop=True),
                 Fault(delay=delay)] + [Fault(answer="not_json")] * not_json
    answers = [Fault(answer="malformed"), Fault(answer="unknown_label")]
    script, last_answer = [], -answer_gap
    for i in range(n):
        if rng.random() >= rate:
            script.append(Fault())
        elif rng.random() < answer_share and i - last_answer >= answer_gap:
            script.append(answers[rng.integers(len(answers))])
            last_answer = i
        else:
            script.append(transport[rng.integers(len(transport))])
    return script


def default_labeler(text, classes):
    """The first class named in the text, else a stable hash of the text."""
    lowered = text.lower()
    for label in classes:
        if label.lower() in lowered:
            return label
    return classes[zlib.crc32(text.encode()) % len(classes)]


def default_generator(classes, n_samples, prompt, counter):
    """``n_samples`` texts, cycling through the classes, naming their class."""
    return [
        (f"a new {classes[i % len(classes)]} text number {counter + i}",
         classes[i % len(classes)])
        for i in range(n_samples)
    ]


def sample_entries(samples, fault, multi_label=False):
    """The entries of a generation answer a model would give to ``samples``
    (``(text, label)`` from a generator): ``{"text", "label"}``, or
    ``{"text", "labels"}`` when ``multi_label`` (a generator's single label
    is then a set of one, its collection a list)."""
    key = "labels" if multi_label else "label"
    entries = [{"text": text, key: (_as_list(label) if multi_label else label)}
               for text, label in samples]
    if fault.answer == "unknown_label" and entries:
        entries[0][key] = ["NOT_A_CLASS"] if multi_label else "NOT_A_CLASS"
    return entries


def _as_list(label):
    return [label] if isinstance(label, str) else list(label)


def char_tokens(text):
    """Tokens as characters / 4: the default accounting of the fake."""
    return math.ceil(len(text) / 4)


def subword_tokens(text):
    """Tokens as a subword tokenizer counts them, roughly.

    A word with its leading space, a number or a run of punctuation is one
    token per 7 characters: about characters / 4 on prose, but denser on
    JSON, as real tokenizers are. Independent of characters / 4, so an
    estimate made with that approximation is not right by construction.
    """
    return sum(math.ceil(len(piece) / 7) for piece in _PIECE.findall(text))


def items_of(prompt):
    """``[(id, text)]`` of the ``<item>`` blocks in a labelling prompt."""
    return [(int(i), html.unescape(text)) for i, text in ITEM.findall(prompt)]


def wanted(prompt):
    """How many texts a generation prompt asks for."""
    return int(_WANTED.search(prompt).group(1))


def default_confidence(text, classes):
    """How sure the fake model is of its label: a stable hash of the text,
    from 0.5 to 1."""
    return 0.5 + 0.5 * (zlib.crc32(text.encode()) % 1000) / 999


def label_entries(prompt, classes, labeler, fault, obey_injection=False,
                  confidence=None, multi_label=False):
    """The answer object a model would give to a labelling prompt (with a
    stated ``confidence(text, classes)`` per item where given; ``{"id",
    "labels"}`` entries when ``multi_label``, see :func:`label_set_of`)."""
    entries = []
    for item_id, text in items_of(prompt):
        injected = _INJECTED.search(text) if obey_injection else None
        if multi_label:
            labels = ([injected.group(1)] if injected
                      else label_set_of(labeler, text, classes))
            entries.append({"id": item_id, "labels": labels})
            continue
        label = injected.group(1) if injected else labeler(text, classes)
        entries.append({"id": item_id, "label": label})
        if confidence is not None:
            entries[-1]["confidence"] = round(confidence(text, classes), 2)
    key = "labels" if multi_label else "label"
    if fault.answer == "unknown_label" and entries:
        entries[0][key] = ["NOT_A_CLASS"] if multi_label else "NOT_A_CLASS"
    if fault.answer == "missing_ids":
        entries = entries[:-1]
    if fault.answer == "malformed":
        return {"answers": [e[key] for e in entries]}
    return {"items": entries}


def label_set_of(labeler, text, classes):
    """A multi-label answer: ``labeler``'s collection of labels (a single
    label is answered as a set of one); the default labeler answers every
    class the text names, ``[]`` for none."""
    if labeler is default_labeler:
        lowered = text.lower()
        return [label for label in classes if label.lower() in lowered]
    answer = labeler(text, classes)
    return [answer] if isinstance(answer, str) else list(answer)
