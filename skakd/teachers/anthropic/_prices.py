"""Token prices of Claude models, to turn ``usage`` into US dollars."""

import re

from .._cost import Price, check_price

__all__ = ["PRICES", "claude_price", "min_cache_tokens", "model_price"]

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
            return check_price(name, table[name])
    raise ValueError(
        f"no price is known for model={model!r}; pass prices={{{model!r}: "
        "(input_usd_per_million_tokens, output_usd_per_million_tokens)}} "
        f"(known models: {sorted(PRICES)})."
    )


def min_cache_tokens(model):
    """The shortest prompt prefix that ``model`` caches, in tokens.

    Examples
    --------
    >>> from skakd.teachers.anthropic._prices import min_cache_tokens
    >>> min_cache_tokens("claude-haiku-4-5-20251001")
    4096
    >>> min_cache_tokens("claude-sonnet-4-5")
    1024
    """
    return _MIN_CACHE_TOKENS.get(_SNAPSHOT.sub("", model), _DEFAULT_MIN_CACHE_TOKENS)


def claude_price(model, prices=None):
    """The :class:`~skakd.teachers._cost.Price` of ``model``, cache included."""
    return Price.of(model_price(model, prices))
