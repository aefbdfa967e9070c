"""How sure a model was of each label (pure functions).

Two sources, whatever the provider: the answer's token log-probabilities,
where the API returns them (OpenAI-compatible servers, llama.cpp's
included), and a ``confidence`` the model states with each label, where the
answer schema asks for one.

From log-probabilities, the confidence of a label is the probability of its
tokens (those of the label and its closing quote), each renormalised over
the alternatives at its place that keep the answer inside the label set.
Servers report the model's distribution before a JSON schema constrains it
(llama.cpp does: ``{"label": "H`` is followed by ``arry`` more often than by
``UM``), so the mass a token's top alternatives put outside the label set
is not the label's doubt; a constrained decoder never had that choice.
Alternatives beyond ``top_logprobs`` are not seen: where valid ones hide
there, the confidence is too high, most for an unsure answer over many
classes.
"""

import json
import math
import re

from ._prompts import parse_labels

__all__ = ["item_confidence", "label_probability"]

# The value of a "label" key in a JSON answer (escapes allowed).
_LABEL_VALUE = re.compile(r'"label"\s*:\s*"((?:[^"\\]|\\.)*)"')


def item_confidence(reply, labels, names):
    """The model's confidence in each of ``labels``, as ``reply`` shows it.

    Parameters
    ----------
    reply : Reply
        The (last) answer, with ``tokens`` where the API gave
        log-probabilities.
    labels : list of str or None
        The labels taken for the items (``None`` where there is none).
    names : list of str
        The label set.

    Returns
    -------
    confidence : list of float or None
        One per item, in ``[0, 1]``; ``None`` where the reply gave no
        confidence for the label taken (e.g. it came from an earlier answer
        that was then corrected).

    Examples
    --------
    >>> from skakd.teachers._prompts import Reply
    >>> from skakd.teachers._confidence import item_confidence
    >>> reply = Reply({"items": [{"id": 0, "label": "pos", "confidence": 0.8}]})
    >>> item_confidence(reply, ["pos"], ["neg", "pos"])
    [0.8]
    """
    if reply.tokens:
        by_id = _from_logprobs(reply, names)
    else:
        by_id = _stated(reply.payload)
    own, _ = parse_labels(reply, len(labels), names)
    return [by_id.get(i) if label is not None and own[i] == label else None
            for i, label in enumerate(labels)]


def label_probability(tokens, start, end, names):
    """The probability of the label at ``text[start:end]``, where ``text``
    is the concatenation of ``tokens``, among the labels ``names``.

    Parameters
    ----------
    tokens : list of (str, float, list of (str, float))
        Each token, its log-probability and the top alternatives'.
    start, end : int
        Where the label's characters are; the token with the closing quote
        after them is part of the label's probability (it says the label
        ends there, and is not a longer class).
    names : list of str
        The label set.

    Returns
    -------
    probability : float or None
        The product over the label's tokens of each one's probability
        divided by the mass of the alternatives (itself included) that keep
        the answer inside the label set; ``None`` where no token covers the
        label.

    Examples
    --------
    The model wrote ``"pos"`` with probability 0.6 at its first token, put
    0.15 on ``neg`` and 0.25 on a token that begins no class:

    >>> from math import log
    >>> from skakd.teachers._confidence import label_probability
    >>> tokens = [('"', 0.0, []),
    ...           ("pos", log(0.6), [("pos", log(0.6)), ("neg", log(0.15)),
    ...                              ("maybe", log(0.25))]),
    ...           ('"', 0.0, [])]
    >>> round(label_probability(tokens, 1, 4, ["neg", "pos"]), 3)
    0.8
    """
    text = "".join(token for token, _, _ in tokens)
    forms = [json.dumps(name)[1:-1] for name in names]
    probability, found, position = 1.0, False, 0
    for token, logprob, alternatives in tokens:
        begin, position = position, position + len(token)
        if position <= start or begin > end:
            continue  # not the label's, nor its closing quote's
        found = True
        # What the label reads before this token; a token that starts
        # before the label (a quote and its first letters) must keep its
        # part before the label.
        before, head = text[start:begin], token[:max(start - begin, 0)]
        chosen = math.exp(logprob)
        valid = chosen + sum(math.exp(lp) for alt, lp in alternatives
                             if alt != token and alt.startswith(head)
                             and _keeps_a_class(before + alt[len(head):], forms))
        probability *= min(1.0, chosen / valid)
    return probability if found else None


def _keeps_a_class(read, forms):
    """Whether a label that reads ``read`` so far can still be a class (or
    has just ended one with its closing quote)."""
    return any(form.startswith(read) or read.startswith(form + '"')
               for form in forms)


def _from_logprobs(reply, names):
    """``{item id: probability}`` of the labels in a JSON answer."""
    items = reply.payload.get("items") if isinstance(reply.payload, dict) else None
    entries = [e for e in items if isinstance(e, dict)
               and isinstance(e.get("label"), str)] if isinstance(items, list) else []
    text = "".join(token for token, _, _ in reply.tokens)
    spans = list(_LABEL_VALUE.finditer(text))
    # The answer's labels, in order, are the spans in order; anything else
    # (a text answer, a payload read from elsewhere) gives no confidence.
    if [_unescape(m.group(1)) for m in spans] != [e["label"] for e in entries]:
        return {}
    return {e.get("id"): label_probability(reply.tokens, m.start(1), m.end(1),
                                           names)
            for m, e in zip(spans, entries)}


def _unescape(raw):
    try:
        return json.loads(f'"{raw}"')
    except json.JSONDecodeError:
        return None


def _stated(payload):
    """``{item id: confidence}`` of the confidences an answer states."""
    entries = payload.get("items") if isinstance(payload, dict) else None
    found = {}
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        value = entry.get("confidence")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        # Some models answer in percent despite the instruction.
        value = value / 100 if 1 < value <= 100 else value
        if 0 <= value <= 1:
            found[entry.get("id")] = float(value)
    return found
