"""A simulated generating teacher: real held-out texts stand in for an LLM."""

import hashlib

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from .._multilabel import check_multilabel_target
from ..teachers import OracleTeacher

__all__ = ["SimulatedGenerator"]


class SimulatedGenerator(OracleTeacher):
    """A *simulation* of an LLM that writes training texts, for offline runs.

    :meth:`generate` writes nothing: it draws real labelled texts from a
    reservoir of held-out data ``(X, y)``, choosing them the way an LLM that
    follows a :class:`GenerationRequest` would be expected to. It is a
    stand-in for tests, docs and benchmarks; its numbers measure how much
    *well-targeted real* data helps, not how good an LLM's writing is.

    With ``targeted=True``:

    * a ``hard_negative_share`` of the samples answer the hard negatives in
      turn. For a hard negative of class ``a`` confused with ``b``, the
      ``"pair"`` policy draws a text of ``a`` among the ``n_neighbors``
      closest (TF-IDF cosine) to the centroid of ``b``, then a text of ``b``
      closest to ``a``: both sides of the boundary the student gets wrong.
      The ``"text"`` policy draws texts of ``a`` and ``b`` closest to the
      hard-negative text itself (paraphrases of validation texts: it tends
      to improve the validation score more than the test score);
    * the rest are spread over classes with weights ``1 - F1 + 0.1`` from
      the request's validation report (uniform when there is no report).

    With ``targeted=False`` (or a request with neither report nor hard
    negatives) classes are drawn uniformly: untargeted generation.

    A request with ``class_counts`` is followed exactly, as a good LLM
    would: each class gets its count (as far as its reservoir lasts), the
    hard-negative draws included, and only the choice of texts *within* a
    class is targeted. ``targeted=False`` then draws each class's texts at
    random: the *reservoir generator*, real unseen texts in the asked mix,
    which is the upper bound a perfect LLM would reach. Each
    reservoir text is handed out at most once per instance, as an LLM asked
    for new texts writes new ones; :meth:`reset` forgets what was handed out
    (do so, or use a new instance, before each fit that must be
    reproducible). A class whose texts run out gets no more samples.
    ``label`` answers from the reservoir like :class:`OracleTeacher`, so the
    same object can label a pool drawn from it.

    With label sets (``y`` a collection of labels per text, or an indicator
    matrix with ``classes=``) it answers a multi-label request
    (``request.multi_label``) with ``(text, labels)`` pairs: a class's count
    is met with texts *carrying* that class, each text handed out once, and
    a hard negative (a text the student wrongly gives a label) is answered
    with texts of its labels, and of the wrong one, closest to it.

    Parameters
    ----------
    X : sequence of str
        The reservoir of held-out texts.
    y : array-like of shape (n_texts,) or (n_texts, n_classes)
        Their labels: one per text, or a collection of labels per text (an
        indicator matrix with ``classes``).
    targeted : bool, default=True
        Whether to follow the report and hard negatives.
    hard_negative_share : float in [0, 1], default=0.5
        Share of each batch spent on hard negatives (when there are some).
    hard_negative_policy : {"pair", "text"}, default="pair"
        What a hard-negative answer is drawn close to (see above). Hard
        negatives without a confused class always use ``"text"``.
    n_neighbors : int, default=10
        A hard-negative answer is drawn at random among this many closest
        reservoir texts of the class not handed out yet.
    noise_rate : float in [0, 1), default=0.0
        Probability that a generated (or labelled) item carries a wrong
        label, simulating a careless teacher.
    random_state : int or None, default=None
        Seed. The same seed, the same request and the same texts handed out
        before give the same answer.
    cost_per_item : float, default=0.0
        Simulated price of one label in USD (``label`` only).
    classes : array-like or None, default=None
        Names of the columns of an indicator matrix ``y``.

    Examples
    --------
    >>> from skakd.augmentation import GenerationRequest, SimulatedGenerator
    >>> teacher = SimulatedGenerator(
    ...     ["cheap", "awful", "superb", "lovely"], ["neg", "neg", "pos", "pos"],
    ...     random_state=0)
    >>> report = {"neg": {"f1-score": 0.2}, "pos": {"f1-score": 1.0}}
    >>> request = GenerationRequest(["neg", "pos"], n_samples=2, report=report)
    >>> sorted(label for _, label in teacher.generate(request))
    ['neg', 'neg']

    Label sets:

    >>> tags = SimulatedGenerator(["late refund", "login fails", "refund please"],
    ...                           [["billing", "refund"], ["login"], ["refund"]],
    ...                           random_state=0)
    >>> request = GenerationRequest(["billing", "login", "refund"], n_samples=2,
    ...                             class_counts={"refund": 2}, multi_label=True)
    >>> sorted(tags.generate(request))
    [('late refund', ('billing', 'refund')), ('refund please', ('refund',))]
    """

    def __init__(self, X, y=None, *, targeted=True, hard_negative_share=0.5,
                 hard_negative_policy="pair", n_neighbors=10, noise_rate=0.0,
                 random_state=None, cost_per_item=0.0, classes=None):
        super().__init__(X, y, noise_rate=noise_rate, random_state=random_state,
                         cost_per_item=cost_per_item, classes=classes)
        self.targeted = targeted
        self.hard_negative_share = hard_negative_share
        self.hard_negative_policy = hard_negative_policy
        self.n_neighbors = n_neighbors

    def generate(self, request):
        """Draw ``request.n_samples`` reservoir texts as the request asks.

        Parameters
        ----------
        request : GenerationRequest

        Returns
        -------
        samples : list of (str, label)
            A tuple of labels for ``label`` when ``request.multi_label``.
        """
        reservoir = self._get_reservoir()
        if request.multi_label != reservoir["multi_label"]:
            raise ValueError(
                f"SimulatedGenerator: the request asks for "
                f"{'label sets' if request.multi_label else 'one label per text'}"
                f" but the reservoir's y holds "
                f"{'label sets' if reservoir['multi_label'] else 'single labels'}"
                "; expected a reservoir labelled like the fit's y."
            )
        rng = np.random.default_rng(
            [int(self._noise_seed()) % 2**63, _fingerprint(request.to_prompt())]
        )
        classes = [c for c in request.classes if c in reservoir["by_class"]]
        if not classes:
            return []
        taken = self._handed_out()
        quota = None
        if request.class_counts is not None:
            quota = {label: int(count) for label, count in request.class_counts.items()}
        hard = self._hard_negative_draws(request, reservoir, rng, taken, quota)
        if quota is None:
            rest = self._class_draws(request, classes, reservoir, rng, taken,
                                     request.n_samples - len(hard))
        else:
            rest = self._quota_draws(quota, reservoir, rng, taken)
        return [self._answer(i, classes) for i in hard + rest]

    def reset(self):
        """Forget which texts were handed out: the reservoir is full again.

        Returns
        -------
        self : SimulatedGenerator
        """
        self.__dict__.pop("_taken", None)
        return self

    def _handed_out(self):
        if not hasattr(self, "_taken"):
            self._taken = set()
        return self._taken

    def _hard_negative_draws(self, request, reservoir, rng, taken, quota=None):
        if not (self.targeted and request.hard_negatives):
            return []
        if self.hard_negative_policy not in ("pair", "text"):
            raise ValueError(
                f"hard_negative_policy must be 'pair' or 'text', got "
                f"{self.hard_negative_policy!r}."
            )
        if not 0 <= self.hard_negative_share <= 1:
            raise ValueError(
                f"hard_negative_share must be in [0, 1], got "
                f"{self.hard_negative_share!r}."
            )
        n_hard = int(round(self.hard_negative_share * request.n_samples))
        targets = []
        for text, label, *confused in request.hard_negatives:
            if request.multi_label:  # texts of its labels and the wrong one
                targets += [(c, text) for c in (*label, *confused)]
            elif self.hard_negative_policy == "text" or not confused:
                targets += [(label, text)] + [(c, text) for c in confused]
            else:  # both sides of the confused pair, near the other side
                targets += [(label, confused[0]), (confused[0], label)]
        draws = []
        for j in range(n_hard):
            label, toward = targets[j % len(targets)]
            if quota is not None and quota.get(label, 0) <= 0:
                continue  # the class's count is spent
            index = self._near(label, toward, reservoir, rng, taken)
            if index is not None:
                draws.append(index)
                taken.add(index)
                if quota is not None:
                    quota[label] -= 1
        return draws

    def _near(self, label, toward, reservoir, rng, taken):
        """A random one of the ``n_neighbors`` texts of ``label`` closest to
        ``toward``: a text, or (``"pair"`` policy) the centroid of a class."""
        members = [i for i in reservoir["by_class"].get(label, ()) if i not in taken]
        if not members:
            return None
        query = self._query(toward, reservoir)
        similarity = np.asarray(reservoir["matrix"][members] @ query.T).ravel()
        nearest = np.argsort(-similarity, kind="stable")[: self.n_neighbors]
        return members[int(rng.choice(nearest))]

    def _query(self, toward, reservoir):
        if self.hard_negative_policy == "text" or toward not in reservoir["by_class"]:
            return reservoir["vectorizer"].transform([str(toward)]).toarray()
        centroids = reservoir.setdefault("centroids", {})
        if toward not in centroids:
            rows = reservoir["matrix"][reservoir["by_class"][toward]]
            centroids[toward] = np.asarray(rows.mean(axis=0))
        return centroids[toward]

    def _class_draws(self, request, classes, reservoir, rng, taken, n):
        if n <= 0:
            return []
        weights = self._class_weights(request, classes)
        draws = []
        for label in rng.choice(len(classes), size=n, p=weights):
            members = [
                i for i in reservoir["by_class"][classes[label]] if i not in taken
            ]
            if members:
                index = int(rng.choice(members))
                draws.append(index)
                taken.add(index)
        return draws

    def _quota_draws(self, quota, reservoir, rng, taken):
        """``quota[label]`` random texts of each label not handed out yet."""
        draws = []
        for label, count in quota.items():
            members = [
                i for i in reservoir["by_class"].get(label, ()) if i not in taken
            ]
            if count > 0 and members:
                chosen = rng.choice(members, size=min(count, len(members)),
                                    replace=False)
                draws += [int(i) for i in chosen]
                taken.update(draws)  # a text carrying two labels goes once
        return draws

    def _class_weights(self, request, classes):
        report = request.report if self.targeted else None
        if not report:
            return np.full(len(classes), 1 / len(classes))
        f1 = {
            label: row.get("f1-score", row.get("f1"))
            for label, row in report.items() if isinstance(row, dict)
        }
        known = [v for v in f1.values() if v is not None]
        default = float(np.mean(known)) if known else 0.5
        weights = np.array([
            1.0 - _lookup(f1, label, default) + 0.1 for label in classes
        ])
        return weights / weights.sum()

    def _answer(self, index, classes):
        reservoir = self._get_reservoir()
        text, label = reservoir["texts"][index], reservoir["labels"][index]
        if self.noise_rate > 0 and reservoir["multi_label"]:
            label = self._toggle_one(text, label, classes)
        elif self.noise_rate > 0:
            label = self._maybe_corrupt(text, label, classes)
        return text, label

    def _get_reservoir(self):
        reservoir = getattr(self, "_reservoir", None)
        if reservoir is None:
            reservoir = self._build_reservoir()
            self._reservoir = reservoir
        return reservoir

    def _build_reservoir(self):
        texts = [str(t) for t in self.X]
        labels = self._known_labels()  # label tuples for label sets
        if len(texts) != len(labels):
            raise ValueError(
                f"SimulatedGenerator: X has {len(texts)} texts but y has "
                f"{len(labels)} labels; expected one label per text."
            )
        multi_label = check_multilabel_target(self.y, self.classes) is not None
        by_class = {}
        for i, label in enumerate(labels):
            for member in (label if multi_label else (label,)):
                by_class.setdefault(member, []).append(i)
        vectorizer = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        return {
            "texts": texts, "labels": labels, "by_class": by_class,
            "multi_label": multi_label,
            "vectorizer": vectorizer, "matrix": vectorizer.fit_transform(texts),
        }

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_reservoir", None)  # rebuilt on demand
        return state


def _lookup(f1, label, default):
    """Report rows are keyed by ``str(label)``."""
    value = f1.get(str(label), f1.get(label))
    return default if value is None else value


def _fingerprint(text):
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
