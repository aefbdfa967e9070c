"""Serving the distilled student: which methods exist, their docs, chunking."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import (
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._items import check_items, n_items
from ._multilabel import check_multilabel_target, label_sets
from .parallel import predict_in_chunks

__all__ = ["SERVE_CHUNK_SIZE", "ServingMixin", "serve", "serving_doc", "student_has"]

# Inputs longer than this are served chunk by chunk (see skakd.parallel).
SERVE_CHUNK_SIZE = 10_000


def student_has(attr):
    """Whether the (fitted, given or default) student exposes ``attr``: the
    check of ``available_if`` for each method that serves it."""

    def check(clf):
        if hasattr(clf, "estimator_"):
            return hasattr(clf.estimator_, attr)
        if clf.estimator is not None:
            return hasattr(clf.estimator, attr)
        return hasattr(LogisticRegression, attr)

    return check


def serving_doc(summary, verb, *returns):
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


def serve(clf, method, X, params):
    """``clf.estimator_``'s ``method`` on ``X``: checked, routed, and served
    chunk by chunk when ``X`` is large."""
    _raise_for_params(params, clf, method)
    check_is_fitted(clf)
    X = check_items(
        X,
        "X",
        allow_nan=get_tags(clf.estimator_).input_tags.allow_nan,
        n_features=getattr(clf, "n_features_in_", None),
    )
    if _routing_enabled():
        params = getattr(process_routing(clf, method, **params).estimator, method)
    if params or n_items(X) <= SERVE_CHUNK_SIZE:
        return getattr(clf.estimator_, method)(X, **params)
    # Large inputs: bounded intermediate memory, and parallel under
    # n_jobs or a joblib backend (Dask); results equal one call's.
    return predict_in_chunks(clf.estimator_, X, method,
                             chunk_size=SERVE_CHUNK_SIZE, n_jobs=clf.n_jobs)


class ServingMixin:
    """The classifier's serving methods, each available when the student has
    it; and, for multi-label targets, label lists back and their score."""

    @available_if(student_has("predict"))
    @serving_doc("Predict classes with the distilled student.", "classify",
                 "y : ndarray of shape (n_samples,)")
    def predict(self, X, **params):
        return serve(self, "predict", X, params)

    @available_if(student_has("predict_proba"))
    @serving_doc("Class probabilities from the distilled student.", "classify",
                 "proba : ndarray of shape (n_samples, n_classes)",
                 "    Columns follow ``classes_``.")
    def predict_proba(self, X, **params):
        return serve(self, "predict_proba", X, params)

    @available_if(student_has("predict_log_proba"))
    @serving_doc("Log of :meth:`predict_proba`, from the student.", "classify",
                 "log_proba : ndarray of shape (n_samples, n_classes)")
    def predict_log_proba(self, X, **params):
        return serve(self, "predict_log_proba", X, params)

    @available_if(student_has("decision_function"))
    @serving_doc("Decision function of the student.", "classify", "scores : ndarray")
    def decision_function(self, X, **params):
        return serve(self, "decision_function", X, params)

    @available_if(student_has("transform"))
    @serving_doc("Transform with the student (e.g. a Pipeline's features).",
                 "transform", "X_new : array-like")
    def transform(self, X, **params):
        return serve(self, "transform", X, params)

    def predict_labels(self, X):
        """Predicted labels as lists: one tuple of labels per item.

        The readable form of :meth:`predict` for multi-label targets
        (``predict`` gives the indicator matrix over ``classes_``, as
        scikit-learn's multi-label classifiers do); for one label per item,
        the labels of :meth:`predict`.

        Parameters
        ----------
        X : array-like, sparse matrix or sequence of texts
            Items to classify.

        Returns
        -------
        labels : list
            A tuple of labels (empty for none) per item, in ``classes_``
            order; or one label per item.
        """
        predicted = self.predict(X)
        if not _is_multi_label(self):
            return list(predicted)
        return label_sets(predicted, self.classes_)

    def score(self, X, y, sample_weight=None, **params):
        """Accuracy of :meth:`predict` on ``X`` against ``y``.

        For multi-label targets (label lists, or an indicator matrix over
        ``classes_``), subset accuracy: a row counts when its whole label
        set is right, as scikit-learn's :func:`~sklearn.metrics.accuracy_score`
        scores multi-label predictions.

        Parameters
        ----------
        X : array-like, sparse matrix or sequence of texts
            Items to classify.
        y : array-like
            Their true labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.
        **params : dict
            Passed to the student when metadata routing is enabled.

        Returns
        -------
        score : float
        """
        if not _is_multi_label(self):
            return super().score(X, y, sample_weight=sample_weight, **params)
        target = check_multilabel_target(y, self.classes_)
        Y = np.asarray(y) if target is None else target[0]
        return accuracy_score(Y, self.predict(X, **params),
                              sample_weight=sample_weight)


def _is_multi_label(clf):
    check_is_fitted(clf)
    return bool(getattr(clf.estimator_, "multilabel_", False))
