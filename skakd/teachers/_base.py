"""The teacher protocol: what the distillation loop asks of a teacher."""

import inspect
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["UNLABELED", "BaseTeacher", "TeacherResult"]

#: Sentinel a teacher puts in :attr:`TeacherResult.labels` for an item it could
#: not label. Such items are counted and never turned into training labels.
UNLABELED = None


@dataclass
class TeacherResult:
    """What a teacher returns for one call to ``label``.

    Parameters
    ----------
    labels : list
        One label per item, each one of the requested ``classes`` or
        :data:`UNLABELED` (``None``) where the teacher could not label it.
    confidence : list of float or None, default=None
        How sure the teacher is of each label, in ``[0, 1]`` (``None`` for
        the whole result, or for an item, where it is unknown): the
        probability of the chosen label from token log-probabilities, a
        confidence the model states, or a simulated one (see the teachers'
        ``confidence`` parameter).
    input_tokens, output_tokens : int, default=0
        Token usage of the calls behind this result.
    cost : float, default=0.0
        Money paid for this result, in USD.
    latency : float, default=0.0
        Wall-clock seconds spent waiting for the teacher.
    n_cached : int, default=0
        How many items were answered from a cache (and cost nothing).
    info : dict
        Free-form extra information (e.g. retries), copied into ``history_``.
    reasons : list of str or None, default=None
        Why each item could not be labelled (``None`` where it was), one of
        :data:`skakd.reasons.UNLABELED_REASONS` (``"refusal"``,
        ``"unknown_label"``, ``"too_long"``...): counted per reason in
        ``history_``.
    sources : list of str or None, default=None
        Who gave each label (``None`` for an unlabelled item), for a teacher
        made of several, such as :class:`~skakd.teachers.TeacherCascade`
        (its stages' names) or :class:`~skakd.teachers.HumanReview`
        (``"human"``); ``None`` for a teacher that is one source.

    Notes
    -----
    A teacher that fails after paying for some answers attaches what it
    paid as a :class:`TeacherResult` to the exception, as
    ``exc.teacher_result``: the classifier adds it to ``teacher_cost_`` and
    ``history_`` before the error goes on, so that no paid token goes
    uncounted.

    Examples
    --------
    >>> from skakd.teachers import TeacherResult
    >>> TeacherResult(labels=["spam", None], cost=0.002).n_unlabeled
    1
    """

    labels: list
    confidence: list | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency: float = 0.0
    n_cached: int = 0
    info: dict = field(default_factory=dict)
    reasons: list | None = None
    sources: list | None = None

    @property
    def n_unlabeled(self):
        """Number of items the teacher could not label."""
        return sum(label is UNLABELED for label in self.labels)


class BaseTeacher(BaseEstimator):
    """Base class for teachers.

    A teacher implements ``label(items, classes) -> TeacherResult`` and, for
    generative strategies such as :class:`skakd.augmentation.PGKD`,
    ``generate(request) -> list of (text, label)``. Any object with these
    methods works as a teacher. Inheriting from this class adds a
    scikit-learn style ``repr``/``get_params``, :meth:`__call__`, and makes
    ``sklearn.base.clone`` share the teacher instead of copying it: a teacher
    is a service (a client, a cache, a budget) that every clone of a
    classifier, every CV fold and every grid point should talk to, not a
    model to re-create.
    """

    def __sklearn_clone__(self):
        return self

    def label(self, items, classes):  # pragma: no cover - interface
        raise NotImplementedError

    def generate(self, request):
        raise NotImplementedError(
            f"{type(self).__name__} cannot generate training texts; use a "
            "teacher with a generate(request) method (e.g. AnthropicTeacher) "
            "for generative strategies such as PGKD."
        )

    def __call__(self, items, classes=None):
        return self.label(items, classes).labels


def check_teacher_labels(labels, n_items, teacher_name):
    """Validate the shape of a teacher's answer and return it as a list.

    Raises a ``TypeError``/``ValueError`` that names the teacher, what it
    returned and what was expected.
    """
    if labels is None:
        raise TypeError(
            f"teacher {teacher_name} returned None; expected a sequence of "
            f"{n_items} labels, one per item."
        )
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(
            f"teacher {teacher_name} returned {type(labels).__name__!s}; expected "
            f"a sequence of {n_items} labels, one per item."
        )
    labels = labels.tolist() if isinstance(labels, np.ndarray) else list(labels)
    if len(labels) != n_items:
        raise ValueError(
            f"teacher {teacher_name} returned {len(labels)} labels for "
            f"{n_items} items; expected exactly one label per item."
        )
    return labels


def check_multi_label_teacher(teacher, teacher_name):
    """Refuse, before anything is paid, a teacher whose ``label`` cannot be
    asked for label sets (``label(items, classes, multi_label=True)``).

    Examples
    --------
    >>> from skakd.teachers import OracleTeacher, check_multi_label_teacher
    >>> check_multi_label_teacher(OracleTeacher({"a": ["x"]}), "oracle")
    """
    label = getattr(teacher, "label", None)
    if label is None:
        return
    try:
        inspect.signature(label).bind([], [], multi_label=True)
    except TypeError:
        raise TypeError(
            f"teacher {teacher_name} cannot answer label sets: its "
            "label(items, classes) takes no multi_label argument. Multi-label "
            "targets need label(items, classes, multi_label=False) returning "
            "a collection of labels per item when multi_label is true (or "
            "pass a function items -> label lists as teacher)."
        ) from None
    except ValueError:  # no signature to read (a builtin): let it answer
        return
