"""What requests cost: usage accounting and estimates as pure functions.

Nothing here talks to the network or remembers earlier calls: an estimate is
a function of the requests (or the number of items), the label set, the
batch size, the price and, where the API counted them, the input tokens.
"""

import dataclasses
import math
import threading

from ._pricing import CACHE_READ_FACTOR, CACHE_WRITE_FACTOR, cost_of_usage
from ._prompts import label_user_message

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_ITEM_CHARS",
    "MAX_COUNTED_BATCHES",
    "Usage",
    "approx_tokens",
    "cost_of_n_items",
    "cost_of_requests",
]

#: Characters per token of the documented fallback approximation, used when
#: the API's token counting is unavailable (no key, no network).
CHARS_PER_TOKEN = 4
#: Assumed length of a text when ``estimate_cost`` gets a number of items
#: (about 50 tokens).
DEFAULT_ITEM_CHARS = 200
#: Batches whose input tokens the API counts for an estimate; the rest are
#: extrapolated from them per character, so a large pool costs few calls.
MAX_COUNTED_BATCHES = 8
# Output tokens of a tool call beyond its entries (block framing, braces).
_OUTPUT_OVERHEAD_TOKENS = 30
_COUNTERS = ("input_tokens", "output_tokens", "cache_write_tokens",
             "cache_read_tokens", "cost", "n_requests", "n_api_retries",
             "n_corrections")


@dataclasses.dataclass
class Usage:
    """What the requests behind one answer used and cost.

    Thread-safe: the batches of one call charge it from several threads.
    ``input_tokens`` are the uncached input tokens; prompt-cache writes and
    reads are counted apart, as the API bills them at their own prices.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from skakd.teachers._cost import Usage
    >>> spent = SimpleNamespace(input_tokens=1000, output_tokens=200,
    ...                         cache_creation_input_tokens=None,
    ...                         cache_read_input_tokens=None)
    >>> usage = Usage()
    >>> usage.charge(spent, price=(1.0, 5.0), retries=1)
    >>> usage.cost, usage.info()["n_api_retries"]
    (0.002, 1)
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost: float = 0.0
    n_requests: int = 0
    n_api_retries: int = 0
    n_corrections: int = 0
    _lock: object = dataclasses.field(default_factory=threading.Lock,
                                      repr=False, compare=False)

    def charge(self, spent, price, retries=0, discount=1.0):
        """Add one response's ``usage`` (the SDK's object) at ``price``.

        ``discount`` scales the price (0.5 for the Message Batches API).
        """
        written = spent.cache_creation_input_tokens or 0
        read = spent.cache_read_input_tokens or 0
        cost = discount * cost_of_usage(price, spent.input_tokens,
                                        spent.output_tokens, written, read)
        with self._lock:
            self.input_tokens += spent.input_tokens
            self.output_tokens += spent.output_tokens
            self.cache_write_tokens += written
            self.cache_read_tokens += read
            self.cost += cost
            self.n_requests += 1
            self.n_api_retries += retries

    def count(self, name, n=1):
        """Add ``n`` to the counter ``name`` (e.g. ``"n_corrections"``)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def add(self, other):
        """Add another :class:`Usage` (e.g. one batch's) to this one."""
        for name in _COUNTERS:
            self.count(name, getattr(other, name))

    def info(self, **extra):
        """The counts that go into a result's ``info``, with ``extra``."""
        return {"n_requests": self.n_requests,
                "n_api_retries": self.n_api_retries,
                "n_corrections": self.n_corrections,
                "cache_write_tokens": self.cache_write_tokens,
                "cache_read_tokens": self.cache_read_tokens, **extra}


def request_chars(request):
    """Characters of the parts of ``request`` that the model reads."""
    parts = [request["system"], *(str(m["content"]) for m in request["messages"]),
             str(request["tools"])]
    return sum(len(part) for part in parts)


def approx_tokens(request):
    """Input tokens of ``request`` as characters / :data:`CHARS_PER_TOKEN`."""
    return math.ceil(request_chars(request) / CHARS_PER_TOKEN)


def prefix_tokens(request):
    """Tokens of the prefix that prompt caching stores: tools and system."""
    return math.ceil((len(request["system"]) + len(str(request["tools"])))
                     / CHARS_PER_TOKEN)


