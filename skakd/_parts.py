"""What ``fit`` builds from the classifier's parameters.

The student (a clone, or a default that suits the items), the strategy (a
sampler is wrapped in :class:`~skakd.sampling.PoolStrategy`), the teacher (a
function is wrapped in :class:`~skakd.teachers.CallableTeacher`), the
callbacks (clones) and the seed sequence every round's randomness comes
from. Each is made anew at every fit; :func:`fit_student` fits the student
on what is labelled so far.
"""

import time

import numpy as np
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags

from ._items import is_numeric_frame, is_text_items
from ._multilabel_student import MultiLabelStudent
from .callbacks import ProgressBar
from .sampling import MRARU, PoolStrategy
from .strategy import is_generative, sample_weight_param
from .teachers import CallableTeacher, check_multi_label_teacher

__all__ = ["fit_student", "make_callbacks", "make_strategy", "make_student",
           "make_teacher", "seed_sequence"]


def make_student(estimator, X, labels=None, threshold=0.5):
    """A clone of ``estimator``; for ``None``, TF-IDF + LogisticRegression for
    texts and LogisticRegression for numeric features (one-vs-rest with
    balanced class weights for multi-label targets). With multi-label
    ``labels`` (the label names), the student is wrapped in a
    :class:`MultiLabelStudent` deciding at ``threshold`` (0.5 until
    ``"tuned"`` thresholds are tuned)."""
    if labels is None:
        return _single_label_student(estimator, X)
    if estimator is None:
        # Each label is a rare "yes": balanced weights put the 0.5 threshold
        # where F1 is (GoEmotions, full data: micro-F1 .438 against .197);
        # liblinear fits these binary problems 20 times faster than lbfgs,
        # to the same F1.
        linear = OneVsRestClassifier(LogisticRegression(
            max_iter=1000, class_weight="balanced", solver="liblinear"))
        estimator = (make_pipeline(TfidfVectorizer(), linear)
                     if is_text_items(X) else linear)
    threshold = 0.5 if isinstance(threshold, str) else threshold
    return MultiLabelStudent(clone(estimator), labels, threshold)


def _single_label_student(estimator, X):
    if estimator is not None:
        student = clone(estimator)
        _check_one_text_per_item(student, X)
        return student
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


def _check_one_text_per_item(student, X):
    """A student that reads one text per item, fed a table of several columns,
    would read its column names as the texts: say so, naming ``X``."""
    if getattr(X, "ndim", 1) != 2 or is_text_items(X):
        return
    first = student.steps[0][1] if hasattr(student, "steps") else student
    input_tags = get_tags(first).input_tags
    if hasattr(first, "build_analyzer") or (input_tags.string
                                            and not input_tags.two_d_array):
        columns = list(getattr(X, "columns", []))[:5]
        raise ValueError(
            f"X has {X.shape[1]} columns{f' ({columns})' if columns else ''} "
            f"but the student ({type(first).__name__}) reads one text per "
            "item; expected one text column, e.g. X=df['text'] and "
            "X_pool=pool['text'] (or a ColumnTransformer in the student to "
            "use several columns)."
        )


def make_strategy(sampler):
    """``(sampler_, strategy)``: the fitted clone of ``sampler`` (``MRARU()``
    for ``None``) and the strategy the loop drives."""
    sampler_ = clone(MRARU() if sampler is None else sampler)
    # Checked before anything is fitted: a bad parameter should not wait for
    # the seed student (a fine-tuned BERT, minutes) to be found.
    if hasattr(sampler_, "_parameter_constraints"):
        sampler_._validate_params()
    if hasattr(sampler_, "acquire"):
        return sampler_, sampler_
    return sampler_, PoolStrategy(sampler_)


def make_teacher(teacher, strategy, X_pool, multi_label=False):
    """The teacher object, or ``None`` when there is nothing to ask; for
    ``multi_label`` targets, one that can be asked for label sets."""
    if teacher is None:
        if X_pool is not None or is_generative(strategy):
            raise ValueError(
                "teacher is None but there is a pool (or a generative "
                "strategy) to ask about; pass teacher= (a callable items -> "
                "labels or a Teacher object). A model loaded from a pickle "
                "has no teacher if its teacher could not be pickled: use "
                "set_params(teacher=...) before refitting."
            )
        return None
    if not (hasattr(teacher, "label") or hasattr(teacher, "generate")):
        return CallableTeacher(teacher)
    if multi_label:
        check_multi_label_teacher(teacher, type(teacher).__name__)
    return teacher


def make_callbacks(callbacks, verbose):
    """Clones of ``callbacks``, and a progress bar when ``verbose``."""
    made = [clone(callback) for callback in (callbacks or [])]
    if verbose:
        made.append(ProgressBar())
    return made


def seed_sequence(random_state):
    """Where every round's generator is spawned from."""
    if isinstance(random_state, np.random.RandomState):
        entropy = int(random_state.randint(np.iinfo(np.int32).max))
    else:
        entropy = random_state
    return np.random.SeedSequence(entropy)


def fit_student(strategy, state):
    """Fit ``state.estimator`` on ``state.labeled`` (weighted as the strategy
    says); return the seconds it took."""
    start = time.perf_counter()
    params = dict(state.fit_params)
    hook = getattr(strategy, "sample_weight", None)
    weights = None if hook is None else hook(state)
    if weights is not None:  # the strategy's per-row weights
        params[sample_weight_param(state.estimator)] = weights
    state.estimator.fit(state.labeled.X, state.labeled.y, **params)
    return time.perf_counter() - start
