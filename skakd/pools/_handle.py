"""A handle that keeps the unlabelled pool whole through cross-validation."""

__all__ = ["Pool"]


class Pool:
    """Wrap ``X_pool`` so that cross-validation tools pass it through unsliced.

    scikit-learn's ``GridSearchCV``, ``cross_validate`` and friends slice
    every fit parameter that has as many rows as ``X``, fold by fold. The
    unlabelled pool is not aligned with the labelled seed, so slicing it would
    silently throw most of it away whenever ``len(X_pool) == len(X)``. A
    ``Pool`` is deliberately not array-like (no ``len``, ``shape`` or
    ``__array__``), which is what makes scikit-learn hand it over untouched.
    :meth:`ActiveDistillationClassifier.fit` unwraps it.

    Parameters
    ----------
    data : array-like, sparse matrix or sequence
        The unlabelled pool.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from skakd import ActiveDistillationClassifier, Pool
    >>> search = GridSearchCV(ActiveDistillationClassifier(), {"max_iter": [1, 2]})
    >>> # search.fit(X_seed, y_seed, X_pool=Pool(X_pool))
    """

    def __init__(self, data):
        self.data = data

    def __repr__(self):
        return f"Pool({type(self.data).__name__})"
