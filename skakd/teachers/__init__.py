"""Teachers: the expensive labellers that the student is distilled from.

A teacher is a plain callable ``f(items) -> labels`` (wrapped in
:class:`CallableTeacher`) or an object with ``label(items, classes) ->
TeacherResult`` and, for generative strategies, ``generate(request)``.
"""

from ._base import UNLABELED, BaseTeacher, TeacherResult
from ._callable import CallableTeacher
from ._oracle import OracleTeacher

__all__ = [
    "UNLABELED",
    "BaseTeacher",
    "CallableTeacher",
    "OracleTeacher",
    "TeacherResult",
]
