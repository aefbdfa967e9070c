"""One exchange with a model: cache, send, check, correct once, store.

Labelling and generating follow the same sequence (:func:`ask`) whatever
the provider: a :class:`Link` sends a request and reads its :class:`Reply`,
and words the corrective re-ask. Labels are cached item by item
(:func:`label_batch`), each as soon as it is known, so that the good items
of a bad answer and the batches of a round that later fails are never paid
for again; a generation answer is cached whole (:func:`exchange`).
"""

import dataclasses
import logging
from collections.abc import Callable

from ._cache import request_key
from ._confidence import item_confidence
from ._label_sets import parse_label_set_samples, parse_label_sets
from ._prompts import (
    n_loose_matches,
    parse_labels,
    parse_samples,
    unlabeled_reasons,
)

__all__ = ["Link", "ask", "exchange", "item_keys", "label_batch"]

logger = logging.getLogger("skakd.teachers")

# Part of every item key: bump it when the labelling prompt changes meaning.
PROMPT_VERSION = "skakd-label-item-v1"


@dataclasses.dataclass(frozen=True)
class Link:
    """How one call talks to its model.

    ``send(request, usage) -> Reply`` is one paid request (retries
    included); ``correct(request, reply, problems) -> request`` is the
    re-ask that says what was wrong; ``too_long(exc)`` tells an error that
    says the prompt was longer than the model reads.
    """

    send: Callable
    correct: Callable
    too_long: Callable


def item_keys(static, texts):
    """The cache key of each text: the request's static part and the text.

    ``static`` is what every labelling request of a call shares (model,
    system prompt with the classes, answer schema, temperature), as the
    provider's adapter describes it.

    Examples
    --------
    >>> from skakd.teachers._exchange import item_keys
    >>> a, b, c = item_keys({"model": "m"}, ["x", "y", "x"])
    >>> a == c != b
    True
    """
    return [request_key({"v": PROMPT_VERSION, "static": static, "item": text})
            for text in texts]


def ask(request, parse, link, usage, on_problems=None):
    """Send ``request``; re-ask once, saying what was wrong, if it was.

    Parameters
    ----------
    request : dict
        The provider's request.
    parse : callable
        ``parse(reply) -> (answer, problems)``.
    link : Link
        Sends requests and words the re-ask.
    usage : Usage
        Charged with every request sent.
    on_problems : callable or None
        Called with the first answer before the re-ask (to keep its good
        part whatever happens to the re-ask).

    Returns
    -------
    answers, reply, problems
        The first answer (and the corrected one, if any), the last reply and
        what is still wrong with it.
    """
    reply = link.send(request, usage)
    answer, problems = parse(reply)
    if not problems:
        return [answer], reply, problems
    logger.info("teacher: correcting an answer: %s", "; ".join(problems[:5]))
    if on_problems is not None:
        on_problems(answer)
    usage.count("n_corrections")
    reply = link.send(link.correct(request, reply, problems), usage)
    second, problems = parse(reply)
    return [answer, second], reply, problems


def label_batch(request, keys, names, link, cache, usage, multi_label=False):
    """Label one batch; return one cache entry per item.

    An entry is ``{"label": name}`` (with ``"confidence"`` where the reply
    shows one; ``{"labels": [names]}`` when ``multi_label``, an empty list
    being an answer) or ``{"unlabeled": reason}``. Each is
    stored in ``cache`` as soon as it is known: the good labels of a first
    answer before a corrective re-ask, then the rest, unlabellable items
    with their reason (so that they are not paid for again either). The
    first label given to an item wins, as in the cache.
    """
    def store(entries):
        if cache is None:
            return entries
        stored = cache.put_many((k, e) for k, e in zip(keys, entries) if e)
        return [stored.get(k, e) for k, e in zip(keys, entries)]

    def good(labels):
        return [_entry(x, None, multi_label) if x is not None else None
                for x in labels]

    def parse(reply):
        if multi_label:
            return parse_label_sets(reply, len(keys), names)
        usage.count("n_loose_labels", n_loose_matches(reply, names))
        return parse_labels(reply, len(keys), names)

    answers, reply, _ = ask(request, parse, link, usage,
                            on_problems=lambda first: store(good(first)))
    labels = [next((a[i] for a in answers if a[i] is not None), None)
              for i in range(len(keys))]
    reasons = unlabeled_reasons(reply, labels)
    # Confidence is read for single labels; a label set carries none.
    sure = ([None] * len(labels) if multi_label
            else item_confidence(reply, labels, names))
    return store([_entry(x, c, multi_label) if x is not None
                  else {"unlabeled": why}
                  for x, why, c in zip(labels, reasons, sure)])


def _entry(answer, confidence, multi_label=False):
    """An answer's cache entry, with the model's confidence where it gave one."""
    entry = {"labels": list(answer)} if multi_label else {"label": answer}
    if confidence is not None:
        entry["confidence"] = confidence
    return entry


def exchange(request, n_samples, names, link, cache, usage, multi_label=False):
    """Ask for generated samples once (plus one correction), or replay them.

    Returns ``(samples, cached)``; a complete, valid answer is stored under
    the request's hash before it is used. ``multi_label`` reads samples with
    label sets (``{"text", "labels"}``).
    """
    parse = parse_label_set_samples if multi_label else parse_samples
    key = request_key(request)
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        return [tuple(s) for s in hit["samples"]], True
    answers, _, problems = ask(
        request, lambda r: parse(r, n_samples, names), link, usage)
    samples = answers[-1] or answers[0]
    if cache is not None and samples and not problems:
        # The first writer wins: a process that raced us goes on with the
        # same answer.
        samples = cache.put(key, {"samples": samples, "model": request["model"]})[
            "samples"]
    return [tuple(s) for s in samples], False
