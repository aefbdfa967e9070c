"""Pool samplers: which unlabelled items the teacher should label next."""

from ._adapter import PoolStrategy
from ._base import BaseSampler
from ._mraru import MRARU
from ._multilabel import multilabel_uncertainty
from ._random import RandomSampler
from ._scores import uncertainty_score
from ._uncertainty import UncertaintySampler

__all__ = [
    "MRARU",
    "BaseSampler",
    "PoolStrategy",
    "RandomSampler",
    "UncertaintySampler",
    "multilabel_uncertainty",
    "uncertainty_score",
]
