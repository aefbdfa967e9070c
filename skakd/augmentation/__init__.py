"""Augmentation: strategies where the teacher writes new training texts.

:class:`PGKD` asks a generating teacher for new labelled texts, guided by the
student's validation errors; :class:`GenerationRequest` is what it asks;
:class:`SimulatedGenerator` is an offline stand-in for the LLM that answers.
"""

from ._pgkd import PGKD
from ._request import GenerationRequest
from ._simulated import SimulatedGenerator

__all__ = ["PGKD", "GenerationRequest", "SimulatedGenerator"]
