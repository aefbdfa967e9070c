"""Claude through the ``anthropic`` SDK: the Messages API and Message Batches."""

from ._prices import PRICES, min_cache_tokens, model_price
from ._teacher import DEFAULT_MODEL, AnthropicTeacher

__all__ = ["DEFAULT_MODEL", "PRICES", "AnthropicTeacher", "min_cache_tokens",
           "model_price"]
