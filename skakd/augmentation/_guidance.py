"""What PGKD shows the teacher: a request built from the student's errors.

The validation report, few-shot examples from the seed, correctly and
wrongly classified validation texts, and the hard negatives (the texts the
student gives the most probability to a wrong class).
"""

import numpy as np
from sklearn.metrics import classification_report

from ._request import GenerationRequest

__all__ = ["build_request", "native"]


def build_request(pgkd, state, class_counts):
    """The :class:`GenerationRequest` of this round (``pgkd`` gives the
    sizes of its sections, ``state.strategy_state`` the validation scores)."""
    fit = state.strategy_state
    proba = fit.val_proba
    student_classes = state.estimator.classes_
    y_val, X_val = np.asarray(fit.y_val), fit.X_val
    y_pred = student_classes[proba.argmax(axis=1)]
    wrong_class, wrong_proba = _strongest_wrong_class(proba, student_classes, y_val)
    hard = np.argsort(-wrong_proba, kind="stable")[: pgkd.n_hard_negatives]
    errors = np.setdiff1d(np.flatnonzero(y_pred != y_val), hard)
    right = np.flatnonzero(y_pred == y_val)
    rng = state.rng
    seed_rows = np.flatnonzero(state.labeled.source == "seed")
    return GenerationRequest(
        classes=native(state.classes),
        n_samples=sum(class_counts.values()),
        examples=[
            (state.labeled.X[i], native(state.labeled.y[i]))
            for i in _sample(seed_rows, pgkd.n_examples, rng)
        ],
        report=(
            classification_report(y_val, y_pred, output_dict=True, zero_division=0)
            if pgkd.include_report else None
        ),
        misclassified=[
            (X_val[i], native(y_val[i]), native(y_pred[i]))
            for i in _sample(errors, pgkd.n_misclassified, rng)
        ],
        hard_negatives=[
            (X_val[i], native(y_val[i]), native(wrong_class[i])) for i in hard
        ],
        correct=[
            (X_val[i], native(y_val[i]))
            for i in _sample(right, pgkd.n_correct, rng)
        ],
        class_descriptions=pgkd.class_descriptions,
        class_counts=class_counts,
    )


def _strongest_wrong_class(proba, classes, y_true):
    """For each row, the most probable class other than the true one, and
    its probability."""
    column = {label: j for j, label in enumerate(classes.tolist())}
    true_col = np.array([column.get(label, -1) for label in y_true.tolist()])
    wrong = proba.copy()
    known = true_col >= 0
    wrong[np.flatnonzero(known), true_col[known]] = -np.inf
    best = wrong.argmax(axis=1)
    return classes[best], wrong[np.arange(len(wrong)), best]


def _sample(indices, n, rng):
    if n == 0 or len(indices) == 0:
        return np.empty(0, dtype=np.intp)
    return rng.choice(indices, size=min(n, len(indices)), replace=False)


def native(value):
    """numpy scalars and arrays as plain Python values (for prompts, JSON)."""
    return value.tolist() if hasattr(value, "tolist") else value
