"""skakd: scikit-learn active knowledge distillation.

Distil an expensive teacher (an LLM or any labelling function) into a small,
fast scikit-learn classifier, asking the teacher for as few labels as
possible.
"""

from ._classifier import ActiveDistillationClassifier
from ._history import History
from ._multilabel_student import MultiLabelStudent
from .pools import Pool
from .strategy import Acquisition, DistillationState

__version__ = "0.1.0"

__all__ = [
    "Acquisition",
    "ActiveDistillationClassifier",
    "DistillationState",
    "History",
    "MultiLabelStudent",
    "Pool",
    "__version__",
]
