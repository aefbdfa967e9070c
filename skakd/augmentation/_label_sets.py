"""PGKD on label sets: what changes when every text carries any number of labels.

The validation split, scores and report are per label (scikit-learn's
multi-label metrics on the indicator matrices); a misclassified text is one
whose predicted set differs from its true set; a hard negative is a text the
student gives a label it does not carry; and a label's error, which steers
how many texts carrying it are asked for, is how much probability the
student leaves off the texts that carry it. Pure functions of arrays, like
:mod:`._allocation`.
"""

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, f1_score

__all__ = ["hard_negative_rows", "label_errors", "label_report", "label_set_mask",
           "label_set_scores", "per_label_summary"]

# Probabilities are clipped this far from 0 and 1 in the validation loss.
_EPS = 1e-15


def label_set_scores(estimator, X_val, Y_val):
    """Score a multi-label student on the validation split.

    Returns
    -------
    proba : ndarray of shape (n_val, n_labels)
        One probability per label.
    Y_pred : ndarray of shape (n_val, n_labels)
        The predicted indicator matrix (the student's thresholds).
    metrics : dict
        ``val_loss`` (the binary log-loss averaged over texts and labels),
        ``val_accuracy`` (the share of texts whose whole set is right),
        ``val_macro_f1`` and ``val_micro_f1``.
    """
    proba = np.asarray(estimator.predict_proba(X_val), dtype=float)
    Y_pred = np.asarray(estimator.predict(X_val))
    Y_val = np.asarray(Y_val)
    p = np.clip(proba, _EPS, 1 - _EPS)
    loss = -np.mean(Y_val * np.log(p) + (1 - Y_val) * np.log1p(-p))
    metrics = {
        "val_loss": float(loss),
        "val_accuracy": float(accuracy_score(Y_val, Y_pred)),
        "val_macro_f1": float(f1_score(Y_val, Y_pred, average="macro",
                                       zero_division=0)),
        "val_micro_f1": float(f1_score(Y_val, Y_pred, average="micro",
                                       zero_division=0)),
    }
    return proba, Y_pred, metrics


def label_report(Y_val, Y_pred, classes):
    """The validation report per label, keyed by ``str(label)``: precision,
    recall, F1 and support, with the micro, macro, weighted and samples
    averages (``classification_report(output_dict=True)`` on the indicator
    matrices)."""
    return classification_report(
        np.asarray(Y_val), np.asarray(Y_pred), labels=np.arange(len(classes)),
        target_names=[str(label) for label in np.asarray(classes).tolist()],
        output_dict=True, zero_division=0)


def hard_negative_rows(proba, Y_val, n):
    """The hard negatives: validation rows and the label each is wrongly
    given most, hardest first, spread over the labels.

    A row's strongest wrong label is the label it does not carry to which
    the student gives the highest probability. Each label's hardest row
    comes first (labels ordered by that probability), then each label's
    second, and so on: the ``n`` rows cover as many labels as they can
    instead of piling onto the label the student over-predicts most.

    Returns
    -------
    rows : ndarray of int
    labels : ndarray of int
        Column of the wrong label of each row.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.augmentation._label_sets import hard_negative_rows
    >>> proba = np.array([[0.9, 0.1], [0.8, 0.3], [0.1, 0.6], [0.7, 0.9]])
    >>> Y = np.array([[0, 0], [0, 0], [1, 0], [1, 1]])
    >>> rows, labels = hard_negative_rows(proba, Y, 3)
    >>> rows.tolist(), labels.tolist()
    ([0, 2, 1], [0, 1, 0])
    """
    wrong = np.where(np.asarray(Y_val) == 1, -np.inf, proba)
    label = wrong.argmax(axis=1)
    p = wrong[np.arange(len(wrong)), label]
    by_p = np.argsort(-p, kind="stable")
    by_p = by_p[np.isfinite(p[by_p])]  # a row carrying every label has none
    rank = np.empty(len(by_p), dtype=np.intp)
    seen = {}
    for k, row in enumerate(by_p):
        rank[k] = seen[label[row]] = seen.get(label[row], -1) + 1
    order = by_p[np.lexsort((np.arange(len(by_p)), rank))][:n]
    return order, label[order]


def label_errors(proba, Y_val, shrinkage):
    """Each label's validation error, shrunk toward the mean over labels.

    A label's raw error is one minus the mean probability the student gives
    it on the validation texts that carry it (what recall it would lose);
    it is shrunk toward the mean error ``m`` as a class's error is
    (:func:`~skakd.augmentation._allocation.class_errors`): ``(n_l * e_l +
    shrinkage * m) / (n_l + shrinkage)``, ``n_l`` the texts carrying it. A
    label no validation text carries gets the mean.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.augmentation._label_sets import label_errors
    >>> proba = np.array([[0.9, 0.2], [0.7, 0.4]])
    >>> label_errors(proba, np.array([[1, 1], [1, 0]]), shrinkage=0).round(2).tolist()
    [0.2, 0.8]
    """
    Y_val = np.asarray(Y_val)
    support = Y_val.sum(axis=0).astype(float)
    missed = ((1.0 - proba) * Y_val).sum(axis=0)
    raw = np.divide(missed, support, out=np.zeros_like(support), where=support > 0)
    mean = raw[support > 0].mean() if (support > 0).any() else 1.0
    return (support * raw + shrinkage * mean) / (support + shrinkage)


def label_set_mask(Y, fraction, rng):
    """Mark ``round(fraction * n)`` random rows for validation, keeping at
    least one training row of each label the seed carries.

    When that marks nothing (a seed of a few rows), one row whose labels all
    have another row is marked instead, as for single labels.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.augmentation._label_sets import label_set_mask
    >>> Y = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [1, 0]])
    >>> mask = label_set_mask(Y, 0.4, np.random.default_rng(0))
    >>> int(mask.sum()), bool(Y[~mask].sum(axis=0).all())
    (2, True)
    """
    Y = np.asarray(Y)
    order = rng.permutation(len(Y))
    mask = np.zeros(len(Y), dtype=bool)
    mask[order[:int(round(fraction * len(Y)))]] = True
    for j in np.flatnonzero(Y.sum(axis=0) > 0):
        if not Y[~mask, j].any():  # give the label a training row back
            mask[np.flatnonzero(mask & (Y[:, j] == 1))[0]] = False
    if not mask.any():
        spare = Y.sum(axis=0) >= 2
        for row in order:
            if spare[Y[row] == 1].all():
                mask[row] = True
                break
    return mask


def per_label_summary(report, asked, kept, classes):
    """``label -> {precision, recall, f1, support, asked, kept}``: a chosen
    student's validation scores and the texts asked for and kept carrying
    each label over the fit."""
    summary = {}
    for label in np.asarray(classes).tolist():
        row = (report or {}).get(str(label), {})
        summary[label] = {
            "precision": row.get("precision"), "recall": row.get("recall"),
            "f1": row.get("f1-score"), "support": row.get("support"),
            "asked": int(asked.get(label, 0)), "kept": int(kept.get(label, 0)),
        }
    return summary

