"""Serving the distilled student: which methods exist, their docs, chunking."""

from sklearn.linear_model import LogisticRegression
from sklearn.utils import get_tags
from sklearn.utils.metadata_routing import (
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import check_is_fitted

from ._items import check_items, n_items
from .parallel import predict_in_chunks

__all__ = ["SERVE_CHUNK_SIZE", "serve", "serving_doc", "student_has"]

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
