"""ActiveDistillationClassifier: distil a teacher into a student, round by round."""

import functools
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils import Bunch, get_tags
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._absorb import absorb, bill_failed_round
from ._budget import round_size
from ._history import History, round_record
from ._items import (
    add_note,
    is_empty,
    is_numeric_frame,
    is_text_items,
    n_items,
)
from ._persistence import portable
from ._validation import check_classes, check_items
from .callbacks import ProgressBar
from .parallel import predict_in_chunks
from .pools import Pool
from .reasons import EARLY_STOPPING, ERROR, INTERRUPTED, MAX_ITER, POOL_EXHAUSTED
from .sampling import MRARU, PoolStrategy
from .strategy import DistillationState, LabeledSet, is_generative, sample_weight_param
from .teachers import CallableTeacher

__all__ = ["ActiveDistillationClassifier"]

SERVE_CHUNK_SIZE = 10_000


def _student_has(attr):
    """Whether the (fitted, given or default) student exposes ``attr``."""

    def check(self):
        if hasattr(self, "estimator_"):
            return hasattr(self.estimator_, attr)
        if self.estimator is not None:
            return hasattr(self.estimator, attr)
        return hasattr(LogisticRegression, attr)

    return check


def _one_example_per_class_is_fine(fit):
    """Silence scikit-learn's "``y`` could represent a regression problem"
    during ``fit``: a seed of one example per class is our normal case."""

    @functools.wraps(fit)
    def quiet_fit(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message="The number of unique classes is greater than "
                "50% of the number of samples", category=UserWarning,
            )
            return fit(*args, **kwargs)

    return quiet_fit


def _serving_doc(summary, verb, *returns):
    """Document a method that serves the student's method of the same name."""
    returns = "\n        ".join(returns)

    def document(method):
        method.__doc__ = f"""{summary}

        Parameters
        ----------
        X : array-like, sparse matrix or sequence of texts
            Items to {verb}.
        **params : dict
            Passed to the student when metadata routing is enabled.

        Returns
        -------
        {returns}
        """
        return method

    return document


class ActiveDistillationClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Distil an expensive teacher into a cheap student, asking it little.

    ``fit(X, y, X_pool)`` trains a clone of ``estimator`` (the student) on the
    labelled seed ``X, y``, then runs teacher rounds: each round the
    ``sampler`` chooses unlabelled items of ``X_pool`` (or, for a generative
    strategy such as :class:`~skakd.augmentation.PGKD`, the teacher writes new
    texts), the ``teacher`` labels them, and the student is refitted on
    everything labelled so far. The loop stops on ``max_iter``,
    ``max_labels``, ``max_cost``, an exhausted pool, or a strategy or
    callback asking to stop. ``predict``/``predict_proba`` then serve the
    distilled student; the teacher is no longer needed.

    Parameters
    ----------
    estimator : estimator object or None, default=None
        The student: any classifier with ``fit`` and ``predict_proba`` (a
        Pipeline with its feature extraction inside, e.g.
        ``make_pipeline(TfidfVectorizer(), LogisticRegression())``). The
        teacher sees raw items, so feature extraction belongs here. ``None``
        uses TF-IDF + LogisticRegression for texts and LogisticRegression for
        numeric features.
    teacher : callable, teacher object or None, default=None
        Labels pool items: a function ``items -> labels`` (or ``(items,
        classes) -> labels``), or an object with ``label(items, classes) ->
        TeacherResult`` such as :class:`~skakd.teachers.OracleTeacher` or
        :class:`~skakd.teachers.AnthropicTeacher`. Only needed when there is
        something to ask (a pool, or a generative strategy).
    sampler : sampler or strategy, default=None
        Chooses what the teacher labels: a pool sampler (``select``), e.g.
        :class:`~skakd.sampling.MRARU` (the default, ``MRARU()``),
        :class:`~skakd.sampling.RandomSampler`,
        :class:`~skakd.sampling.UncertaintySampler`, or a strategy with
        ``acquire`` such as :class:`~skakd.augmentation.PGKD` (see
        :class:`~skakd.DistillationState` for the protocol).
    max_iter : int or None, default=20
        Largest number of teacher rounds; ``None`` for no limit.
    max_labels : int or None, default=None
        Budget of items sent to the teacher or generated by it, seed excluded.
    max_cost : float or None, default=None
        Budget in USD, from ``TeacherResult.cost``. A round is shrunk (or not
        started) when, at the average cost per item so far, it would exceed
        the budget.
    classes : array-like or None, default=None
        The full label set the teacher answers from. ``None`` uses the
        classes of ``y``. Teacher labels outside it are rejected, counted in
        ``history_`` (``n_rejected``) and warned about once per fit.
    callbacks : list of Callback or None, default=None
        Hooks into the loop, see :mod:`skakd.callbacks`; cloned at fit.
    random_state : int, RandomState instance or None, default=None
        Seeds every round's sampling; the same seed and the same teacher
        answers give the same student.
    verbose : int, default=0
        ``> 0`` shows a progress bar.
    n_jobs : int or None, default=None
        Workers for ``predict``, ``predict_proba``... on inputs larger than
        10,000 items, which are served chunk by chunk through joblib (see
        :func:`skakd.parallel.predict_in_chunks`); ``None`` means 1 unless
        inside a ``joblib.parallel_backend`` context such as ``"dask"``.

    Attributes
    ----------
    estimator_ : estimator
        The distilled student.
    classes_ : ndarray of shape (n_classes,)
        Classes known to the student (the columns of ``predict_proba``).
    n_iter_ : int
        Number of completed teacher rounds.
    history_ : History
        One dict per round, round 0 being the seed student: ``round``,
        ``n_labeled``, ``n_new``, ``n_queried``, ``n_unlabeled``,
        ``n_rejected``, ``n_visited``, ``acceptance_rate``, ``teacher_cost``,
        ``teacher_cost_total``, ``input_tokens``, ``output_tokens``,
        ``n_cached``, ``select_seconds``, ``teacher_seconds``,
        ``fit_seconds``, ``seconds``, plus what the sampler, the strategy
        (e.g. validation metrics), the teacher (``TeacherResult.info``) and
        callbacks add. Items the teacher could not label are also counted
        per reason (``n_unlabeled_refusal``, ``n_unlabeled_unknown_label``...)
        and warned about once per fit. A round that fails after paying the
        teacher leaves a last record with ``error`` (the exception's type)
        and what it paid.
    labeled_X_, labeled_y_ : array-like
        Everything the student was trained on.
    label_source_ : ndarray of str
        ``"seed"``, ``"teacher"`` or ``"generated"`` for each labelled row.
    label_round_ : ndarray of int
        Round in which each labelled row was added (0 for the seed).
    labeled_pool_index_ : ndarray of int
        Index into ``X_pool`` of each labelled row, ``-1`` where none.
    teacher_cost_ : float
        Total USD paid to the teacher, a failed round's answers included.
    termination_condition_ : str
        Why the loop stopped: ``"max_iter"``, ``"max_labels"``,
        ``"max_cost"``, ``"pool_exhausted"``, ``"early_stopping"`` (a
        strategy or a callback such as
        :class:`~skakd.callbacks.EarlyStopping`), ``"converged"`` (a
        label-free stopping criterion of :mod:`skakd.stopping` found that
        the student stopped learning), ``"interrupted"`` (Ctrl-C; what was
        learned is kept) or ``"error"`` (set before the error propagates):
        :data:`skakd.reasons.STOP_REASONS`.
    sampler_ : sampler
        The fitted clone of ``sampler``.
    n_features_in_ : int
        Number of features, for numeric ``X`` only.

    See Also
    --------
    sklearn.semi_supervised.SelfTrainingClassifier : Self-training, where the
        student labels the pool itself.

    Notes
    -----
    ``X_pool`` is a fit parameter. Cross-validation tools slice fit
    parameters that have as many rows as ``X``; wrap the pool in
    :class:`skakd.Pool` inside ``GridSearchCV``/``cross_validate`` to keep it
    whole. As a step of a Pipeline, only ``X`` goes through the earlier steps
    and ``X_pool`` reaches this step untransformed (pass it as
    ``step__X_pool``): keep feature extraction inside ``estimator``.

    A pickled classifier (``joblib.dump``, the copies ``GridSearchCV(n_jobs=...)``
    sends to its workers) keeps its teacher, a function teacher included (by
    value, with cloudpickle); only a teacher that cannot be serialised at all
    (an open client, a lock) is left out, with a warning, and the loaded
    student still predicts.

    References
    ----------
    .. [1] "LLM on a Budget: Active Knowledge Distillation for Efficient
       Classification of Large Text Corpora", arXiv:2511.11574.
    .. [2] "Performance-Guided LLM Knowledge Distillation for Efficient Text
       Classification at Scale", arXiv:2411.05045.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skakd import ActiveDistillationClassifier
    >>> from skakd.sampling import MRARU
    >>> from skakd.teachers import OracleTeacher
    >>> X, y = make_classification(n_samples=1000, random_state=0)
    >>> X_seed, y_seed, X_pool = X[:10], y[:10], X[10:800]
    >>> clf = ActiveDistillationClassifier(
    ...     LogisticRegression(), teacher=OracleTeacher(X, y),
    ...     sampler=MRARU(batch_size=10), max_iter=5, random_state=0)
    >>> clf.fit(X_seed, y_seed, X_pool=X_pool).n_iter_
    5
    >>> clf.history_[-1, "n_labeled"]
    60
    >>> round(clf.score(X[800:], y[800:]), 2)
    0.95
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "teacher": [HasMethods(["label"]), HasMethods(["generate"]), callable, None],
        "sampler": [HasMethods(["select"]), HasMethods(["acquire"]), None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "max_labels": [Interval(Integral, 1, None, closed="left"), None],
        "max_cost": [Interval(Real, 0, None, closed="left"), None],
        "classes": ["array-like", None],
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        teacher=None,
        sampler=None,
        max_iter=20,
        max_labels=None,
        max_cost=None,
        classes=None,
        callbacks=None,
        random_state=None,
        verbose=0,
        n_jobs=None,
    ):
        self.estimator = estimator
        self.teacher = teacher
        self.sampler = sampler
        self.max_iter = max_iter
        self.max_labels = max_labels
        self.max_cost = max_cost
        self.classes = classes
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=False)
    @_one_example_per_class_is_fine
    def fit(self, X, y, X_pool=None, **fit_params):
        """Distil the teacher into the student.

        Parameters
        ----------
        X : array-like, sparse matrix or sequence of texts
            The labelled seed items. It needs at least two classes.
        y : array-like of shape (n_samples,)
            Labels of the seed.
        X_pool : array-like, sparse matrix, sequence, Pool or None, default=None
            Unlabelled items the teacher may be asked about. ``None`` trains
            the student on the seed alone (unless the strategy generates
            data). Wrap it in :class:`skakd.Pool` inside cross-validation.
        **fit_params : dict
            Passed to the student's ``fit`` when metadata routing is enabled.

        Returns
        -------
        self : object
            The fitted classifier.
        """
        _raise_for_params(fit_params, self, "fit")
        student_fit_params = self._route_fit_params(X_pool, fit_params)
        X, y = self._check_seed(X, y)
        X_pool = self._check_pool(X_pool, X)
        classes = check_classes(self.classes, y)
        strategy = self._make_strategy(X_pool)
        teacher = self._make_teacher(strategy, X_pool)
        self.callbacks_ = self._make_callbacks()
        student = self._make_student(X)
        self._check_student_fits_sampler(student)

        labeled = LabeledSet()
        labeled.add(X, y, "seed", 0)
        seeds = self._seed_sequence()
        state = DistillationState(
            estimator=student,
            teacher=teacher,
            classes=classes,
            labeled=labeled,
            X_pool=X_pool,
            unlabeled=None if X_pool is None else np.ones(n_items(X_pool), bool),
            rng=np.random.default_rng(seeds.spawn(1)[0]),
            seeds=seeds,
            fit_params=student_fit_params,
        )

        if hasattr(strategy, "prepare"):
            strategy.prepare(state)
        self._fit_seed_student(strategy, state)
        try:
            self.termination_condition_ = self._run_rounds(strategy, state)
        except KeyboardInterrupt:
            warnings.warn(
                "fit interrupted: the student trained on the labels obtained so "
                "far is kept.", UserWarning, stacklevel=2,
            )
            self.termination_condition_ = INTERRUPTED
        except Exception as exc:
            self.termination_condition_ = ERROR
            add_note(exc, (
                f"skakd: round {state.round} failed; the "
                f"{state.n_rounds} completed rounds, their labels "
                f"({len(state.labeled)} rows) and the student trained on them "
                "are kept on the classifier (history_, labeled_X_, estimator_)."
            ))
            raise
        finally:
            self._end(strategy, state)
        return self

    def _fit_seed_student(self, strategy, state):
        fit_seconds = self._fit_student(strategy, state)
        counts = {"n_unlabeled": 0, "n_rejected": 0, "n_visited": 0,
                  "acceptance_rate": 0.0}
        seed_record = round_record(
            state, len(state.labeled), 0, counts, {"teacher_cost": 0.0},
            {"fit_seconds": fit_seconds, "seconds": fit_seconds})
        if hasattr(strategy, "evaluate"):
            seed_record.update(strategy.evaluate(state)[0])
        self.history_ = History([seed_record])
        self._show_progress(state)
        for callback in self.callbacks_:
            callback.on_fit_begin(self)

    def _end(self, strategy, state):
        """Every exit: let the strategy finish, publish, close the callbacks."""
        if hasattr(strategy, "finalize"):
            strategy.finalize(state)
        self._publish(state)
        for callback in self.callbacks_:
            callback.on_fit_end(self)

    def _run_rounds(self, strategy, state):
        while self.max_iter is None or state.n_rounds < self.max_iter:
            n_wanted, reason = round_size(strategy.batch_size, state,
                                          max_labels=self.max_labels,
                                          max_cost=self.max_cost)
            if reason is not None:
                return reason
            state.next_round(n_wanted)
            start = time.perf_counter()
            try:
                acquisition = strategy.acquire(state)
            except BaseException as exc:
                failed = bill_failed_round(exc, state)
                if failed is not None:
                    self.history_.append(failed)
                raise
            teacher_seconds = time.perf_counter() - start
            if acquisition is None:
                return POOL_EXHAUSTED
            record = absorb(acquisition, state)
            self._before_refit(state, acquisition)
            record["teacher_seconds"] = teacher_seconds - record.get(
                "select_seconds", 0.0
            )
            record["fit_seconds"] = self._fit_student(strategy, state)
            stop = False
            if hasattr(strategy, "evaluate"):
                metrics, stop = strategy.evaluate(state)
                record.update(metrics)
            record["seconds"] = time.perf_counter() - start
            state.n_rounds += 1
            self._show_progress(state)
            reason = EARLY_STOPPING if stop else None
            for callback in self.callbacks_:
                # Every callback records its round, even after one said stop.
                if callback.on_round_end(self, record) and reason is None:
                    reason = getattr(callback, "stop_reason", EARLY_STOPPING)
            self.history_.append(record)
            if reason is not None:
                return reason
        return MAX_ITER

    def _before_refit(self, state, acquisition):
        """Show callbacks the round's answers while ``state.estimator`` is
        still the previous student (e.g. to measure its agreement)."""
        for callback in self.callbacks_:
            # getattr: callbacks written before this hook need not have it.
            hook = getattr(callback, "on_acquisition", None)
            if hook is not None:
                hook(self, state, acquisition)

    def _fit_student(self, strategy, state):
        start = time.perf_counter()
        params = dict(state.fit_params)
        hook = getattr(strategy, "sample_weight", None)
        weights = None if hook is None else hook(state)
        if weights is not None:  # the strategy's per-row weights
            params[sample_weight_param(state.estimator)] = weights
        state.estimator.fit(state.labeled.X, state.labeled.y, **params)
        return time.perf_counter() - start

    def _show_progress(self, state):
        """What callbacks read during the fit: the student, the counters."""
        self.estimator_ = state.estimator
        self.n_iter_ = state.n_rounds
        self.teacher_cost_ = state.teacher_cost

    def _publish(self, state):
        """Expose the loop state as fitted attributes, once the loop is over."""
        labeled = state.labeled
        self._show_progress(state)
        self.classes_ = self.estimator_.classes_
        self.labeled_X_ = labeled.X
        self.labeled_y_ = labeled.y
        self.label_source_ = labeled.source.astype(str)
        self.label_round_ = labeled.rounds
        self.labeled_pool_index_ = labeled.pool_index

    # -- validation -------------------------------------------------------

    def _check_seed(self, X, y):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target "
                "y is None."
            )
        X = check_items(X, "X", allow_nan=self._allows_nan())
        y = column_or_1d(y, warn=True)
        if n_items(X) != len(y):
            raise ValueError(
                f"X and y have inconsistent lengths: X has {n_items(X)} items "
                f"and y has {len(y)} labels; expected one label per seed item."
            )
        if len(y) == 0:
            raise ValueError(
                "X, y (the labelled seed) are empty; expected at least one "
                "labelled example of two classes."
            )
        check_classification_targets(y)
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"y (the labelled seed) has only one class ({y[0]!r}); the "
                "classifier can't train when only one class is present: seed at "
                "least one example of two classes."
            )
        if not is_text_items(X) and hasattr(X, "shape"):
            self.n_features_in_ = X.shape[1]
        elif hasattr(self, "n_features_in_"):
            del self.n_features_in_
        return X, y

    def _check_pool(self, X_pool, X):
        wrapped = isinstance(X_pool, Pool)
        X_pool = X_pool.data if wrapped else X_pool
        if X_pool is None:
            return None
        if is_empty(X_pool):
            raise ValueError(
                "X_pool is empty; expected unlabelled items for the teacher, or "
                "X_pool=None to train on the seed alone."
            )
        X_pool = check_items(
            X_pool,
            "X_pool",
            allow_nan=self._allows_nan(),
            n_features=getattr(self, "n_features_in_", None),
        )
        columns = getattr(X, "columns", None)
        if columns is not None and hasattr(X_pool, "columns") and (
            list(X_pool.columns) != list(columns)
        ):
            raise ValueError(
                f"X_pool has columns {list(X_pool.columns)[:10]} but X has "
                f"{list(columns)[:10]}; expected the same columns in the same "
                "order."
            )
        if is_text_items(X) != is_text_items(X_pool):
            raise TypeError(
                "X_pool and X must hold the same kind of items: got "
                f"{'texts' if is_text_items(X_pool) else 'numeric features'} in "
                f"X_pool and {'texts' if is_text_items(X) else 'numeric features'} "
                "in X."
            )
        if not wrapped and n_items(X_pool) == n_items(X):
            warnings.warn(
                "X_pool has as many items as X: cross-validation tools "
                "(GridSearchCV, cross_validate) slice such fit parameters fold "
                "by fold. Pass X_pool=skakd.Pool(X_pool) to keep the pool whole.",
                UserWarning,
                stacklevel=3,
            )
        return X_pool

    def _check_student_fits_sampler(self, student):
        if getattr(self.sampler_, "_needs_proba", False) and not hasattr(
            student, "predict_proba"
        ):
            raise TypeError(
                f"sampler {type(self.sampler_).__name__} scores pool items with "
                f"predict_proba, but estimator {type(student).__name__} has no "
                "predict_proba; use a probabilistic student (e.g. wrap it in "
                "sklearn.calibration.CalibratedClassifierCV) or RandomSampler."
            )

    def _allows_nan(self):
        return get_tags(self._student_template()).input_tags.allow_nan

    def _student_template(self):
        """The student as configured; the numeric default stands for ``None``."""
        return self.estimator if self.estimator is not None else LogisticRegression()

    # -- building parts ---------------------------------------------------

    def _make_student(self, X):
        if self.estimator is not None:
            return clone(self.estimator)
        if is_text_items(X):
            return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))
        if hasattr(X, "iloc") and not is_numeric_frame(X):
            raise TypeError(
                "X is a DataFrame with non-numeric columns "
                f"({', '.join(map(str, X.columns[:5]))}) and estimator=None; "
                "pass a student that turns those columns into features, e.g. "
                "a Pipeline with a ColumnTransformer, or a one-column "
                "DataFrame (or Series) of texts for the default TF-IDF student."
            )
        return LogisticRegression(max_iter=1000)

    def _make_strategy(self, X_pool):
        sampler = MRARU() if self.sampler is None else self.sampler
        self.sampler_ = clone(sampler)
        if hasattr(self.sampler_, "acquire"):
            return self.sampler_
        return PoolStrategy(self.sampler_)

    def _make_teacher(self, strategy, X_pool):
        needs_teacher = X_pool is not None or is_generative(strategy)
        if self.teacher is None:
            if needs_teacher:
                raise ValueError(
                    "teacher is None but there is a pool (or a generative "
                    "strategy) to ask about; pass teacher= (a callable items -> "
                    "labels or a Teacher object). A model loaded from a pickle "
                    "has no teacher if its teacher could not be pickled: use "
                    "set_params(teacher=...) before refitting."
                )
            return None
        if hasattr(self.teacher, "label") or hasattr(self.teacher, "generate"):
            return self.teacher
        return CallableTeacher(self.teacher)

    def _make_callbacks(self):
        callbacks = [clone(callback) for callback in (self.callbacks or [])]
        if self.verbose:
            callbacks.append(ProgressBar())
        return callbacks

    def _seed_sequence(self):
        if isinstance(self.random_state, np.random.RandomState):
            entropy = int(self.random_state.randint(np.iinfo(np.int32).max))
        else:
            entropy = self.random_state
        return np.random.SeedSequence(entropy)

    def _route_fit_params(self, X_pool, fit_params):
        if _routing_enabled():
            routed = process_routing(self, "fit", X_pool=X_pool, **fit_params)
            return routed.estimator.fit
        return Bunch()

    # -- serving ----------------------------------------------------------

    def _check_X(self, X):
        check_is_fitted(self)
        return check_items(
            X,
            "X",
            allow_nan=get_tags(self.estimator_).input_tags.allow_nan,
            n_features=getattr(self, "n_features_in_", None),
        )

    def _serve(self, method, X, params):
        _raise_for_params(params, self, method)
        X = self._check_X(X)
        if _routing_enabled():
            params = getattr(process_routing(self, method, **params).estimator, method)
        if params or n_items(X) <= SERVE_CHUNK_SIZE:
            return getattr(self.estimator_, method)(X, **params)
        # Large inputs: bounded intermediate memory, and parallel under
        # n_jobs or a joblib backend (Dask); results equal one call's.
        return predict_in_chunks(self.estimator_, X, method,
                                 chunk_size=SERVE_CHUNK_SIZE, n_jobs=self.n_jobs)

    @available_if(_student_has("predict"))
    @_serving_doc("Predict classes with the distilled student.", "classify",
                  "y : ndarray of shape (n_samples,)")
    def predict(self, X, **params):
        return self._serve("predict", X, params)

    @available_if(_student_has("predict_proba"))
    @_serving_doc("Class probabilities from the distilled student.", "classify",
                  "proba : ndarray of shape (n_samples, n_classes)",
                  "    Columns follow ``classes_``.")
    def predict_proba(self, X, **params):
        return self._serve("predict_proba", X, params)

    @available_if(_student_has("predict_log_proba"))
    @_serving_doc("Log of :meth:`predict_proba`, from the student.", "classify",
                  "log_proba : ndarray of shape (n_samples, n_classes)")
    def predict_log_proba(self, X, **params):
        return self._serve("predict_log_proba", X, params)

    @available_if(_student_has("decision_function"))
    @_serving_doc("Decision function of the student.", "classify", "scores : ndarray")
    def decision_function(self, X, **params):
        return self._serve("decision_function", X, params)

    @available_if(_student_has("transform"))
    @_serving_doc("Transform with the student (e.g. a Pipeline's features).",
                  "transform", "X_new : array-like")
    def transform(self, X, **params):
        return self._serve("transform", X, params)

    # -- scikit-learn plumbing -------------------------------------------

    def get_metadata_routing(self):
        """Routing of metadata: ``X_pool`` is ours, the rest goes to the student.

        Returns
        -------
        routing : MetadataRouter
        """
        mapping = MethodMapping().add(caller="fit", callee="fit")
        for method in ("predict", "predict_proba", "predict_log_proba",
                       "decision_function", "transform", "score"):
            mapping.add(caller=method, callee=method)
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(estimator=self._student_template(), method_mapping=mapping)
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        student = get_tags(self._student_template()).input_tags
        for tag in ("sparse", "allow_nan", "string", "two_d_array", "dict"):
            setattr(tags.input_tags, tag, getattr(student, tag))
        return tags

    def __getstate__(self):
        # A copy: object.__getstate__ returns the live __dict__ itself.
        state = dict(super().__getstate__())
        if state.get("teacher") is None:
            return state
        state["teacher"] = portable(state["teacher"])
        if state["teacher"] is None:
            warnings.warn(
                f"the teacher ({type(self.teacher).__name__}) cannot be pickled "
                "and was left out: the loaded model predicts as before, but "
                "needs set_params(teacher=...) before it can be refitted.",
                UserWarning,
                stacklevel=2,
            )
        return state

