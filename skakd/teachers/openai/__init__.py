"""OpenAI and every OpenAI-compatible server through the ``openai`` SDK."""

from ._adapter import MODES
from ._prices import OPENAI_PRICES, is_local, openai_price
from ._teacher import DEFAULT_MODEL, OpenAITeacher

__all__ = ["DEFAULT_MODEL", "MODES", "OPENAI_PRICES", "OpenAITeacher", "is_local",
           "openai_price"]
