"""Fake LLM APIs on 127.0.0.1, to run LLM teachers offline.

:class:`FakeAnthropic` (the Messages API) and :class:`FakeOpenAI` (Chat
Completions, files and batches) are small HTTP servers that speak the real
wire formats, so that the real SDKs, and the teachers through them, talk to
them through ``base_url`` exactly as they would to the API. They keep a
ledger of what they billed, to compare with the teacher's bill.

:class:`FakeAnthropic` is a small HTTP server that speaks the real wire
format of the Messages API (``POST /v1/messages`` and
``/v1/messages/count_tokens``, forced ``tool_use`` answers, ``usage``, error
bodies, status codes, ``retry-after``), so that the real ``anthropic`` SDK,
and :class:`~skakd.teachers.AnthropicTeacher` through it, talk to it through
``base_url`` exactly as they would to the API. Nothing leaves the machine and
no key is needed beyond the one the server is told to expect.

Use it to try a pipeline before paying for it, in tests, in benchmarks and in
documentation examples. Answers come from a labelling function (by default
:func:`default_labeler`: the first class named in the text, else a stable
hash) and, for PGKD, a generating function. Faults (HTTP errors, timeouts,
dropped connections, malformed or out-of-class answers) are scripted per
request with :class:`Fault`.

Examples
--------
>>> from skakd.teachers import AnthropicTeacher
>>> from skakd.teachers.testing import FakeAnthropic, Fault
>>> with FakeAnthropic() as server:
...     server.script(Fault(status=529, retry_after=0.01))  # overloaded once
...     teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
...                                cache=None, max_retries=2)
...     result = teacher.label(["a refund please", "late delivery"],
...                            ["delivery", "refund"])
>>> result.labels, server.n_messages
(['refund', 'delivery'], 2)
"""

from ._anthropic import FakeAnthropic
from ._faults import (
    Fault,
    char_tokens,
    default_confidence,
    default_generator,
    default_labeler,
    random_faults,
    subword_tokens,
)
from ._openai import FakeOpenAI

__all__ = ["FakeAnthropic", "FakeOpenAI", "Fault", "char_tokens",
           "default_confidence", "default_generator", "default_labeler",
           "random_faults", "subword_tokens"]
