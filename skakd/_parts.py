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
from sklearn.pipeline import make_pipeline

from ._items import is_numeric_frame, is_text_items
from .callbacks import ProgressBar
from .sampling import MRARU, PoolStrategy
from .strategy import is_generative, sample_weight_param
from .teachers import CallableTeacher

__all__ = ["fit_student", "make_callbacks", "make_strategy", "make_student",
           "make_teacher", "seed_sequence"]


def make_student(estimator, X):
    """A clone of ``estimator``; for ``None``, TF-IDF + LogisticRegression for
    texts and LogisticRegression for numeric features."""
    if estimator is not None:
        return clone(estimator)
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


def make_strategy(sampler):
    """``(sampler_, strategy)``: the fitted clone of ``sampler`` (``MRARU()``
    for ``None``) and the strategy the loop drives."""
    sampler_ = clone(MRARU() if sampler is None else sampler)
    if hasattr(sampler_, "acquire"):
        return sampler_, sampler_
    return sampler_, PoolStrategy(sampler_)


def make_teacher(teacher, strategy, X_pool):
    """The teacher object, or ``None`` when there is nothing to ask."""
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
    if hasattr(teacher, "label") or hasattr(teacher, "generate"):
        return teacher
    return CallableTeacher(teacher)


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
