"""Pool samplers: which unlabelled items the teacher should label next."""

from ._adapter import PoolStrategy
from ._base import BaseSampler
from ._cold import COLD_STARTS, class_texts, cold_select
from ._mraru import MRARU
from ._multilabel import multilabel_uncertainty
from ._random import RandomSampler
from ._scores import uncertainty_score
from ._uncertainty import UncertaintySampler

__all__ = [
    "MRARU",
    "BaseSampler",
    "COLD_STARTS",
    "PoolStrategy",
    "RandomSampler",
    "UncertaintySampler",
    "class_texts",
    "cold_select",
    "multilabel_uncertainty",
    "uncertainty_score",
]
