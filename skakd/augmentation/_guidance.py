"""What PGKD shows the teacher: a request built from the student's errors.

The validation report, few-shot examples from the seed, correctly and
wrongly classified validation texts, and the hard negatives (the texts the
student gives the most probability to a wrong class; with label sets, to a
label they do not carry).
"""

import numpy as np
from sklearn.metrics import classification_report

from .._multilabel import label_sets
from ._label_sets import hard_negative_rows, label_report
from ._request import GenerationRequest

__all__ = ["build_request", "native"]


def build_request(pgkd, state, class_counts):
    """The :class:`GenerationRequest` of this round (``pgkd`` gives the
    sizes of its sections, ``state.strategy_state`` the validation scores)."""
    fit = state.strategy_state
    if state.multi_label:
        names, view = _label_set_view(fit, state.classes, pgkd.n_hard_negatives)
    else:
        names, view = native, _class_view(fit, state.estimator.classes_,
                                          pgkd.n_hard_negatives)
    y_val, y_pred, hard, wrong_label, errors, right = view
    X_val, rng = fit.X_val, state.rng
    seed_rows = np.flatnonzero(state.labeled.source == "seed")
    examples = _sample(seed_rows, pgkd.n_examples, rng)
    misclassified = _sample(errors, pgkd.n_misclassified, rng)
    correct = _sample(right, pgkd.n_correct, rng)
    seed_y = names(state.labeled.y[examples])
    true, pred = names(y_val), names(y_pred)
    return GenerationRequest(
        classes=native(state.classes),
        n_samples=sum(class_counts.values()),
        examples=[(state.labeled.X[i], label) for i, label in zip(examples, seed_y)],
        report=_report(y_val, y_pred, state) if pgkd.include_report else None,
        misclassified=[(X_val[i], true[i], pred[i]) for i in misclassified],
        hard_negatives=[(X_val[i], true[i], wrong)
                        for i, wrong in zip(hard, native(wrong_label))],
        correct=[(X_val[i], true[i]) for i in correct],
        class_descriptions=pgkd.class_descriptions,
        class_counts=class_counts,
        multi_label=state.multi_label,
    )


def _class_view(fit, student_classes, n_hard):
    """The validation split through a one-label student: labels, predictions,
    hard negatives with the class each is confused with, the other errors,
    the rows it gets right."""
    y_val = np.asarray(fit.y_val)
    y_pred = student_classes[fit.val_proba.argmax(axis=1)]
    wrong_class, wrong_proba = _strongest_wrong_class(fit.val_proba,
                                                      student_classes, y_val)
    hard = np.argsort(-wrong_proba, kind="stable")[:n_hard]
    errors = np.setdiff1d(np.flatnonzero(y_pred != y_val), hard)
    right = np.flatnonzero(y_pred == y_val)
    return y_val, y_pred, hard, wrong_class[hard], errors, right


def _label_set_view(fit, classes, n_hard):
    """The same through a multi-label student, with ``names`` turning
    indicator rows into label tuples: an error is a text whose predicted set
    differs from its true set; a hard negative a text given a label it does
    not carry (see :func:`~._label_sets.hard_negative_rows`)."""
    Y_val, Y_pred = np.asarray(fit.y_val), np.asarray(fit.val_pred)
    hard, wrong = hard_negative_rows(fit.val_proba, Y_val, n_hard)
    exact = (Y_val == Y_pred).all(axis=1)
    errors = np.setdiff1d(np.flatnonzero(~exact), hard)
    names = lambda Y: label_sets(Y, classes)  # noqa: E731
    return names, (Y_val, Y_pred, hard, np.asarray(classes)[wrong], errors,
                   np.flatnonzero(exact))


def _report(y_val, y_pred, state):
    if state.multi_label:
        return label_report(y_val, y_pred, state.classes)
    return classification_report(y_val, y_pred, output_dict=True, zero_division=0)


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
