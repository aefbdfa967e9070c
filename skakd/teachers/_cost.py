"""What requests cost: prices, usage accounting and estimates.

Nothing here talks to the network or remembers earlier calls: an estimate is
a function of the requests (or the number of items), the label set, the
batch size, the price and, where the API counted them, the input tokens.
Each provider's adapter says how long its requests are (``measure``) and
reads a response's usage into a :class:`Spent`; its price table lives with
it.
"""

import dataclasses
import math
import threading
from typing import NamedTuple

from ._prompts import label_user_message

__all__ = [
    "BATCH_DISCOUNT",
    "CACHE_READ_FACTOR",
    "CACHE_WRITE_FACTOR",
    "CHARS_PER_TOKEN",
    "DEFAULT_ITEM_CHARS",
    "FREE",
    "MAX_COUNTED_BATCHES",
    "Price",
    "Spent",
    "Usage",
    "approx_tokens",
    "check_price",
    "cost_of_n_items",
    "cost_of_requests",
    "cost_of_usage",
]

# Claude's prompt-cache writes cost 1.25x the input price and reads 0.1x
# (5-minute TTL): the factors of a price given as an (input, output) pair.
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1
#: Batch APIs (Anthropic's Message Batches, OpenAI's Batch API) bill every
#: token at half price.
BATCH_DISCOUNT = 0.5

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
             "n_corrections", "n_loose_labels")


class Price(NamedTuple):
    """USD per million tokens: uncached input, output, cache reads, writes."""

    input: float
    output: float
    cache_read: float
    cache_write: float

    @classmethod
    def of(cls, price):
        """A :class:`Price` from itself or an ``(input, output)`` pair.

        A pair takes Claude's cache factors (reads at 0.1x, writes at 1.25x
        the input price).
        """
        if isinstance(price, cls):
            return price
        price_in, price_out = price
        return cls(price_in, price_out, CACHE_READ_FACTOR * price_in,
                   CACHE_WRITE_FACTOR * price_in)


#: What a model served on this machine costs.
FREE = Price(0.0, 0.0, 0.0, 0.0)


class Spent(NamedTuple):
    """One response's usage, in the same words for every provider.

    ``input_tokens`` are the uncached input tokens; prompt-cache writes and
    reads are counted apart, as they are billed at their own prices.
    """

    input_tokens: int
    output_tokens: int
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0


def check_price(model, price, size=2):
    """``price`` as floats, or an error naming ``prices[model]``."""
    try:
        values = tuple(float(p) for p in price)
    except (TypeError, ValueError):
        values = ()
    if len(values) not in (2, size):
        raise ValueError(
            f"prices[{model!r}] is {price!r}; expected a pair (input, output) of "
            "USD per million tokens."
        )
    if min(values) < 0:
        raise ValueError(
            f"prices[{model!r}] is {price!r}; expected non-negative prices."
        )
    return values


def cost_of_usage(price, input_tokens, output_tokens, cache_write_tokens=0,
                  cache_read_tokens=0):
    """USD paid for one response's ``usage`` at ``price`` (per million tokens).

    ``price`` is a :class:`Price` or an ``(input, output)`` pair (with
    Claude's prompt-cache factors).

    Examples
    --------
    >>> from skakd.teachers import cost_of_usage
    >>> cost_of_usage((1.0, 5.0), input_tokens=1_000_000, output_tokens=0)
    1.0
    """
    price = Price.of(price)
    return (input_tokens * price.input + output_tokens * price.output
            + cache_write_tokens * price.cache_write
            + cache_read_tokens * price.cache_read) / 1e6


