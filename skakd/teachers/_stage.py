"""One stage of a :class:`~skakd.teachers.TeacherCascade`: asking it,
adding its bill to the cascade's, pricing it, and the answer the stages fill
item by item."""

from numbers import Integral

from .._multilabel import check_label_sets
from ._base import UNLABELED, check_teacher_labels
from ._oracle import _item_key

__all__ = ["Answer", "add_bill", "ask_stage", "default_name", "item_keys",
           "stage_cost", "sure"]

_BILL = ("input_tokens", "output_tokens", "cost")


class Answer:
    """The cascade's answer, filled item by item."""

    def __init__(self, n):
        self.labels = [UNLABELED] * n
        self.confidence = [None] * n
        self.sources = [None] * n
        self.reasons = [None] * n
        self.stage = [None] * n

    def take(self, i, found, stage, final):
        """Make ``found`` item ``i``'s answer if ``final``; whether it was."""
        if final:
            label, confidence, source, reason = found
            self.labels[i], self.confidence[i] = label, confidence
            self.sources[i], self.reasons[i] = source, reason
            self.stage[i] = stage if label is not UNLABELED else None
        return final

    def result(self, bill, n_stages, latency):
        for s in range(n_stages):
            bill.info[f"n_stage_{s}"] = sum(x == s for x in self.stage)
        bill.labels = self.labels
        bill.confidence = self.confidence
        bill.sources = self.sources
        bill.reasons = self.reasons if any(self.reasons) else None
        bill.latency = latency
        return bill


def sure(found, threshold):
    """Whether an answer ``(label, confidence, ...)`` is final at ``threshold``."""
    label, confidence = found[0], found[1]
    return (label is not UNLABELED and confidence is not None
            and threshold is not None and confidence >= threshold)


def ask_stage(teacher, items, classes, name, multi_label):
    """``teacher``'s checked answer to ``items``: one label (a tuple of
    labels when ``multi_label``) and at most one of each per-item field."""
    n = len(_rows(items))
    if multi_label:
        result = teacher.label(items, classes, multi_label=True)
        result.labels = check_label_sets(
            check_teacher_labels(result.labels, n, name), name)
    else:
        result = teacher.label(items, classes)
        result.labels = check_teacher_labels(result.labels, n, name)
    for field in ("confidence", "sources", "reasons"):
        values = getattr(result, field, None)
        if values is not None and len(values) != n:
            raise ValueError(
                f"teacher {name} returned {len(values)} {field} for {n} items; "
                "expected one per item."
            )
    return result


def add_bill(bill, result, stage):
    """Add ``result``'s bill to ``bill`` (and to stage ``stage``'s counts)."""
    for field in _BILL:
        setattr(bill, field, getattr(bill, field) + (getattr(result, field, 0) or 0))
    for key, value in (getattr(result, "info", None) or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                not key.startswith(("n_stage_", "cost_stage_", "n_asked_stage_"))):
            bill.info[key] = bill.info.get(key, 0) + value
    if stage is not None:
        bill.info[f"n_asked_stage_{stage}"] += len(result.labels)
        bill.info[f"cost_stage_{stage}"] += getattr(result, "cost", 0.0) or 0.0


def stage_cost(teacher, what, classes, name, multi_label):
    """What asking ``teacher`` about ``what`` (items, or how many) costs."""
    if hasattr(teacher, "estimate_cost"):
        if multi_label:
            return teacher.estimate_cost(what, classes, multi_label=True)
        return teacher.estimate_cost(what, classes)
    price = getattr(teacher, "cost_per_item", None)
    if price is None:
        raise TypeError(
            f"stage {name} ({type(teacher).__name__}) has neither "
            "estimate_cost(items_or_n, classes) nor cost_per_item; the cascade "
            "cannot price it."
        )
    return price * (what if isinstance(what, Integral) else len(_rows(what)))


def default_name(teacher):
    """A stage's name when none is given: its model, else its class."""
    model = getattr(teacher, "model", None)
    return model if isinstance(model, str) else type(teacher).__name__


def item_keys(items, multi_label):
    """Each item's key in the stages' memory; label sets kept apart."""
    keys = [_item_key(row) for row in _rows(items)]
    return [("label set", key) for key in keys] if multi_label else keys


def _rows(items):
    """The items one by one (for their keys), whatever their container."""
    if hasattr(items, "tocsr"):
        return [items.tocsr()[i] for i in range(items.shape[0])]
    if hasattr(items, "iloc"):  # a Series' values, a DataFrame's rows
        return (list(items) if items.ndim == 1
                else [items.iloc[i].to_numpy() for i in range(len(items))])
    return list(items)
