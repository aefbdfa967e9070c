"""Callbacks: hooks into the distillation loop, in the spirit of skorch.

A callback is a small scikit-learn style object (it clones and
grid-searches) with hooks that receive the classifier being fitted:

* ``on_fit_begin(clf)`` once the seed student is trained (``clf.history_``
  already holds round 0);
* ``on_acquisition(clf, state, acquisition)`` each round, once the teacher's
  answers were added to ``state.labeled`` and *before* the student is
  refitted on them: ``state.estimator`` is still the previous round's
  student and ``state.X_pool`` the pool (see
  :class:`~skakd.DistillationState`). Read the state, do not change it,
  with one exception: an audit such as :class:`skakd.audit.LabelAudit` may
  relabel rows (:meth:`~skakd.strategy.LabeledSet.relabel`) and adds what
  it asked to ``state.n_used`` and ``state.teacher_cost``, so that the
  budget counts it;
* ``on_round_end(clf, record)`` after each teacher round, with the record
  about to be appended to ``history_``; it may add keys to ``record`` and
  returns ``True`` to stop the loop (``termination_condition_`` is then the
  callback's ``stop_reason``, ``"early_stopping"`` unless it says otherwise;
  the criteria of :mod:`skakd.stopping` say ``"converged"``);
* ``on_fit_end(clf)`` once the loop is over (also after a teacher failure).

A callback's working state for one fit lives in attributes ending in ``_``
set in ``on_fit_begin``: the classifier clones its callbacks at every fit.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.metrics import f1_score, get_scorer, hamming_loss

from ._multilabel import check_multilabel_target
from .reasons import EARLY_STOPPING

__all__ = ["Callback", "EarlyStopping", "ProgressBar", "Scoring"]


class Callback(BaseEstimator):
    """Base class for callbacks; every hook does nothing by default.

    Attributes
    ----------
    stop_reason : str
        The classifier's ``termination_condition_`` when this callback stops
        the fit (a class attribute, not a parameter).
    """

    stop_reason = EARLY_STOPPING

    def on_fit_begin(self, clf):
        """Called after the student was fitted on the seed."""

    def on_acquisition(self, clf, state, acquisition):
        """Called after a round's answers were absorbed, before the refit."""

    def on_round_end(self, clf, record):
        """Called after each teacher round; return ``True`` to stop."""
        return False

    def on_fit_end(self, clf):
        """Called when the loop is over."""


class Scoring(Callback):
    """Score the student on held-out data after every round.

    Adds ``record[name]`` to each round of ``history_`` (round 0 included),
    which turns ``history_`` into a learning curve: score versus
    ``n_labeled``.

    Parameters
    ----------
    X, y : array-like
        Held-out items and their true labels.
    scoring : str or callable, default="accuracy"
        A scikit-learn scorer name or ``scorer(estimator, X, y)``.
    name : str or None, default=None
        Key in ``history_``; defaults to ``scoring`` when it is a string,
        else ``"score"``.

    Notes
    -----
    With multi-label targets, ``y`` holds label collections (or the
    indicator matrix over ``classes_``); ``scoring`` sees the indicator
    matrix (``"accuracy"`` is then subset accuracy) and every record also
    gets ``micro_f1``, ``macro_f1`` and ``hamming_loss``.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skakd import ActiveDistillationClassifier
    >>> from skakd.callbacks import Scoring
    >>> X, y = make_classification(n_samples=400, random_state=0)
    >>> clf = ActiveDistillationClassifier(
    ...     LogisticRegression(), teacher=lambda rows: [None] * len(rows),
    ...     max_iter=1, callbacks=[Scoring(X[300:], y[300:])], random_state=0)
    >>> clf = clf.fit(X[:20], y[:20], X_pool=X[20:300])
    >>> clf.history_[:, "accuracy"] == [clf.history_[0]["accuracy"]] * 2
    True
    """

    def __init__(self, X, y, scoring="accuracy", name=None):
        self.X = X
        self.y = y
        self.scoring = scoring
        self.name = name

    def on_fit_begin(self, clf):
        clf.history_[0].update(self._scores(clf))

    def on_round_end(self, clf, record):
        record.update(self._scores(clf))
        return False

    @property
    def _key(self):
        if self.name is not None:
            return self.name
        return self.scoring if isinstance(self.scoring, str) else "score"

    def _scores(self, clf):
        scorer = self.scoring
        if isinstance(scorer, str):
            scorer = get_scorer(scorer)
        if not getattr(clf.estimator_, "multilabel_", False):
            return {self._key: float(scorer(clf.estimator_, self.X, self.y))}
        # Label sets: scored on the indicator matrix over classes_, with the
        # multi-label figures beside the chosen one.
        Y = _indicator(self.y, clf.estimator_.classes_)
        predicted = clf.estimator_.predict(self.X)
        return {
            self._key: float(scorer(clf.estimator_, self.X, Y)),
            "micro_f1": float(f1_score(Y, predicted, average="micro",
                                       zero_division=0)),
            "macro_f1": float(f1_score(Y, predicted, average="macro",
                                       zero_division=0)),
            "hamming_loss": float(hamming_loss(Y, predicted)),
        }


class EarlyStopping(Callback):
    """Stop when a score in ``history_`` has not improved for a while.

    Parameters
    ----------
    monitor : str, default="accuracy"
        Key of ``history_`` to watch (written by e.g. :class:`Scoring`,
        which must come first in ``callbacks``).
    patience : int, default=5
        Rounds without improvement before stopping.
    min_delta : float, default=0.0
        Smallest increase that counts as an improvement.
    """

    def __init__(self, monitor="accuracy", patience=5, min_delta=0.0):
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta

    def on_fit_begin(self, clf):
        self.best_ = clf.history_[0].get(self.monitor, -np.inf)
        self.wait_ = 0

    def on_round_end(self, clf, record):
        if self.monitor not in record:
            raise KeyError(
                f"EarlyStopping(monitor={self.monitor!r}): history_ has no "
                f"{self.monitor!r}; add a callback that records it (e.g. "
                "Scoring) before EarlyStopping in callbacks."
            )
        if record[self.monitor] > self.best_ + self.min_delta:
            self.best_, self.wait_ = record[self.monitor], 0
            return False
        self.wait_ += 1
        return self.wait_ >= self.patience


class ProgressBar(Callback):
    """A tqdm progress bar over teacher rounds (added when ``verbose > 0``).

    Shows the round, labelled-set size, teacher cost so far and, when a
    :class:`Scoring` callback records it, the latest score.
    """

    def on_fit_begin(self, clf):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=clf.max_iter, desc="distilling", unit="round")

    def on_round_end(self, clf, record):
        postfix = {
            "labeled": record["n_labeled"],
            "cost": f"${record['teacher_cost_total']:.4f}",
        }
        for key in ("accuracy", "score", "val_accuracy"):
            if key in record:
                postfix[key] = f"{record[key]:.3f}"
        self.bar_.set_postfix(postfix)
        self.bar_.update(1)
        return False

    def on_fit_end(self, clf):
        # The bar holds its output stream: closed and dropped, so that the
        # fitted classifier (which keeps its callbacks) still pickles.
        self.bar_.close()
        del self.bar_


def _indicator(y, classes):
    target = check_multilabel_target(y, classes)
    return np.asarray(y) if target is None else target[0]
