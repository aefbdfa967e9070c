"""A simulated teacher that answers from known labels."""

import difflib
import hashlib
import re
import time
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from scipy import stats

from .._multilabel import (
    check_multilabel_target,
    is_label_collection,
    label_sets,
)
from ._base import UNLABELED, BaseTeacher, TeacherResult

__all__ = ["OracleTeacher"]


class OracleTeacher(BaseTeacher):
    """Answer from known labels, optionally with label noise.

    The standard way to simulate a teacher offline, as active-learning papers
    do: the true labels of the pool stand in for the LLM's answers. Items the
    oracle does not know are answered with :data:`~skakd.teachers.UNLABELED`.

    Parameters
    ----------
    X : mapping or array-like
        Either a mapping ``item -> label`` (then ``y`` must be ``None``) or
        the items whose labels are ``y``: texts, or rows of a numeric or
        sparse matrix. Where an item occurs twice, its first label wins.
    y : array-like of shape (n_items,), default=None
        Labels of ``X``: one label per item, or for multi-label targets a
        collection of labels per item (or an indicator matrix whose columns
        ``classes`` names).
    noise_rate : float in [0, 1), default=0.0
        Probability that the oracle answers a wrong class, simulating a noisy
        LLM. The corruption is a deterministic function of the item and
        ``random_state``: asking twice about the same item gives the same
        answer, as a cached LLM would.
    random_state : int or None, default=None
        Seed of the label noise.
    cost_per_item : float, default=0.0
        Simulated price of one label in USD, to exercise ``max_cost`` budgets.
    confusion : None, "names" or mapping, default=None
        Which wrong class a wrong answer names. ``None``: any other requested
        class, uniformly. ``"names"``: classes whose names look alike, as a
        model confuses ``card_arrival`` with ``card_delivery_estimate``: the
        weight of a wrong class is the fourth power of
        :class:`difflib.SequenceMatcher`'s ratio between the two names (words
        split at ``_``, ``-``, spaces and capitals), so most wrong answers go
        to the few most similar names. A mapping ``true -> {wrong: weight}``
        gives the confusion structure itself (e.g. a confusion matrix's rows);
        a class without a row, or whose row names none of the requested
        classes, is confused uniformly.
    confidence : None or "calibrated", default=None
        ``"calibrated"`` simulates a teacher that says how sure it is, and is
        right exactly as often as it says: each item gets a confidence ``c``
        drawn from ``Beta(k m, k (1 - m))`` with mean ``m = 1 - noise_rate``
        and concentration ``k = confidence_concentration``, and the answer
        is right with probability ``c``. Wrong answers thus come with lower
        confidence, and ``TeacherResult.confidence`` holds ``c`` (``None``
        for items the oracle does not know). With ``None`` the noise is a
        coin of probability ``noise_rate`` and no confidence is given.
    confidence_concentration : float > 0, default=1.0
        ``k`` above: small values make confidences bimodal (most answers
        sure and right, the rest unsure), large ones pile them up at
        ``1 - noise_rate`` (no item distinguishable from another).
    classes : array-like or None, default=None
        Names of the columns of an indicator matrix ``y``.

    Examples
    --------
    >>> from skakd.teachers import OracleTeacher
    >>> teacher = OracleTeacher(["cheap", "pricey"], ["neg", "pos"])
    >>> teacher.label(["pricey", "unknown"], classes=["neg", "pos"]).labels
    ['pos', None]

    A cheap teacher that is right 3 times in 4, confuses similar class names
    and says how sure it is:

    >>> cheap = OracleTeacher(["card lost", "card stolen"], ["lost", "stolen"],
    ...                       noise_rate=0.25, confusion="names",
    ...                       confidence="calibrated", random_state=0)
    >>> result = cheap.label(["card lost"], ["lost", "stolen", "refund"])
    >>> len(result.confidence), 0 <= result.confidence[0] <= 1
    (1, True)

    Label sets, for multi-label targets:

    >>> tags = OracleTeacher(["late refund"], [["billing", "refund"]])
    >>> tags.label(["late refund"], ["billing", "refund"], multi_label=True).labels
    [('billing', 'refund')]
    """

    def __init__(self, X, y=None, *, noise_rate=0.0, random_state=None,
                 cost_per_item=0.0, confusion=None, confidence=None,
                 confidence_concentration=1.0, classes=None):
        self.X = X
        self.y = y
        self.noise_rate = noise_rate
        self.random_state = random_state
        self.cost_per_item = cost_per_item
        self.confusion = confusion
        self.confidence = confidence
        self.confidence_concentration = confidence_concentration
        self.classes = classes

    def label(self, items, classes, multi_label=False):
        """Answer each item from the known labels.

        Parameters
        ----------
        items : sequence
            The items to label.
        classes : list
            The labels to answer from (the noise draws among them).
        multi_label : bool, default=False
            Answer the label set of each item (a tuple); the oracle must
            know label sets then. Noise toggles one label of a corrupted
            set (with ``confidence="calibrated"``, a wrong set has one label
            toggled).

        Returns
        -------
        result : TeacherResult
        """
        start = time.perf_counter()
        lookup = self._get_lookup()
        self._check_noise()
        classes = list(classes) if classes is not None else None
        keys = [_item_key(item) for item in _iter_rows(items)]
        truth = [lookup.get(key, UNLABELED) for key in keys]
        if multi_label:
            truth = [label if label is UNLABELED else self._as_set(label)
                     for label in truth]
        if self.confidence == "calibrated":
            labels, confidence = self._calibrated(keys, truth, classes, multi_label)
        elif multi_label:
            labels, confidence = [
                label if label is UNLABELED or self.noise_rate == 0 or not classes
                else self._toggle_one(key, label, classes)
                for key, label in zip(keys, truth)], None
        else:
            labels, confidence = [
                label if label is UNLABELED or self.noise_rate == 0 or not classes
                else self._maybe_corrupt(key, label, classes)
                for key, label in zip(keys, truth)], None
        return TeacherResult(
            labels=labels,
            confidence=confidence,
            cost=self.cost_per_item * len(labels),
            latency=time.perf_counter() - start,
        )

    def _calibrated(self, keys, truth, classes, multi_label=False):
        """Labels right with probability equal to their drawn confidence (a
        wrong label set has one label toggled)."""
        wrong = self._wrong_set if multi_label else self._wrong
        mean = 1.0 - self.noise_rate
        draws = np.array([np.frombuffer(
            _digest(self._noise_seed(), ("calibrated", key)), dtype=np.uint64)
            for key in keys], dtype=np.float64).reshape(-1, 2) / 2.0**64
        draws = np.clip(draws, 1e-12, 1 - 1e-12)
        if mean >= 1.0:
            sure = np.ones(len(keys))
        else:
            k = self.confidence_concentration
            sure = stats.beta.ppf(draws[:, 0], k * mean, k * (1 - mean))
        labels, confidence = [], []
        for key, label, c, coin in zip(keys, truth, sure, draws[:, 1]):
            if label is UNLABELED:
                labels.append(label)
                confidence.append(None)
                continue
            # The coin is independent of c: P(right | c) = c, calibrated.
            if coin >= c and classes:
                label = wrong(key, label, classes)
            labels.append(label)
            confidence.append(float(c))
        return labels, confidence

    def _check_noise(self):
        if self.confidence not in (None, "calibrated"):
            raise ValueError(
                f"confidence must be None or 'calibrated', got {self.confidence!r}."
            )
        if not (isinstance(self.confusion, Mapping) or self.confusion in (None,
                                                                       "names")):
            raise ValueError(
                f"confusion must be None, 'names' or a mapping true -> {{wrong: "
                f"weight}}, got {self.confusion!r}."
            )
        k = self.confidence_concentration
        if not isinstance(k, (int, float)) or not k > 0:
            raise ValueError(
                f"confidence_concentration must be a number > 0, got {k!r}."
            )

    def _get_lookup(self):
        lookup = getattr(self, "_lookup", None)
        if lookup is None:
            lookup = self._build_lookup()
            self._lookup = lookup
        return lookup

    def _build_lookup(self):
        if not 0.0 <= self.noise_rate < 1.0:
            raise ValueError(
                f"noise_rate must be in [0, 1), got {self.noise_rate!r}."
            )
        if isinstance(self.X, Mapping):
            if self.y is not None:
                raise ValueError(
                    "OracleTeacher: pass either a mapping item -> label as X "
                    "with y=None, or items X with their labels y; got both."
                )
            return {_item_key(k): v for k, v in self.X.items()}
        if self.y is None:
            raise ValueError(
                "OracleTeacher: y is None but X is not a mapping; pass the "
                "labels of X as y."
            )
        y = self._known_labels()
        rows = list(_iter_rows(self.X))
        if len(rows) != len(y):
            raise ValueError(
                f"OracleTeacher: X has {len(rows)} items but y has {len(y)} "
                "labels; expected one label per item."
            )
        lookup = {}
        for row, label in zip(rows, y):
            lookup.setdefault(_item_key(row), label)
        return lookup

    def _known_labels(self):
        """``y`` as a list: labels, or tuples of labels for label sets."""
        target = check_multilabel_target(self.y, self.classes)
        if target is None:
            return np.asarray(self.y).tolist()
        return label_sets(*target)

    def _as_set(self, label):
        if not is_label_collection(label):
            raise TypeError(
                f"OracleTeacher was asked for label sets (multi_label=True) "
                f"but knows single labels ({label!r}); pass y as a collection "
                "of labels per item."
            )
        return tuple(label)

    def _toggle_one(self, key, labels, classes):
        """A label set, one of whose labels is toggled with ``noise_rate``."""
        draw = np.frombuffer(_digest(self._noise_seed(), key), dtype=np.uint64)
        coin, pick = draw / np.float64(2**64)
        if coin >= self.noise_rate:
            return labels
        return _toggle(labels, classes, pick)

    def _maybe_corrupt(self, key, label, classes):
        draw = np.frombuffer(_digest(self._noise_seed(), key), dtype=np.uint64)
        coin, pick = draw / np.float64(2**64)
        if coin >= self.noise_rate:
            return label
        return self._confuse(label, classes, pick)

    def _wrong(self, key, label, classes):
        draw = np.frombuffer(_digest(self._noise_seed(), ("wrong", key)),
                             dtype=np.uint64)
        return self._confuse(label, classes, draw[0] / np.float64(2**64))

    def _wrong_set(self, key, labels, classes):
        draw = np.frombuffer(_digest(self._noise_seed(), ("wrong", key)),
                             dtype=np.uint64)
        return _toggle(labels, classes, draw[0] / np.float64(2**64))

    def _confuse(self, label, classes, pick):
        """The wrong class at quantile ``pick`` of ``label``'s confusions."""
        others = [c for c in classes if c != label]
        if not others:
            return label
        weights = _confusion_weights(self.confusion, label, others)
        if weights is None:  # uniform: the historical draw, kept exactly
            return others[int(pick * len(others))]
        cumulative = np.cumsum(weights) / np.sum(weights)
        return others[min(int(np.searchsorted(cumulative, pick, side="right")),
                          len(others) - 1)]

    def _noise_seed(self):
        seed = getattr(self, "_seed", None)
        if seed is None:
            seed = (
                np.random.SeedSequence().entropy
                if self.random_state is None
                else self.random_state
            )
            self._seed = seed
        return seed

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_lookup", None)  # rebuilt on demand; keeps pickles small
        return state


