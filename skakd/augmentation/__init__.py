"""Augmentation: strategies where the teacher writes new training texts."""

from ._request import GenerationRequest

__all__ = ["GenerationRequest"]
