"""Teachers: the expensive labellers that the student is distilled from.

A teacher is a plain callable ``f(items) -> labels`` (wrapped in
:class:`CallableTeacher`) or an object with ``label(items, classes) ->
TeacherResult`` and, for generative strategies, ``generate(request)``.
"""

from ._anthropic import AnthropicTeacher
from ._base import UNLABELED, BaseTeacher, TeacherResult, check_teacher_labels
from ._cache import CachedTeacher, TeacherCache, default_cache_path, request_key
from ._callable import CallableTeacher
from ._generation import GenerationResult
from ._oracle import OracleTeacher
from ._pricing import BATCH_DISCOUNT, PRICES, cost_of_usage, model_price
from ._secret import Secret

__all__ = [
    "BATCH_DISCOUNT",
    "PRICES",
    "UNLABELED",
    "AnthropicTeacher",
    "BaseTeacher",
    "CachedTeacher",
    "CallableTeacher",
    "GenerationResult",
    "OracleTeacher",
    "Secret",
    "TeacherCache",
    "TeacherResult",
    "check_teacher_labels",
    "cost_of_usage",
    "default_cache_path",
    "model_price",
    "request_key",
]
