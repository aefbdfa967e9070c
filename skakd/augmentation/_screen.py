"""Screening of generated samples before they reach the student."""

import re
from collections import Counter

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from .._multilabel import is_label_collection
from ..reasons import (
    DUPLICATE,
    EMPTY,
    LEAK,
    LENGTH,
    MALFORMED,
    NEAR_DUPLICATE,
    NOT_IN_CLASSES,
    SURPLUS,
)

__all__ = ["SampleScreen", "normalize_text"]

# Character 3-grams inside word boundaries survive the small edits (case,
# punctuation, a changed word) that make a "new" text a copy in disguise.
_HASHER = HashingVectorizer(
    analyzer="char_wb", ngram_range=(3, 3), n_features=2**18,
    alternate_sign=False, norm="l2", lowercase=True,
)


def normalize_text(text):
    """Lower-case, collapse whitespace: the key for exact duplicates.

    Examples
    --------
    >>> from skakd.augmentation._screen import normalize_text
    >>> normalize_text("  Hello   World ")
    'hello world'
    """
    return re.sub(r"\s+", " ", text).strip().lower()


class SampleScreen:
    """Accept or reject generated ``(text, label)`` pairs, counting why.

    With ``multi_label``, a sample's label is a collection of labels (empty
    for none of the classes), accepted as a tuple when every label is one
    of ``classes``.

    Parameters
    ----------
    classes : array-like
        Allowed labels.
    validation_texts : sequence of str
        Texts that must not leak into training.
    min_length, max_length : int
        Bounds on the stripped text's length in characters.
    near_duplicate_threshold : float or None
        Cosine similarity of character 3-gram vectors at or above which two
        texts count as near duplicates; ``None`` checks exact copies only.
    multi_label : bool, default=False
        Whether samples carry label sets.
    """

    def __init__(self, classes, validation_texts, *, min_length, max_length,
                 near_duplicate_threshold, multi_label=False):
        self.classes = set(np.asarray(classes).tolist())
        self.multi_label = multi_label
        self.min_length = min_length
        self.max_length = max_length
        self.threshold = near_duplicate_threshold
        self._val_keys = {normalize_text(t) for t in validation_texts}
        self._val_vectors = self._vectors(validation_texts)
        self._known_keys = set()
        self._known_vectors = None

    def remember(self, texts):
        """Add training texts that later samples must not duplicate."""
        texts = [str(t) for t in texts]
        self._known_keys.update(normalize_text(t) for t in texts)
        vectors = self._vectors(texts)
        if vectors is not None:
            blocks = [b for b in (self._known_vectors, vectors) if b is not None]
            self._known_vectors = sp.vstack(blocks, format="csr")

    def screen(self, samples, limit=None, quotas=None):
        """Split ``samples`` into accepted pairs and rejection counts.

        Accepted samples are remembered, so that the next batch cannot repeat
        them. Once ``limit`` samples are accepted, or ``quotas[label]``
        samples of a label (``quotas``: dict ``label -> int``; a label it
        lacks has none), the remaining valid ones are counted as
        :data:`~skakd.reasons.SURPLUS`. A label set fills the count of the
        first of its labels, in the teacher's order, whose count has room
        (a teacher names first the label it wrote the text for); a set with
        no such label (the empty set among them) is surplus.

        Returns
        -------
        accepted : list of (str, label)
        rejected : collections.Counter
            Count per reason of :data:`~skakd.reasons.REJECTION_REASONS`
            (and :data:`~skakd.reasons.SURPLUS`).
        """
        rejected = Counter()
        candidates = []
        for sample in samples:
            reason = self._check_alone(sample)
            if reason is None:
                label = _as_set(sample[1]) if self.multi_label else sample[1]
                candidates.append((sample[0].strip(), label))
            else:
                rejected[reason] += 1
        near_val, near_known, near_batch = self._near_matrices(candidates)
        accepted, kept, batch_keys, per_label = [], [], set(), Counter()
        for i, (text, label) in enumerate(candidates):
            key = normalize_text(text)
            slot = self._slot(label, quotas, per_label)
            if key in self._val_keys or near_val[i]:
                reason = LEAK
            elif key in self._known_keys or key in batch_keys:
                reason = DUPLICATE
            elif near_known[i] or near_batch[i, kept].any():
                reason = NEAR_DUPLICATE
            elif (limit is not None and len(accepted) >= limit) or slot is None:
                reason = SURPLUS
            else:
                accepted.append((text, label))
                kept.append(i)
                batch_keys.add(key)
                per_label[slot] += 1
                continue
            rejected[reason] += 1
        self.remember([text for text, _ in accepted])
        return accepted, rejected

    def _slot(self, label, quotas, taken):
        """The label whose count a sample fills (``None``: none has room);
        without quotas, the sample's label itself."""
        if quotas is None:
            return label
        labels = label if self.multi_label else (label,)
        return next((one for one in labels if taken[one] < quotas.get(one, 0)),
                    None)

    def _check_alone(self, sample):
        if not (isinstance(sample, (tuple, list)) and len(sample) == 2):
            return MALFORMED
        text, label = sample
        if not isinstance(text, str):
            return MALFORMED
        if self.multi_label:  # a bare label where a set is due is malformed
            if not is_label_collection(label):
                return MALFORMED
            if not all(_is_hashable(one) and one in self.classes
                       for one in _values(label)):
                return NOT_IN_CLASSES
        elif not _is_hashable(label) or label not in self.classes:
            return NOT_IN_CLASSES
        text = text.strip()
        if not text:
            return EMPTY
        if not self.min_length <= len(text) <= self.max_length:
            return LENGTH
        return None

    def _near_matrices(self, candidates):
        """Which candidates are near a validation text, near a known text,
        and near each other (one sparse product each)."""
        n = len(candidates)
        if self.threshold is None or n == 0:
            return np.zeros(n, bool), np.zeros(n, bool), np.zeros((n, n), bool)
        vectors = self._vectors([text for text, _ in candidates])
        return (
            self._any_near(vectors, self._val_vectors),
            self._any_near(vectors, self._known_vectors),
            (vectors @ vectors.T).toarray() >= self.threshold,
        )

    def _any_near(self, vectors, block):
        if block is None or block.shape[0] == 0:
            return np.zeros(vectors.shape[0], bool)
        similarity = (vectors @ block.T).max(axis=1).toarray().ravel()
        return similarity >= self.threshold

    def _vectors(self, texts):
        if self.threshold is None or len(texts) == 0:
            return None
        return _HASHER.transform([str(t) for t in texts])


def _values(labels):
    return labels.tolist() if isinstance(labels, np.ndarray) else list(labels)


def _as_set(labels):
    """A label collection as a tuple, without repeats, in its order."""
    return tuple(dict.fromkeys(_values(labels)))


def _is_hashable(label):
    try:
        hash(label)
    except TypeError:
        return False
    return True
