"""Token prices of Claude models, to turn ``usage`` into US dollars."""

import re

__all__ = ["BATCH_DISCOUNT", "CACHE_READ_FACTOR", "CACHE_WRITE_FACTOR", "PRICES",
           "cost_of_usage", "min_cache_tokens", "model_price"]

#: List prices of the Claude API in USD per million tokens, ``model -> (input,
#: output)``, as published by Anthropic (checked 2025-11). Prices change: pass
#: ``prices=`` to :class:`~skakd.teachers.AnthropicTeacher` to override or add
#: models. A dated snapshot (``claude-haiku-4-5-20251001``) or a ``-latest``
#: alias costs what its family name costs.
PRICES = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-0": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4-0": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-sonnet": (3.0, 15.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
}

# Prompt-cache writes cost 1.25x the input price and reads 0.1x (5-minute TTL).
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1
#: Message Batches bill every token at half price.
BATCH_DISCOUNT = 0.5

# The shortest prefix that prompt caching stores, per model family (Anthropic's
# documentation, checked 2025-11); shorter prefixes are billed uncached.
_MIN_CACHE_TOKENS = {
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-3-5-haiku": 2048,
    "claude-3-haiku": 2048,
}
_DEFAULT_MIN_CACHE_TOKENS = 1024

_SNAPSHOT = re.compile(r"-(\d{8}|latest)$")


def model_price(model, prices=None):
    """``(input, output)`` USD per million tokens of ``model``.

    Parameters
    ----------
    model : str
        Model name, e.g. ``"claude-haiku-4-5"`` or a dated snapshot of it.
    prices : dict or None, default=None
        ``model -> (input, output)`` entries that take precedence over
        :data:`PRICES`.

    Returns
    -------
    price : tuple of (float, float)

    Examples
    --------
    >>> from skakd.teachers import model_price
    >>> model_price("claude-haiku-4-5-20251001")
    (1.0, 5.0)
    >>> model_price("my-model", prices={"my-model": (2, 4)})
    (2.0, 4.0)
    """
    table = {**PRICES, **(prices or {})}
    for name in (model, _SNAPSHOT.sub("", model)):
        if name in table:
            return _check_price(name, table[name])
    raise ValueError(
        f"no price is known for model={model!r}; pass prices={{{model!r}: "
        "(input_usd_per_million_tokens, output_usd_per_million_tokens)}} "
        f"(known models: {sorted(PRICES)})."
    )


def min_cache_tokens(model):
    """The shortest prompt prefix that ``model`` caches, in tokens.

    Examples
    --------
    >>> from skakd.teachers._pricing import min_cache_tokens
    >>> min_cache_tokens("claude-haiku-4-5-20251001")
    4096
    >>> min_cache_tokens("claude-sonnet-4-5")
    1024
    """
    return _MIN_CACHE_TOKENS.get(_SNAPSHOT.sub("", model), _DEFAULT_MIN_CACHE_TOKENS)


def _check_price(model, price):
    try:
        price_in, price_out = (float(p) for p in price)
    except (TypeError, ValueError):
        raise ValueError(
            f"prices[{model!r}] is {price!r}; expected a pair (input, output) of "
            "USD per million tokens."
        ) from None
    if price_in < 0 or price_out < 0:
        raise ValueError(
            f"prices[{model!r}] is {price!r}; expected non-negative prices."
        )
    return price_in, price_out


def cost_of_usage(price, input_tokens, output_tokens, cache_write_tokens=0,
                  cache_read_tokens=0):
    """USD paid for one response's ``usage`` at ``price`` (per million tokens).

    Examples
    --------
    >>> from skakd.teachers import cost_of_usage
    >>> cost_of_usage((1.0, 5.0), input_tokens=1_000_000, output_tokens=0)
    1.0
    """
    price_in, price_out = price
    weighted_in = (
        input_tokens
        + CACHE_WRITE_FACTOR * cache_write_tokens
        + CACHE_READ_FACTOR * cache_read_tokens
    )
    return (weighted_in * price_in + output_tokens * price_out) / 1e6
