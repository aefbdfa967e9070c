"""Token prices of OpenAI models, to turn ``usage`` into US dollars."""

import re
from urllib.parse import urlsplit

from .._cost import FREE, Price, check_price

__all__ = ["OPENAI_PRICES", "is_local", "openai_price"]

#: List prices of OpenAI's API in USD per million tokens, ``model -> (input,
#: cached input, output)``, as published by OpenAI (checked 2026-12). OpenAI
#: caches long prompt prefixes by itself and bills them at the cached price.
#: Prices change: pass ``prices=`` to override or add models. A dated
#: snapshot (``gpt-4.1-mini-2025-04-14``) costs what its family name costs.
OPENAI_PRICES = {
    "gpt-5.5": (5.00, 0.50, 30.00),
    "gpt-5.4": (2.50, 0.25, 15.00),
    "gpt-5.4-mini": (0.75, 0.075, 4.50),
    "gpt-5.4-nano": (0.20, 0.02, 1.25),
    "gpt-5.2": (1.75, 0.175, 14.00),
    "gpt-5.1": (1.25, 0.125, 10.00),
    "gpt-5": (1.25, 0.125, 10.00),
    "gpt-5-mini": (0.25, 0.025, 2.00),
    "gpt-5-nano": (0.05, 0.005, 0.40),
    "gpt-4.1": (2.00, 0.50, 8.00),
    "gpt-4.1-mini": (0.40, 0.10, 1.60),
    "gpt-4.1-nano": (0.10, 0.025, 0.40),
    "gpt-4o": (2.50, 1.25, 10.00),
    "gpt-4o-mini": (0.15, 0.075, 0.60),
}

_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|latest)$")
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


def is_local(base_url):
    """Whether ``base_url`` is a server on this machine (it costs nothing).

    Examples
    --------
    >>> from skakd.teachers.openai import is_local
    >>> is_local("http://127.0.0.1:8080/v1"), is_local(None)
    (True, False)
    """
    if not base_url:
        return False
    host = urlsplit(base_url).hostname or ""
    return host in _LOOPBACK or host.startswith("127.")


def openai_price(model, prices=None, base_url=None):
    """The :class:`~skakd.teachers._cost.Price` of ``model``.

    ``prices`` entries (``(input, output)`` or ``(input, cached input,
    output)``, USD per million tokens) take precedence over
    :data:`OPENAI_PRICES`; a model served on this machine is free; any
    other model without a price is an error.

    Examples
    --------
    >>> from skakd.teachers.openai import openai_price
    >>> openai_price("gpt-4.1-mini-2025-04-14").output
    1.6
    >>> openai_price("my-model", prices={"my-model": (1, 2)}).cache_read
    1.0
    >>> openai_price("qwen2.5-7b", base_url="http://localhost:8000/v1").input
    0.0
    """
    table = {**OPENAI_PRICES, **(prices or {})}
    for name in (model, _SNAPSHOT.sub("", model)):
        if name in table:
            return _price(name, table[name])
    if is_local(base_url):
        return FREE
    raise ValueError(
        f"no price is known for model={model!r} at base_url={base_url!r}; pass "
        f"prices={{{model!r}: (input_usd_per_million_tokens, "
        "output_usd_per_million_tokens)}} (known models: "
        f"{sorted(OPENAI_PRICES)}; a server on localhost costs nothing)."
    )


def _price(model, entry):
    values = check_price(model, entry, size=3)
    if len(values) == 2:  # no cached price given: cached tokens at full price
        price_in, price_out = values
        return Price(price_in, price_out, price_in, price_in)
    price_in, cached, price_out = values
    return Price(price_in, price_out, cached, price_in)