@dataclasses.dataclass
class Usage:
    """What the requests behind one answer used and cost.

    Thread-safe: the batches of one call charge it from several threads.
    ``input_tokens`` are the uncached input tokens; prompt-cache writes and
    reads are counted apart, as the API bills them at their own prices.

    Examples
    --------
    >>> from skakd.teachers._cost import Spent, Usage
    >>> spent = Spent(input_tokens=1000, output_tokens=200)
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
    n_loose_labels: int = 0
    _lock: object = dataclasses.field(default_factory=threading.Lock,
                                      repr=False, compare=False)

    def charge(self, spent, price, retries=0, discount=1.0):
        """Add one response's :class:`Spent` at ``price``.

        ``discount`` scales the price (0.5 for batch APIs).
        """
        written, read = spent.cache_write_tokens, spent.cache_read_tokens
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
                "n_loose_labels": self.n_loose_labels,
                "cache_write_tokens": self.cache_write_tokens,
                "cache_read_tokens": self.cache_read_tokens, **extra}


def approx_tokens(chars):
    """Tokens of ``chars`` characters: characters / :data:`CHARS_PER_TOKEN`."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def caching_saving(n_requests, prefix, min_tokens, price=None):
    """Input tokens (at the full input price) that prompt caching saves.

    The first of ``n_requests`` sharing a ``prefix`` writes it (at 1.25
    times the input price for Claude), the others read it (at 0.1 times);
    ``price``, a :class:`Price`, gives other factors. A prefix shorter than
    ``min_tokens`` (``None``: caching off) is not cached.

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
    write, read = CACHE_WRITE_FACTOR, CACHE_READ_FACTOR
    if price is not None and price.input > 0:
        write, read = price.cache_write / price.input, price.cache_read / price.input
    cached = write * prefix + read * (n_requests - 1) * prefix
    return float(n_requests * prefix - cached)


def cost_of_n_items(n, *, empty_request, measure, names, batch_size, price,
                    min_cache=None, labels_per_item=None):
    """USD to label ``n`` texts of :data:`DEFAULT_ITEM_CHARS` characters.

    ``empty_request`` is a labelling request without items: what every batch
    sends whatever its texts; ``measure`` (the provider's adapter) tells
    its ``chars`` and ``prefix_chars`` (the part prompt caching stores).
    ``min_cache`` is the model's shortest cached prefix with prompt caching
    on, ``None`` with it off. ``labels_per_item`` prices multi-label
    answers (``{"id", "labels"}``) of that many labels, ``None`` single ones.
    """
    if n == 0:
        return 0.0
    price = Price.of(price)
    n_batches = math.ceil(n / batch_size)
    per_item = (len(label_user_message(["x" * DEFAULT_ITEM_CHARS]))
                - len(label_user_message([]))) / CHARS_PER_TOKEN
    input_tokens = (n_batches * approx_tokens(measure.chars(empty_request))
                    + n * per_item)
    input_tokens -= caching_saving(
        n_batches, approx_tokens(measure.prefix_chars(empty_request)), min_cache,
        price)
    output = _output_tokens(n, n_batches, names, batch_size, labels_per_item)
    return cost_of_usage(price, input_tokens, output)


def cost_of_requests(requests, *, measure, counted, names, batch_size, price,
                     min_cache=None, labels_per_item=None):
    """USD of sending labelling ``requests``.

    ``counted`` is the API's count of the input tokens of the first
    :data:`MAX_COUNTED_BATCHES` requests, extrapolated to the others per
    character; ``None`` where the API could not count, and every request is
    then approximated as characters / :data:`CHARS_PER_TOKEN`. Output tokens
    are estimated from the answer's JSON size. ``min_cache`` and
    ``labels_per_item`` as for :func:`cost_of_n_items`.
    """
    if not requests:
        return 0.0
    price = Price.of(price)
    n_items = sum(measure.n_items(r) for r in requests)
    output = _output_tokens(n_items, len(requests), names, batch_size,
                            labels_per_item)
    chars = [measure.chars(r) for r in requests]
    input_tokens = _input_tokens(chars, counted)
    # The prefix in the API's tokens where it counted, else characters / 4.
    scale = input_tokens / max(sum(approx_tokens(c) for c in chars), 1)
    prefix = approx_tokens(measure.prefix_chars(requests[0])) * scale
    input_tokens -= caching_saving(len(requests), prefix, min_cache, price)
    return cost_of_usage(price, input_tokens, output)


def _input_tokens(chars, counted):
    if counted is None:
        return sum(approx_tokens(c) for c in chars)
    sample = sum(chars[:MAX_COUNTED_BATCHES])
    rest = sum(chars[MAX_COUNTED_BATCHES:])
    return counted + counted * rest / max(sample, 1)


def _output_tokens(n_items, n_batches, names, batch_size, labels_per_item=None):
    # One {"id", "label"} entry per item, the longest label and id assumed;
    # {"id", "labels"} with labels_per_item of the longest for label sets.
    longest = max(names, key=len)
    entry = f'{{"id": {batch_size}, "label": "{longest}"}}, '
    if labels_per_item is not None:
        labels = ", ".join([f'"{longest}"'] * labels_per_item)
        entry = f'{{"id": {batch_size}, "labels": [{labels}]}}, '
    return (n_items * (len(entry) / CHARS_PER_TOKEN)
            + n_batches * _OUTPUT_OVERHEAD_TOKENS)
