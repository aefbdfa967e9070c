"""PGKD: the teacher writes new training texts, guided by the student."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import classification_report, f1_score, log_loss
from sklearn.utils._param_validation import HasMethods, Interval

from .._items import is_text_items
from ..sampling import PoolStrategy
from ..strategy import Acquisition
from ._request import GenerationRequest
from ._screen import REJECTION_REASONS, SURPLUS, SampleScreen

__all__ = ["PGKD"]


class PGKD(BaseEstimator):
    """Performance-Guided Knowledge Distillation: generate where the student fails.

    A strategy for :class:`~skakd.ActiveDistillationClassifier` in which the
    teacher does not label a pool but *writes* new labelled texts. Each round
    the current student is evaluated on a validation split of the seed, and
    a :class:`GenerationRequest` is built from what it gets wrong: the
    taxonomy, few-shot examples, the validation ``classification_report``,
    correctly and wrongly classified validation texts, and hard negatives.
    The teacher answers ``teacher.generate(request)`` with ``(text, label)``
    pairs, which are screened (see Notes) before the student is refitted.
    The loop stops early when the validation loss has not improved for
    ``patience`` rounds, and the student with the lowest validation loss is
    restored at the end.

    Paper defaults are ``PGKD()`` with ``max_iter=10`` on the classifier.

    Parameters
    ----------
    batch_size : int, default=32
        Samples requested per round.
    validation_fraction : float in (0, 1), default=0.2
        Share of each seed class moved to the validation split (stratified;
        a class keeps at least one training example). The student never
        trains on it.
    patience : int or None, default=5
        Rounds without a new lowest validation loss before stopping with
        ``"early_stopping"``; ``None`` never stops early.
    n_examples : int, default=10
        Few-shot examples from the training part of the seed; 0 leaves them
        out of the prompt.
    n_correct : int, default=5
        Correctly classified validation texts shown; 0 leaves them out.
    n_misclassified : int, default=10
        Misclassified validation texts shown (other than the hard
        negatives); 0 leaves them out.
    n_hard_negatives : int, default=10
        Hard negatives shown; 0 leaves them out (the paper's "no hard
        negatives" ablation). See Notes for how they are picked.
    include_report : bool, default=True
        Whether the prompt shows the validation report (``False`` is the
        paper's "no validation report" ablation).
    class_descriptions : dict or None, default=None
        ``label -> description`` shown with the taxonomy.
    min_length, max_length : int, default=3, 2000
        Bounds on a generated text's length in characters (after stripping).
    near_duplicate_threshold : float in (0, 1] or None, default=0.9
        Cosine similarity of character 3-gram vectors at or above which a
        generated text counts as a copy of a training or validation text.
        ``None`` only drops exact copies (ignoring case and whitespace).
    restore_best : bool, default=True
        Whether the classifier ends with the student of lowest validation
        loss (the paper's rule) rather than the last one.
    pool_sampler : sampler or None, default=None
        With a pool (``fit(..., X_pool=...)``) and a sampler such as
        :class:`~skakd.sampling.MRARU`, rounds alternate: odd rounds
        generate, even rounds let the sampler pick ``batch_size`` pool items
        for ``teacher.label``. Once the pool is exhausted every round
        generates. ``None`` ignores the pool.

    Attributes
    ----------
    best_round_ : int
        Round whose student had the lowest validation loss (0: the seed
        student); with ``restore_best`` it is the student the classifier
        keeps, and rows of ``labeled_X_`` added after it were not used by it.
    best_val_loss_ : float
        Its validation log-loss.
    seed_scores_ : dict
        ``val_loss``, ``val_accuracy``, ``val_macro_f1`` of the seed student.
    n_generated_ : int
        Samples returned by the teacher over the fit, before screening.
    n_rejected_ : dict
        Rejected samples per reason over the fit (see Notes), plus
        ``"surplus"``: valid samples beyond the number asked for.
    last_request_ : GenerationRequest or None
        The last request sent to the teacher.
    validation_size_ : int
        Number of seed items in the validation split.

    See Also
    --------
    skakd.sampling.MRARU : Let the student choose pool items to label instead.
    SimulatedGenerator : An offline stand-in for a generating LLM.

    Notes
    -----
    **Hard negatives** are the validation texts to which the student gives
    the highest probability for a wrong class, i.e. sorted by
    ``max_{k != y} p_k(x)`` descending; the third item of each entry names
    that class (``(text, label, confused_with)``). Confidently misclassified
    texts come first, then correct texts that were nearly confused, so the
    section is never empty while the student errs or hesitates. The
    ``misclassified`` section is drawn at random from the other errors.

    **Screening.** ``history_`` counts per round the samples the teacher
    returned (``n_generated``, also ``n_visited``), the share kept
    (``acceptance_rate``) and the dropped ones. A generated sample is
    dropped, and counted as ``n_rejected_<reason>`` (total ``n_rejected``), when it
    is not a ``(text, label)`` pair (``malformed``), its label is not in
    ``classes`` (``label``), its text is blank (``empty``) or outside the
    length bounds (``length``), it copies a validation text (``leak``), or
    it copies a training text (seed, pool labels or an earlier generation)
    or a sample earlier in the same batch, exactly (``duplicate``) or nearly
    (``near_duplicate``). Kept samples have ``label_source_ ==
    "generated"`` and ``label_round_`` the round (step) that made them.

    The seed student's validation metrics are in ``seed_scores_`` (round 0
    of ``history_`` has none, unless the classifier calls :meth:`evaluate`
    after fitting the seed student too, which this class supports).

    References
    ----------
    .. [1] Di Palo, F., Singhi, P., Fadlallah, B. "Performance-Guided LLM
       Knowledge Distillation for Efficient Text Classification at Scale",
       arXiv:2411.05045, 2024.

    Examples
    --------
    >>> from skakd import ActiveDistillationClassifier
    >>> from skakd.augmentation import PGKD, SimulatedGenerator
    >>> from skakd.datasets import load_dataset
    >>> data = load_dataset("trec")
    >>> X, y = data.X_train[:200], data.y_train[:200]
    >>> teacher = SimulatedGenerator(data.X_train[200:2000], data.y_train[200:2000],
    ...                              random_state=0)
    >>> clf = ActiveDistillationClassifier(
    ...     teacher=teacher, sampler=PGKD(batch_size=16), max_iter=3,
    ...     random_state=0).fit(X, y)
    >>> clf.history_[:, "n_labeled"]  # 40 of the 200 seed texts validate
    [160, 176, 192, 207]
    >>> round(clf.sampler_.seed_scores_["val_loss"], 2)  # the seed student
    1.18
    >>> [round(loss, 2) for loss in clf.history_[1:, "val_loss"]]
    [1.17, 1.14, 1.12]
    >>> clf.sampler_.best_round_
    3
    >>> clf.sampler_.n_rejected_["leak"]  # a near copy of a validation text
    1
    """

    _parameter_constraints: dict = {
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "n_examples": [Interval(Integral, 0, None, closed="left")],
        "n_correct": [Interval(Integral, 0, None, closed="left")],
        "n_misclassified": [Interval(Integral, 0, None, closed="left")],
        "n_hard_negatives": [Interval(Integral, 0, None, closed="left")],
        "include_report": ["boolean"],
        "class_descriptions": [dict, None],
        "min_length": [Interval(Integral, 0, None, closed="left")],
        "max_length": [Interval(Integral, 1, None, closed="left")],
        "near_duplicate_threshold": [Interval(Real, 0, 1, closed="right"), None],
        "restore_best": ["boolean"],
        "pool_sampler": [HasMethods(["select"]), None],
    }

    def __init__(
        self,
        batch_size=32,
        *,
        validation_fraction=0.2,
        patience=5,
        n_examples=10,
        n_correct=5,
        n_misclassified=10,
        n_hard_negatives=10,
        include_report=True,
        class_descriptions=None,
        min_length=3,
        max_length=2000,
        near_duplicate_threshold=0.9,
        restore_best=True,
        pool_sampler=None,
    ):
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.n_examples = n_examples
        self.n_correct = n_correct
        self.n_misclassified = n_misclassified
        self.n_hard_negatives = n_hard_negatives
        self.include_report = include_report
        self.class_descriptions = class_descriptions
        self.min_length = min_length
        self.max_length = max_length
        self.near_duplicate_threshold = near_duplicate_threshold
        self.restore_best = restore_best
        self.pool_sampler = pool_sampler

    # -- strategy protocol ------------------------------------------------

    def prepare(self, state):
        """Check the setup and move the validation split out of the seed."""
        self._validate_params()
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length={self.min_length} is larger than max_length="
                f"{self.max_length}; expected min_length <= max_length."
            )
        _check_teacher(state.teacher)
        if not is_text_items(state.labeled.X):
            raise TypeError(
                "PGKD generates texts, so the seed X must be a sequence of "
                f"texts; got {type(state.labeled.X).__name__} of numbers."
            )
        mask = _stratified_mask(state.labeled.y, self.validation_fraction, state.rng)
        if not mask.any():
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no "
                "validation example: every seed class has a single example. "
                "Expected a seed with at least two examples of some class."
            )
        state.X_val, state.y_val = state.labeled.remove(mask)
        self._screen = SampleScreen(
            state.classes, state.X_val, min_length=self.min_length,
            max_length=self.max_length,
            near_duplicate_threshold=self.near_duplicate_threshold,
        )
        self._n_remembered = 0
        self._pool = self._make_pool_strategy(state)
        self._val_proba = None
        self._best_estimator = None
        self._rounds_since_best = 0
        self.validation_size_ = len(state.y_val)
        self.best_round_ = 0
        self.best_val_loss_ = np.inf
        self.seed_scores_ = {}
        self.n_generated_ = 0
        self.n_rejected_ = dict.fromkeys((*REJECTION_REASONS, SURPLUS), 0)
        self.last_request_ = None

    def acquire(self, state):
        """Generate (or, on pool rounds, label) up to ``state.n_wanted`` items."""
        if self._val_proba is None:  # the seed student was not scored yet
            self._evaluate(state, state.round - 1)
        self._remember_new_rows(state)
        if self._pool is not None and state.round % 2 == 0:
            acquisition = self._pool.acquire(state)
            if acquisition is not None:
                acquisition.stats["acquisition"] = "pool"
                return acquisition
        return self._generate(state)

    def evaluate(self, state):
        """Score the refitted student on the validation split.

        Returns
        -------
        metrics : dict
            ``val_loss``, ``val_accuracy``, ``val_macro_f1`` and
            ``best_round``.
        stop : bool
            Whether ``patience`` rounds passed without a new best loss.
        """
        return self._evaluate(state, state.round)

    def finalize(self, state):
        """Put the student with the lowest validation loss back in place."""
        if self.restore_best and self._best_estimator is not None:
            state.estimator = self._best_estimator
        for name in ("_screen", "_pool", "_val_proba", "_best_estimator"):
            self.__dict__.pop(name, None)

    # -- generation -------------------------------------------------------

    def _generate(self, state):
        request = self._build_request(state)
        self.last_request_ = request
        answer = state.teacher.generate(request)
        samples = _check_answer(answer, state.teacher)
        accepted, rejected = self._screen.screen(samples, limit=state.n_wanted)
        self.n_generated_ += len(samples)
        for reason, count in rejected.items():
            self.n_rejected_[reason] += count
        texts = np.empty(len(accepted), dtype=object)
        texts[:] = [text for text, _ in accepted]
        stats = {
            "acquisition": "generated",
            "n_generated": len(samples),
            # As for pool samplers: items looked at, and the share kept.
            "n_visited": len(samples),
            "acceptance_rate": len(accepted) / len(samples) if samples else 0.0,
            "n_rejected": sum(rejected[r] for r in REJECTION_REASONS),
            **{f"n_rejected_{r}": rejected[r] for r in REJECTION_REASONS},
            "n_surplus": rejected[SURPLUS],
        }
        # ``answer`` may carry usage (cost, tokens) as attributes.
        return Acquisition(
            texts, [label for _, label in accepted], "generated", None, answer, stats
        )

    def _build_request(self, state):
        proba, student_classes = self._val_proba, state.estimator.classes_
        y_val, X_val = np.asarray(state.y_val), state.X_val
        y_pred = student_classes[proba.argmax(axis=1)]
        wrong_class, wrong_proba = _strongest_wrong_class(proba, student_classes, y_val)
        hard = np.argsort(-wrong_proba, kind="stable")[: self.n_hard_negatives]
        errors = np.setdiff1d(np.flatnonzero(y_pred != y_val), hard)
        right = np.flatnonzero(y_pred == y_val)
        rng = state.rng
        seed_rows = np.flatnonzero(state.labeled.source == "seed")
        return GenerationRequest(
            classes=_native(state.classes),
            n_samples=int(state.n_wanted),
            examples=[
                (state.labeled.X[i], _native(state.labeled.y[i]))
                for i in _sample(seed_rows, self.n_examples, rng)
            ],
            report=(
                classification_report(y_val, y_pred, output_dict=True, zero_division=0)
                if self.include_report else None
            ),
            misclassified=[
                (X_val[i], _native(y_val[i]), _native(y_pred[i]))
                for i in _sample(errors, self.n_misclassified, rng)
            ],
            hard_negatives=[
                (X_val[i], _native(y_val[i]), _native(wrong_class[i])) for i in hard
            ],
            correct=[
                (X_val[i], _native(y_val[i]))
                for i in _sample(right, self.n_correct, rng)
            ],
            class_descriptions=self.class_descriptions,
        )

    def _remember_new_rows(self, state):
        """Teach the screen the training rows it has not seen (the seed,
        pool labels); generated rows were remembered when accepted."""
        new = slice(self._n_remembered, None)
        not_generated = state.labeled.source[new] != "generated"
        self._screen.remember(np.asarray(state.labeled.X[new])[not_generated])
        self._n_remembered = len(state.labeled)

    def _make_pool_strategy(self, state):
        if state.X_pool is None:
            return None
        if self.pool_sampler is None:
            warnings.warn(
                "PGKD ignores X_pool unless pool_sampler is set (e.g. "
                "PGKD(pool_sampler=MRARU())) to alternate generation with "
                "pool labelling.", UserWarning, stacklevel=4,
            )
            return None
        if not is_text_items(state.X_pool):
            raise TypeError(
                "PGKD(pool_sampler=...) needs X_pool to be a sequence of "
                f"texts, like the seed; got {type(state.X_pool).__name__}."
            )
        return PoolStrategy(clone(self.pool_sampler))

    # -- validation and early stopping ------------------------------------

    def _evaluate(self, state, round_):
        proba = state.estimator.predict_proba(state.X_val)
        self._val_proba = proba
        classes = state.estimator.classes_
        y_pred = classes[proba.argmax(axis=1)]
        loss = float(log_loss(state.y_val, proba, labels=classes))
        metrics = {
            "val_loss": loss,
            "val_accuracy": float(np.mean(y_pred == np.asarray(state.y_val))),
            "val_macro_f1": float(
                f1_score(state.y_val, y_pred, average="macro", zero_division=0)
            ),
        }
        if round_ == 0:
            self.seed_scores_ = dict(metrics)
        if loss < self.best_val_loss_:
            self.best_round_, self.best_val_loss_ = round_, loss
            if self.restore_best:
                self._best_estimator = copy.deepcopy(state.estimator)
            self._rounds_since_best = 0
        else:
            self._rounds_since_best += 1
        metrics["best_round"] = self.best_round_
        stop = self.patience is not None and self._rounds_since_best >= self.patience
        return metrics, stop


def _check_teacher(teacher):
    if not callable(getattr(teacher, "generate", None)):
        raise TypeError(
            f"PGKD needs a teacher with a generate(request) method; got "
            f"{type(teacher).__name__}. Use e.g. AnthropicTeacher or, offline, "
            "skakd.augmentation.SimulatedGenerator."
        )


def _check_answer(answer, teacher):
    if answer is None or isinstance(answer, (str, bytes)) or not hasattr(
        answer, "__iter__"
    ):
        raise TypeError(
            f"teacher {type(teacher).__name__}.generate returned "
            f"{type(answer).__name__}; expected a list of (text, label) pairs."
        )
    return list(answer)


def _stratified_mask(y, fraction, rng):
    """Mark ``round(fraction * n_c)`` random items of each class, keeping at
    least one per class for training."""
    y = np.asarray(y)
    mask = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_val = min(int(round(fraction * len(members))), len(members) - 1)
        mask[members[:n_val]] = True
    return mask


def _strongest_wrong_class(proba, classes, y_true):
    """For each row, the most probable class other than the true one, and
    its probability."""
    column = {label: j for j, label in enumerate(classes.tolist())}
    true_col = np.array([column.get(label, -1) for label in y_true.tolist()])
    wrong = proba.copy()
    known = true_col >= 0
    wrong[np.flatnonzero(known), true_col[known]] = -np.inf
    best = wrong.argmax(axis=1)
    return classes[best], wrong[np.arange(len(wrong)), best]


def _sample(indices, n, rng):
    if n == 0 or len(indices) == 0:
        return np.empty(0, dtype=np.intp)
    return rng.choice(indices, size=min(n, len(indices)), replace=False)


def _native(value):
    """numpy scalars and arrays as plain Python values (for prompts, JSON)."""
    return value.tolist() if hasattr(value, "tolist") else value
