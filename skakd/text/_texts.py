"""Checks shared by the text students: a sequence of strings, nothing else."""

import numbers

import numpy as np

__all__ = ["check_texts"]


def check_texts(X, name="X"):
    """Return ``X`` as a 1-D object array of ``str``, or raise a clear error.

    Empty strings are valid texts; ``None``/NaN and non-string items are not.
    """
    if X is None:
        raise ValueError(f"{name} is None; expected a sequence of texts (str).")
    if isinstance(X, (str, bytes)):
        raise TypeError(
            f"{name} is a single {type(X).__name__}; expected a sequence of "
            "texts, e.g. [text] for one text."
        )
    if hasattr(X, "iloc"):  # pandas Series/DataFrame column
        X = X.to_numpy()
    texts = np.fromiter(X, dtype=object, count=len(X))
    for i, item in enumerate(texts):
        if item is None or (isinstance(item, numbers.Real) and np.isnan(item)):
            raise ValueError(
                f"{name}[{i}] is {item!r}; expected a text (str) at every "
                "position. Replace missing texts, e.g. with ''."
            )
        if not isinstance(item, str):
            raise TypeError(
                f"{name}[{i}] is a {type(item).__name__} ({item!r:.40}); "
                "expected str."
            )
    return texts
