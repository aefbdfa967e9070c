"""Teachers: the expensive labellers that the student is distilled from.

A teacher is a plain callable ``f(items) -> labels`` (wrapped in
:class:`CallableTeacher`) or an object with ``label(items, classes) ->
TeacherResult`` and, for generative strategies, ``generate(request)``.
"""

from ._base import (
    UNLABELED,
    BaseTeacher,
    TeacherResult,
    check_multi_label_teacher,
    check_teacher_labels,
)
from ._cache import TeacherCache, default_cache_path, request_key
from ._cached import CachedTeacher
from ._callable import CallableTeacher
from ._cascade import TeacherCascade
from ._cost import BATCH_DISCOUNT, cost_of_usage
from ._generation import GenerationResult
from ._llamacpp import LlamaCppServer
from ._llm import LLMTeacher
from ._oracle import OracleTeacher
from ._review import HumanReview
from ._secret import Secret
from .anthropic import DEFAULT_MODEL as DEFAULT_ANTHROPIC_MODEL
from .anthropic import PRICES, AnthropicTeacher, model_price
from .openai import DEFAULT_MODEL as DEFAULT_OPENAI_MODEL
from .openai import OPENAI_PRICES, OpenAITeacher

__all__ = [
    "BATCH_DISCOUNT",
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_OPENAI_MODEL",
    "OPENAI_PRICES",
    "PRICES",
    "UNLABELED",
    "AnthropicTeacher",
    "BaseTeacher",
    "CachedTeacher",
    "CallableTeacher",
    "GenerationResult",
    "HumanReview",
    "LLMTeacher",
    "LlamaCppServer",
    "OpenAITeacher",
    "OracleTeacher",
    "Secret",
    "TeacherCache",
    "TeacherCascade",
    "TeacherResult",
    "check_multi_label_teacher",
    "check_teacher_labels",
    "cost_of_usage",
    "default_cache_path",
    "model_price",
    "request_key",
]