def _confusion_weights(confusion, label, others):
    """Weights of the wrong classes ``others`` for ``label``, or ``None``
    for uniform confusion."""
    if confusion is None:
        return None
    if confusion == "names":
        return np.array([_name_similarity(label, other) ** 4 + 1e-9
                         for other in others])
    row = confusion.get(label)
    if not isinstance(row, Mapping):
        return None
    weights = np.array([float(row.get(other, 0.0)) for other in others])
    return weights if weights.sum() > 0 else None


def _name_similarity(a, b):
    """How alike two class names read, in [0, 1]."""
    return difflib.SequenceMatcher(None, _words(a), _words(b)).ratio()


def _words(name):
    # "card_arrival", "CardArrival" and "card arrival" read the same.
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name))
    return " ".join(re.split(r"[\s_\-]+", spaced.lower())).strip()


def _iter_rows(items):
    if sp.issparse(items):
        items = items.tocsr()
        return (items[i] for i in range(items.shape[0]))
    if isinstance(items, np.ndarray) and items.ndim == 2:
        return iter(items)
    return iter(items)


def _item_key(item):
    if isinstance(item, str):
        return item
    if sp.issparse(item):
        row = item.tocsr()
        row.sort_indices()
        return (
            "sparse",
            row.shape[1],
            row.indices.tobytes(),
            np.asarray(row.data, dtype=np.float64).tobytes(),
        )
    if isinstance(item, np.ndarray):
        if item.dtype.kind in "OUS":
            return tuple(item.tolist())
        return np.ascontiguousarray(item, dtype=np.float64).tobytes()
    return item


def _digest(seed, key):
    h = hashlib.blake2b(digest_size=16)
    h.update(str(seed).encode())
    h.update(repr(key).encode() if not isinstance(key, bytes) else key)
    return h.digest()


def _toggle(labels, classes, pick):
    """``labels`` with the class at quantile ``pick`` of ``classes`` toggled."""
    flip = classes[int(pick * len(classes))]
    return tuple(c for c in classes if (c in labels) != (c == flip))
