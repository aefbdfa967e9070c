"""PGKD: the teacher writes new training texts, guided by the student."""

from collections import Counter
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ..reasons import REJECTION_REASONS, SURPLUS
from ..strategy import Acquisition
from ._allocation import ALLOCATIONS, prior_weights, round_counts, target_prior
from ._first_texts import write_first_texts
from ._guidance import build_request
from ._pgkd_state import PGKDState, pool_strategy, validation_mask
from ._request import check_answer, check_setup
from ._screen import SampleScreen

__all__ = ["PGKD"]


class PGKD(BaseEstimator):
    """Performance-Guided Knowledge Distillation: generate where the student fails.

    A strategy for :class:`~skakd.ActiveDistillationClassifier` in which the
    teacher does not label a pool but *writes* new labelled texts. Each round
    the current student is evaluated on a validation split of the seed, and
    a :class:`GenerationRequest` is built from what it gets wrong: the
    taxonomy, few-shot examples, the validation ``classification_report``,
    correctly and wrongly classified validation texts, hard negatives, and
    how many texts of each class to write (``allocation``). The teacher
    answers ``teacher.generate(request)`` with ``(text, label)`` pairs,
    which are screened (see Notes) before the student is refitted, with
    per-row weights that keep the seed's class prior (``prior_correction``).
    When the loop ends, the chosen student is refitted on its training rows
    *and* the validation split (``refit_with_validation``), so that no seed
    text is wasted.

    The paper runs 10 rounds of 32 samples (``max_iter=10`` on the
    classifier); see Notes for what these defaults change and why.

    Parameters
    ----------
    batch_size : int, default=32
        Samples requested per round.
    allocation : {"error", "uniform"}, default="error"
        How the loop splits each batch over the classes
        (``GenerationRequest.class_counts``; the teacher is told the exact
        counts and what it writes beyond them is dropped). ``"error"``
        spreads half the batch evenly and half in proportion to each
        class's validation error (one minus the mean probability the
        student gives the true class, shrunk toward the mean error when a
        class has few validation texts); ``"uniform"`` spreads it evenly.
        Either way no class may end a round with more than ``class_cap``
        times the median class count (see Notes).
    class_cap : float >= 2, default=2.0
        The cap on a class's labelled texts, as a multiple of the median
        class count of the labelled set after the round (were the batch
        spread evenly). 2 or more always leaves room for the whole batch.
    prior_correction : {"seed", "balanced"} or None, default="seed"
        Class prior the student learns, whatever the mix of generated
        texts: each training row of class ``c`` is weighted by ``prior(c) /
        share of c in the training rows`` (weights average 1), passed as
        ``sample_weight`` to the student's ``fit`` (a Pipeline's last step).
        ``"seed"``: the class shares of the labelled seed; ``"balanced"``:
        equal shares; ``None``: unweighted. A student that takes no
        ``sample_weight`` is fitted unweighted, with a warning. Ignored for
        label sets (see Notes).
    refit_with_validation : bool, default=True
        Whether the final student is refitted on its training rows plus the
        validation split (``labeled_X_`` then holds the validation texts
        too, as ``"seed"`` rows). ``False`` keeps the validation texts out,
        as the paper does.
    validation_fraction : float in (0, 1), default=0.2
        Share of each seed class moved to the validation split (stratified;
        a class keeps at least one training example; a seed too small for
        any, e.g. two per class, gives one of each class instead). The
        student trains on it only in the final refit.
    min_validation_size : int, default=200
        Fewest validation texts for which the validation loss stops the
        loop early (``patience``) and picks the round to keep
        (``restore_best``). With fewer, every round runs and the last
        student is kept: see Notes for why.
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
        loss (the paper's rule) rather than the last one; only with at
        least ``min_validation_size`` validation texts.
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
        student).
    chosen_round_ : int
        Round whose training rows the final student uses: ``best_round_``
        when the validation loss picks it, else the last round. Rows of
        ``labeled_X_`` added after it were not used.
    select_by_validation_ : bool
        Whether early stopping and ``restore_best`` were on (the validation
        split had at least ``min_validation_size`` texts).
    best_val_loss_ : float
        The lowest validation log-loss.
    seed_scores_ : dict
        ``val_loss``, ``val_accuracy``, ``val_macro_f1`` of the seed student.
    n_generated_ : int
        Samples returned by the teacher over the fit, before screening.
    n_rejected_ : dict
        Rejected samples per reason over the fit (see Notes), plus
        ``"surplus"``: valid samples beyond the number asked for, in all or
        of their class.
    last_request_ : GenerationRequest or None
        The last request sent to the teacher.
    validation_size_ : int
        Number of seed items in the validation split.
    validation_indices_ : ndarray of shape (`validation_size_`,)
        Positions, in the seed ``X`` given to ``fit``, of the items held out
        for validation (ascending).
    summary_ : dict
        What the fit did, for a report (the command line prints it):
        ``validation_size`` and ``validation_indices`` (as above),
        ``n_generated``, ``n_rejected`` (per reason of
        :data:`skakd.reasons.REJECTION_REASONS`, plus ``"surplus"``),
        ``best_round``, ``chosen_round``, and ``early_stopping``: why PGKD
        stops early, in words (``None`` when it cannot, see
        ``patience``); for label sets also ``per_label``: ``label ->
        {precision, recall, f1, support, asked, kept}``, the chosen
        round's validation scores and the texts asked for and kept
        carrying the label over the fit.

    All fitted attributes are set when the fit ends, whatever ended it.

    See Also
    --------
    skakd.sampling.MRARU : Let the student choose pool items to label instead.
    SimulatedGenerator : An offline stand-in for a generating LLM.

    Notes
    -----
    **Class mix.** A teacher told to "write more for the weak classes"
    piles a batch onto two or three classes; the student's class prior
    shifts and its accuracy on the others falls, so the loop decides the
    counts. With ``allocation="error"`` and ``K`` classes, class ``c`` gets
    the share ``0.5 / K + 0.5 * e_c / sum(e)`` of the batch, ``e_c`` its
    expected validation error shrunk toward the mean error ``m`` by
    ``(n_c * e_c + 10 * m) / (n_c + 10)`` (``n_c`` its validation texts: a
    class error measured on two texts is mostly noise). Shares are turned
    into whole samples *across rounds*: what each class was owed and not
    asked for carries over (``state.strategy_state``), and each sample
    goes to the class owed most (ties to the classes holding fewest texts),
    so every class is asked for its cumulative share within one sample.
    Rounding each batch on its own would, with a batch smaller than the
    number of classes (32 texts, 77 classes), give the whole batch to the
    same few classes of largest error every round. No class may end the
    round with more than ``ceil(class_cap * (median class count + batch /
    K))`` labelled texts; a class at its cap gets nothing, is owed nothing
    more, and its share is spread over the others. ``history_`` records per
    round ``class_counts`` (asked), ``class_counts_kept`` (kept after
    screening) and ``class_cap``.

    **Untargeted generation** is ``PGKD(allocation="uniform",
    include_report=False, n_hard_negatives=0)``: the same loop, an even
    mix, no report or hard negatives in the prompt. Targeting pays when
    the student's errors sit in a few classes and the teacher can write
    texts near those boundaries; when the errors are spread out or the
    validation split is too small to tell the classes apart (a few texts
    per class), the even mix is as good and cheaper to prompt. See
    :doc:`/benchmarks/pgkd`.

    **Small seeds.** The validation loss of a split with fewer than
    ``min_validation_size`` texts is mostly noise: its standard error
    (about the spread of per-text log-loss, 1 to 2 nats for a few-shot
    student, over the square root of the split size) exceeds what one
    batch changes, so early stopping fires on noise and the "best" round is
    chosen by chance, throwing away the data that came after. Below the
    threshold the loop therefore runs every round and keeps the last
    student; the split still drives the report, the hard negatives and the
    allocation, and goes back into the training data at the end. A
    cross-validated loss over the seed would be steadier but costs ``k``
    extra student fits per round, which a fine-tuned transformer student
    cannot afford. 200 is the paper's split (20% of 1,000 seed texts).

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
    (``near_duplicate``). Valid samples beyond the batch or beyond their
    class's count are ``n_surplus``. Kept samples have ``label_source_ ==
    "generated"`` and ``label_round_`` the round (step) that made them.

    The seed student's validation metrics are in ``seed_scores_`` (round 0
    of ``history_`` has none, unless the classifier calls :meth:`evaluate`
    after fitting the seed student too, which this class supports).
    ``history_``'s ``n_labeled`` counts training rows during the loop; the
    final refit adds the validation split to ``labeled_X_``.

    **Label sets.** With a multi-label ``y`` the teacher writes ``(text,
    labels)`` pairs (``GenerationRequest(multi_label=True)``; an empty set
    is "none of these", a label outside ``classes`` is ``label``-rejected,
    a bare label where a set is due ``malformed``). The report is per label
    with micro, macro, weighted and samples averages; ``val_loss`` is the
    binary log-loss over texts and labels, ``val_accuracy`` the share of
    whole sets right, and ``val_micro_f1`` is recorded too. A misclassified
    text's predicted set differs from its true set; a hard negative is a
    text given a label it does not carry (each label's hardest first). The
    counts are of texts *carrying* each label, its error the probability
    the student leaves off them: rare labels are asked for. A text fills
    the count of the first of its labels with room; one with none is
    surplus. The validation split is random, each label keeping a training
    row, and no prior correction applies (one weight per row cannot restore
    every label's base rate; a ``class_weight="balanced"`` student, the
    multi-label default, does it per label).

    **Versus the paper.** The paper leaves the class mix to the LLM, learns
    the prior of the generated mix, never trains on its validation split
    and always selects by validation loss; ``PGKD(allocation="error",
    prior_correction=None, refit_with_validation=False,
    min_validation_size=1)`` comes closest, save for the counts.

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
    [160, 176, 192, 208]
    >>> len(clf.labeled_y_)  # ...and join the training data at the end
    248
    >>> clf.history_[1, "class_counts"]  # what round 1 asked for
    {'ABBR': 3, 'DESC': 2, 'ENTY': 3, 'HUM': 2, 'LOC': 3, 'NUM': 3}
    >>> clf.history_[1, "class_counts_kept"]
    {'ABBR': 3, 'DESC': 2, 'ENTY': 3, 'HUM': 2, 'LOC': 3, 'NUM': 3}
    >>> clf.sampler_.select_by_validation_  # 40 texts: too few to pick a round
    False
    >>> clf.sampler_.chosen_round_
    3
    """

    _parameter_constraints: dict = {
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "allocation": [StrOptions(set(ALLOCATIONS))],
        "class_cap": [Interval(Real, 2, None, closed="left")],
        "prior_correction": [StrOptions({"seed", "balanced"}), None],
        "refit_with_validation": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "min_validation_size": [Interval(Integral, 1, None, closed="left")],
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

    generative = True

    def __init__(
        self,
        batch_size=32,
        *,
        allocation="error",
        class_cap=2.0,
        prior_correction="seed",
        refit_with_validation=True,
        validation_fraction=0.2,
        min_validation_size=200,
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
        self.allocation = allocation
        self.class_cap = class_cap
        self.prior_correction = prior_correction
        self.refit_with_validation = refit_with_validation
        self.validation_fraction = validation_fraction
        self.min_validation_size = min_validation_size
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
        check_setup(self.min_length, self.max_length, state)
        multi = state.multi_label  # no prior one weight per row can restore
        prior = None if multi else target_prior(
            self.prior_correction, state.estimator, state.labeled.y)
        mask = validation_mask(state.labeled.y, self.validation_fraction,
                               state.rng, multi)
        X_val, y_val = state.labeled.remove(mask)
        state.strategy_state = PGKDState(
            X_val=X_val,
            y_val=y_val,
            validation_indices=np.flatnonzero(mask),
            screen=SampleScreen(
                state.classes, X_val, min_length=self.min_length,
                max_length=self.max_length,
                near_duplicate_threshold=self.near_duplicate_threshold,
                multi_label=multi,
            ),
            pool=pool_strategy(self.pool_sampler, state.X_pool),
            prior=prior,
            selects=len(y_val) >= self.min_validation_size,
            val_source="generated" if state.n_used else "seed",  # after a cold start
            label_names=state.classes if multi else None,
        )

    def acquire(self, state):
        """Generate (or, on pool rounds, label) up to ``state.n_wanted`` items."""
        if state.cold:  # no seed: the first texts come from the classes alone
            return write_first_texts(state, self.class_descriptions)
        fit = state.strategy_state
        if fit.val_proba is None:  # the seed student was not scored yet
            self._evaluate(state, state.round - 1)
        fit.remember_new_rows(state.labeled)
        if fit.pool is not None and state.round % 2 == 0:
            acquisition = fit.pool.acquire(state)
            if acquisition is not None:
                acquisition.stats["acquisition"] = "pool"
                return acquisition
        return self._generate(state)

    def sample_weight(self, state):
        """Per-row weights for the next fit of the student (prior correction).

        Returns
        -------
        weights : ndarray of shape (len(state.labeled),) or None
            ``None`` when ``prior_correction=None`` or the student takes no
            ``sample_weight``.
        """
        prior = state.strategy_state.prior
        return None if prior is None else prior_weights(state.labeled.y, prior)

    def evaluate(self, state):
        """Score the refitted student on the validation split.

        Returns
        -------
        metrics : dict
            ``val_loss``, ``val_accuracy``, ``val_macro_f1`` (and
            ``val_micro_f1`` for label sets) and ``best_round``.
        stop : bool
            Whether ``patience`` rounds passed without a new best loss (only
            when ``select_by_validation_``).
        """
        return self._evaluate(state, state.round)

    def finalize(self, state):
        """Keep the chosen round's student; refit it with the validation
        split; publish the fitted attributes."""
        fit = state.strategy_state
        if not isinstance(fit, PGKDState):
            return
        restore = fit.selects and self.restore_best and fit.best_estimator is not None
        chosen_round = fit.best_round if restore else fit.last_round
        if restore:
            state.estimator = fit.best_estimator
        if self.refit_with_validation:
            fit.refit_with_validation(state, chosen_round)
        for name, value in fit.fitted_attributes(chosen_round, self.patience).items():
            setattr(self, name, value)

    # -- generation -------------------------------------------------------

    def _generate(self, state):
        fit = state.strategy_state
        counts, cap = round_counts(state, self.allocation, self.class_cap)
        request = build_request(self, state, counts)
        fit.last_request = request
        answer = state.teacher.generate(request)
        samples = check_answer(answer, state.teacher)
        accepted, rejected = fit.screen.screen(
            samples, limit=request.n_samples, quotas=counts
        )
        texts = np.empty(len(accepted), dtype=object)
        texts[:] = [text for text, _ in accepted]
        kept = Counter(one for _, label in accepted  # each label of a set
                       for one in (label if state.multi_label else (label,)))
        fit.count(samples, rejected, counts, kept)
        stats = {
            "acquisition": "generated",
            "n_generated": len(samples),
            # As for pool samplers: items looked at, and the share kept.
            "n_visited": len(samples),
            "acceptance_rate": len(accepted) / len(samples) if samples else 0.0,
            "n_rejected": sum(rejected[r] for r in REJECTION_REASONS),
            **{f"n_rejected_{r}": rejected[r] for r in REJECTION_REASONS},
            "n_surplus": rejected[SURPLUS],
            "class_counts": dict(counts),
            "class_counts_kept": {label: kept[label] for label in counts},
            "class_cap": cap,
        }
        # ``answer`` may carry usage (cost, tokens) as attributes.
        return Acquisition(
            texts, [label for _, label in accepted], "generated", None, answer, stats
        )

    def _evaluate(self, state, round_):
        return state.strategy_state.score(
            state.estimator, round_, keep_best=self.restore_best,
            patience=self.patience)

