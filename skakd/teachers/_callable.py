"""Wrap a plain function ``items -> labels`` as a teacher."""

import inspect
import time

from .._multilabel import check_label_sets
from ._base import BaseTeacher, TeacherResult, check_teacher_labels

__all__ = ["CallableTeacher"]


class CallableTeacher(BaseTeacher):
    """A teacher backed by any function that maps items to labels.

    Parameters
    ----------
    func : callable
        ``func(items) -> labels`` or ``func(items, classes) -> labels``; called
        with lists of at most ``batch_size`` items. It may return ``None`` for
        an item it cannot label. For multi-label targets it returns a
        collection of labels per item (``[]`` for none of them).
    batch_size : int or None, default=None
        Largest number of items per call; ``None`` sends everything at once.
    cost_per_item : float, default=0.0
        Price of one label in USD, so that ``max_cost`` budgets work with
        paid labelling functions too.

    Examples
    --------
    >>> from skakd.teachers import CallableTeacher
    >>> teacher = CallableTeacher(lambda items: ["long" if len(t) > 5 else "short"
    ...                                          for t in items])
    >>> teacher.label(["hi", "hello world"], classes=["long", "short"]).labels
    ['short', 'long']
    """

    def __init__(self, func, batch_size=None, cost_per_item=0.0):
        self.func = func
        self.batch_size = batch_size
        self.cost_per_item = cost_per_item

    def label(self, items, classes, multi_label=False):
        """Call ``func`` on ``items`` in batches.

        Parameters
        ----------
        items : sequence
            The items to label.
        classes : list
            The labels to answer from.
        multi_label : bool, default=False
            Whether ``func`` answers a collection of labels per item (the
            answers are then checked to be collections).

        Returns
        -------
        result : TeacherResult
        """
        if not callable(self.func):
            raise TypeError(
                f"CallableTeacher(func=...) expects a callable, got "
                f"{type(self.func).__name__}."
            )
        items = list(items)
        step = self.batch_size or max(len(items), 1)
        start = time.perf_counter()
        labels = []
        for begin in range(0, len(items), step):
            chunk = items[begin : begin + step]
            answer = self._call(chunk, classes)
            answer = check_teacher_labels(answer, len(chunk), self._name)
            labels.extend(check_label_sets(answer, self._name) if multi_label
                          else answer)
        return TeacherResult(
            labels=labels,
            cost=self.cost_per_item * len(items),
            latency=time.perf_counter() - start,
        )

    @property
    def _name(self):
        return getattr(self.func, "__name__", type(self.func).__name__)

    def _call(self, chunk, classes):
        if _accepts_two_arguments(self.func):
            return self.func(chunk, classes)
        return self.func(chunk)


def _accepts_two_arguments(func):
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None, None)
    except TypeError:
        return False
    return True
