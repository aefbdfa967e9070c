"""The student of a multi-label fit: any indicator-fitting estimator, with
one probability per label and a decision threshold per label."""

import warnings

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_array
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._items import add_note

__all__ = ["MultiLabelStudent", "per_label_proba"]

# Thresholds tried when tuning; 0.5 is among them, so a label whose held-out
# rows favour no other keeps it.
_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _inner_has(attr):
    return lambda self: hasattr(self.estimator_ if hasattr(self, "estimator_")
                                else self.estimator, attr)


class MultiLabelStudent(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Serve a student fitted on an indicator matrix the multi-label way.

    :class:`~skakd.ActiveDistillationClassifier` wraps its student in one
    when ``y`` is multi-label: ``predict_proba`` gives one probability per
    label, shape ``(n_samples, n_labels)`` (students that return a list of
    per-label arrays, such as random forests or
    :class:`~sklearn.multioutput.MultiOutputClassifier`, are normalised),
    and ``predict`` the indicator matrix, a label being on where its
    probability reaches its threshold.

    Parameters
    ----------
    estimator : estimator
        Any classifier that fits an indicator ``y`` (e.g.
        ``OneVsRestClassifier(LogisticRegression())``).
    classes : array-like of shape (n_labels,)
        The label names, in column order.
    threshold : float or array-like of shape (n_labels,), default=0.5
        Decision threshold per label.

    Attributes
    ----------
    estimator_ : estimator
        The fitted student.
    classes_ : ndarray of shape (n_labels,)
        The label names.
    threshold_ : ndarray of shape (n_labels,)
        The threshold of each label (see :meth:`tune_threshold`).
    label_cardinality_ : float
        Mean number of labels per training row.
    linear_heads_ : tuple or None
        For a one-vs-rest of logistic regressions (alone or ending a
        Pipeline): their coefficients stacked, ``(coef, intercept, linear)``
        with ``linear`` the labels they serve (the others, e.g. labels seen
        with one value only, are asked one by one). ``predict_proba`` is
        then one matrix product instead of one call per label: what keeps
        an M-RARU selection over 28 labels within milliseconds.
    multilabel_ : bool
        Always ``True``, as :class:`~sklearn.multiclass.OneVsRestClassifier`
        says it: samplers score such a student label by label.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.multiclass import OneVsRestClassifier
    >>> from skakd._multilabel_student import MultiLabelStudent
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> Y = np.array([[1, 0], [1, 0], [0, 1], [0, 1]])
    >>> student = MultiLabelStudent(OneVsRestClassifier(LogisticRegression()),
    ...                             classes=["low", "high"]).fit(X, Y)
    >>> student.predict_proba(X).shape, student.predict(X[:1]).tolist()
    ((4, 2), [[1, 0]])
    """

    multilabel_ = True

    def __init__(self, estimator, classes, threshold=0.5):
        self.estimator = estimator
        self.classes = classes
        self.threshold = threshold

    def fit(self, X, y, **fit_params):
        """Fit a clone of the student on the indicator matrix ``y``."""
        self.classes_ = np.asarray(self.classes)
        with warnings.catch_warnings():
            # A label no seed row carries (yet) is the normal case of a
            # distillation's start: one-vs-rest predicts it constant.
            warnings.filterwarnings("ignore", message="Label .* is present in all",
                                    category=UserWarning)
            try:
                self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
            except Exception as exc:
                add_note(exc, (
                    f"skakd: the student is fitted on an indicator matrix of "
                    f"shape {np.shape(y)} (multi-label targets); use one that "
                    "takes multi-label y, e.g. OneVsRestClassifier(estimator)."))
                raise
        self.threshold_ = np.broadcast_to(
            np.asarray(self.threshold, dtype=float), (len(self.classes_),)).copy()
        self.label_cardinality_ = float(np.asarray(y).sum(axis=1).mean())
        self.linear_heads_ = _linear_heads(self.estimator_)
        return self

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X):
        """Probability of each label, shape ``(n_samples, n_labels)``."""
        check_is_fitted(self)
        if self.linear_heads_ is not None:
            return _one_product(self.estimator_, self.linear_heads_, X)
        return per_label_proba(self.estimator_.predict_proba(X), self.estimator_)

    def predict(self, X):
        """The indicator matrix: 1 where a label's probability reaches its
        threshold (the student's own ``predict`` without probabilities)."""
        check_is_fitted(self)
        if not hasattr(self.estimator_, "predict_proba"):
            return np.asarray(self.estimator_.predict(X)).astype(np.int64)
        return (self.predict_proba(X) >= self.threshold_).astype(np.int64)

    def score(self, X, y, sample_weight=None):
        """Micro-averaged F1 of :meth:`predict` against the indicator ``y``."""
        from sklearn.metrics import f1_score

        return f1_score(y, self.predict(X), average="micro", zero_division=0,
                        sample_weight=sample_weight)

    def tune_threshold(self, X, y, cv=3, random_state=0):
        """Choose each label's threshold on held-out rows, keep the fit.

        Out-of-fold probabilities of ``cv`` folds (a clone of the student is
        fitted on each) give, per label, the threshold of the grid 0.05 ...
        0.95 with the best F1; a label with fewer than ``cv`` positive rows
        keeps 0.5.
        """
        check_is_fitted(self)
        y = np.asarray(y)
        folds = KFold(min(cv, len(y)), shuffle=True, random_state=random_state)
        proba = cross_val_predict(_Proba(self.estimator), X, y, cv=folds)
        for j in range(y.shape[1]):
            if y[:, j].sum() >= cv:
                self.threshold_[j] = _best_threshold(y[:, j], proba[:, j])
        return self


class _Proba(BaseEstimator):
    """A student whose ``predict`` is its per-label ``predict_proba``, for
    ``cross_val_predict``."""

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y):
        self.estimator_ = MultiLabelStudent(self.estimator, np.arange(y.shape[1])
                                            ).fit(X, y).estimator_
        return self

    def predict(self, X):
        return per_label_proba(self.estimator_.predict_proba(X), self.estimator_)


def _best_threshold(truth, proba):
    predicted = proba[:, None] >= _GRID
    tp = (predicted & (truth[:, None] == 1)).sum(axis=0)
    f1 = 2 * tp / (predicted.sum(axis=0) + truth.sum())
    return float(_GRID[np.argmax(f1)])


def _linear_heads(estimator):
    """``(coef, intercept, linear)`` of a fitted one-vs-rest of binary
    logistic regressions (alone or ending a Pipeline), else ``None``."""
    ovr = estimator[-1] if isinstance(estimator, Pipeline) else estimator
    if not isinstance(ovr, OneVsRestClassifier) or not ovr.multilabel_:
        return None
    linear = np.array([isinstance(e, LogisticRegression) and e.coef_.shape[0] == 1
                       for e in ovr.estimators_])
    if not linear.any():
        return None
    heads = [e for e, is_linear in zip(ovr.estimators_, linear) if is_linear]
    coef = np.vstack([e.coef_ for e in heads])
    intercept = np.concatenate([e.intercept_ for e in heads])
    return coef, intercept, linear


def _one_product(estimator, heads, X):
    """What ``OneVsRestClassifier.predict_proba`` gives, the logistic heads
    computed in one product."""
    coef, intercept, linear = heads
    if isinstance(estimator, Pipeline):
        X = estimator[:-1].transform(X) if len(estimator) > 1 else X
        estimator = estimator[-1]
    X = check_array(X, accept_sparse="csr")
    if X.shape[1] != coef.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features, but the student is expecting "
            f"{coef.shape[1]} features as input.")
    proba = np.empty((X.shape[0], len(linear)))
    proba[:, linear] = expit(safe_sparse_dot(X, coef.T) + intercept)
    for j in np.flatnonzero(~linear):
        proba[:, j] = estimator.estimators_[j].predict_proba(X)[:, 1]
    return proba


def per_label_proba(proba, estimator):
    """One probability per label, ``(n_samples, n_labels)``, from what a
    student's ``predict_proba`` returns for an indicator ``y``.

    A 2-D array passes through; a list of per-label ``(n_samples, k)``
    arrays (random forests, ``MultiOutputClassifier``) gives the column of
    class 1, or a constant for a label seen with one value only.
    """
    if not isinstance(proba, list):
        return np.asarray(proba, dtype=float)
    classes = getattr(estimator, "classes_", None)
    if not isinstance(classes, list):
        classes = [None] * len(proba)
    columns = []
    for part, seen in zip(proba, classes):
        part = np.asarray(part, dtype=float)
        seen = np.arange(part.shape[1]) if seen is None else np.asarray(seen)
        positive = np.flatnonzero(seen == 1)
        columns.append(part[:, positive[0]] if len(positive)
                       else np.zeros(len(part)))
    return np.column_stack(columns)
