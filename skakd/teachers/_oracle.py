"""A simulated teacher that answers from known labels."""

import hashlib
import time
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

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
        Probability that the oracle answers a wrong class (uniform over the
        other requested classes), simulating a noisy LLM. The corruption is a
        deterministic function of the item and ``random_state``: asking twice
        about the same item gives the same answer, as a cached LLM would.
    random_state : int or None, default=None
        Seed of the label noise.
    cost_per_item : float, default=0.0
        Simulated price of one label in USD, to exercise ``max_cost`` budgets.
    classes : array-like or None, default=None
        Names of the columns of an indicator matrix ``y``.

    Examples
    --------
    >>> from skakd.teachers import OracleTeacher
    >>> teacher = OracleTeacher(["cheap", "pricey"], ["neg", "pos"])
    >>> teacher.label(["pricey", "unknown"], classes=["neg", "pos"]).labels
    ['pos', None]
    >>> tags = OracleTeacher(["late refund"], [["billing", "refund"]])
    >>> tags.label(["late refund"], ["billing", "refund"], multi_label=True).labels
    [('billing', 'refund')]
    """

    def __init__(self, X, y=None, *, noise_rate=0.0, random_state=None,
                 cost_per_item=0.0, classes=None):
        self.X = X
        self.y = y
        self.noise_rate = noise_rate
        self.random_state = random_state
        self.cost_per_item = cost_per_item
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
            know label sets then.

        Returns
        -------
        result : TeacherResult
        """
        start = time.perf_counter()
        lookup = self._get_lookup()
        classes = list(classes) if classes is not None else None
        labels = []
        for item in _iter_rows(items):
            key = _item_key(item)
            label = lookup.get(key, UNLABELED)
            if multi_label and label is not UNLABELED:
                label = self._as_set(label)
            if label is not UNLABELED and self.noise_rate > 0 and classes:
                label = self._maybe_corrupt(key, label, classes)
            labels.append(label)
        return TeacherResult(
            labels=labels,
            cost=self.cost_per_item * len(labels),
            latency=time.perf_counter() - start,
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

    def _maybe_corrupt(self, key, label, classes):
        draw = np.frombuffer(_digest(self._noise_seed(), key), dtype=np.uint64)
        coin, pick = draw / np.float64(2**64)
        if isinstance(label, tuple):  # a label set: one label toggled
            if coin >= self.noise_rate:
                return label
            flip = classes[int(pick * len(classes))]
            return tuple(c for c in classes
                         if (c in label) != (c == flip))
        others = [c for c in classes if c != label]
        if coin >= self.noise_rate or not others:
            return label
        return others[int(pick * len(others))]

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
