"""One exchange with the model: cache, send, check, correct once, store.

Labelling a batch and generating texts follow the same sequence; only the
way an answer is read differs, and that is a :class:`Reading`.
"""

import dataclasses
import logging
from collections.abc import Callable

from ._cache import request_key
from ._cost import Usage
from ._prompts import (
    LABEL_TOOL,
    SAMPLES_TOOL,
    corrective_messages,
    parse_labels,
    parse_samples,
)

__all__ = ["Reading", "exchange", "label_reading", "samples_reading"]

logger = logging.getLogger("skakd.teachers")


@dataclasses.dataclass(frozen=True)
class Reading:
    """How to read one kind of answer.

    Parameters
    ----------
    tool : str
        The forced tool the answer calls.
    field : str
        Where the answer is kept in a cache entry.
    parse : callable
        ``parse(content) -> (answer, problems)``.
    merge : callable
        ``merge(first, corrected) -> answer`` after a corrective re-ask.
    complete : callable
        ``complete(answer, problems) -> bool``: whether the answer may be
        cached (an incomplete one is asked again next time).
    """

    tool: str
    field: str
    parse: Callable
    merge: Callable
    complete: Callable


def label_reading(n_items, names):
    """Labels of ``n_items`` items: a corrected answer fills the gaps only."""
    return Reading(
        tool=LABEL_TOOL, field="labels",
        parse=lambda content: parse_labels(content, n_items, names),
        merge=lambda first, second: [b if b is not None else a
                                     for a, b in zip(first, second)],
        complete=lambda labels, problems: all(x is not None for x in labels),
    )


def samples_reading(n_samples, names):
    """Generated samples: a corrected answer replaces the first if not empty."""
    return Reading(
        tool=SAMPLES_TOOL, field="samples",
        parse=lambda content: parse_samples(content, n_samples, names),
        merge=lambda first, second: second or first,
        complete=lambda samples, problems: bool(samples) and not problems,
    )


def exchange(request, reading, send, cache):
    """Ask ``request`` once (plus one correction), from the cache if stored.

    Parameters
    ----------
    request : dict
        The Messages API request; its hash is the cache key.
    reading : Reading
        How to read the answer.
    send : callable
        ``send(request, usage) -> content``: one paid request, whose usage is
        added to ``usage``.
    cache : TeacherCache or None
        Where complete answers persist.

    Returns
    -------
    answer, usage, cached : object, Usage, bool
        ``cached`` when the answer was replayed (and cost nothing).
    """
    key = request_key(request)
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        return hit[reading.field], Usage(), True
    usage = Usage()
    content = send(request, usage)
    answer, problems = reading.parse(content)
    if problems:
        logger.info("AnthropicTeacher: correcting an answer: %s",
                    "; ".join(problems[:5]))
        usage.n_corrections += 1
        retry = dict(request, messages=corrective_messages(
            request["messages"], content, reading.tool, problems))
        second, problems = reading.parse(send(retry, usage))
        answer = reading.merge(answer, second)
    if cache is not None and reading.complete(answer, problems):
        # Persisted before use, and the first writer wins: a process that
        # raced us for the same request goes on with the same answer.
        answer = cache.put(key, {
            reading.field: answer, "model": request["model"],
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
        })[reading.field]
    return answer, usage, False