def caching_saving(n_requests, prefix, min_tokens):
    """Input tokens (at the full input price) that prompt caching saves.

    The first of ``n_requests`` sharing a ``prefix`` writes it at
    1.25 times the price, the others read it at 0.1 times; a prefix shorter
    than ``min_tokens`` (``None``: caching off) is not cached.

    Examples
    --------
    >>> from skakd.teachers._cost import caching_saving
    >>> caching_saving(10, prefix=2000, min_tokens=1024)
    15700.0
    >>> caching_saving(10, prefix=2000, min_tokens=4096)
    0.0
    """
    if min_tokens is None or n_requests == 0 or prefix < min_tokens:
        return 0.0
    cached = CACHE_WRITE_FACTOR * prefix + CACHE_READ_FACTOR * (n_requests - 1) * prefix
    return float(n_requests * prefix - cached)


def cost_of_n_items(n, *, empty_request, names, batch_size, price,
                    min_cache=None):
    """USD to label ``n`` texts of :data:`DEFAULT_ITEM_CHARS` characters.

    ``empty_request`` is a labelling request without items: what every batch
    sends whatever its texts. ``min_cache`` is the model's shortest cached
    prefix with prompt caching on, ``None`` with it off.

    Examples
    --------
    >>> from skakd.teachers._cost import cost_of_n_items
    >>> empty = {"system": "s" * 400, "messages": [{"content": ""}], "tools": []}
    >>> one = cost_of_n_items(20, empty_request=empty, names=["a"],
    ...                       batch_size=20, price=(1.0, 5.0))
    >>> cost_of_n_items(40, empty_request=empty, names=["a"], batch_size=20,
    ...                 price=(1.0, 5.0)) == 2 * one
    True
    """
    if n == 0:
        return 0.0
    n_batches = math.ceil(n / batch_size)
    per_item = (len(label_user_message(["x" * DEFAULT_ITEM_CHARS]))
                - len(label_user_message([]))) / CHARS_PER_TOKEN
    input_tokens = n_batches * approx_tokens(empty_request) + n * per_item
    input_tokens -= caching_saving(n_batches, prefix_tokens(empty_request),
                                   min_cache)
    output = _output_tokens(n, n_batches, names, batch_size)
    return cost_of_usage(price, input_tokens, output)


def cost_of_requests(requests, *, counted, names, batch_size, price,
                     min_cache=None):
    """USD of sending labelling ``requests``.

    ``counted`` is the API's count of the input tokens of the first
    :data:`MAX_COUNTED_BATCHES` requests, extrapolated to the others per
    character; ``None`` where the API could not count, and every request is
    then approximated as characters / :data:`CHARS_PER_TOKEN`. Output tokens
    are estimated from the answer's JSON size. ``min_cache`` as for
    :func:`cost_of_n_items`.
    """
    if not requests:
        return 0.0
    n_items = sum(r["messages"][0]["content"].count('<item id="')
                  for r in requests)
    output = _output_tokens(n_items, len(requests), names, batch_size)
    input_tokens = _input_tokens(requests, counted)
    # The prefix in the API's tokens where it counted, else characters / 4.
    scale = input_tokens / max(sum(approx_tokens(r) for r in requests), 1)
    input_tokens -= caching_saving(len(requests), prefix_tokens(requests[0]) * scale,
                                   min_cache)
    return cost_of_usage(price, input_tokens, output)


def _input_tokens(requests, counted):
    if counted is None:
        return sum(approx_tokens(r) for r in requests)
    sample = sum(request_chars(r) for r in requests[:MAX_COUNTED_BATCHES])
    rest = sum(request_chars(r) for r in requests[MAX_COUNTED_BATCHES:])
    return counted + counted * rest / max(sample, 1)


def _output_tokens(n_items, n_batches, names, batch_size):
    # One {"id", "label"} entry per item, the longest label and id assumed.
    longest = max(names, key=len)
    entry = f'{{"id": {batch_size}, "label": "{longest}"}}, '
    return (n_items * (len(entry) / CHARS_PER_TOKEN)
            + n_batches * _OUTPUT_OVERHEAD_TOKENS)
