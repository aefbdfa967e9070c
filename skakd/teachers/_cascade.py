"""TeacherCascade: cheap teachers first, a stronger one only where they are
unsure."""

import math
import threading
import time
from collections.abc import Iterator
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._items import take
from ._base import UNLABELED, BaseTeacher, TeacherResult, check_multi_label_teacher
from ._calibration import measure_agreement
from ._callable import CallableTeacher
from ._stage import (
    Answer,
    add_bill,
    ask_stage,
    default_name,
    item_keys,
    stage_cost,
    sure,
)

__all__ = ["TeacherCascade"]

class TeacherCascade(BaseTeacher):
    """Ask the cheapest teacher first; escalate only what it is unsure of.

    Items go to the first teacher; those it answers with a confidence below
    its threshold, without a confidence, or not at all, go on to the next,
    and so on; the last teacher's answers are final (or
    :data:`~skakd.teachers.UNLABELED`). A cheap model that labels most texts
    right, and says so, thus pays for most labels, and the strong model only
    for the hard ones. The cascade is a teacher: the classifier sees one
    result per call, with one bill.

    No item is paid for twice: an item answered confidently by a stage is
    never sent to a later one, an escalated item is sent to each later
    stage once, and every stage's labelled answers are kept (in memory, and
    in the stage's own cache if it has one), so that asking again about an
    item, in this call or a later one, replays them for free. An item a
    later stage already answered (e.g. during :meth:`calibrate`) takes that
    answer at once.

    Parameters
    ----------
    teachers : list of teachers, or of (name, teacher) pairs
        The stages, cheapest first. A teacher is any object with
        ``label(items, classes) -> TeacherResult`` (or a function ``items ->
        labels``); the stages before the last must give
        ``TeacherResult.confidence`` (e.g. ``OpenAITeacher(confidence=
        "logprobs")``, ``AnthropicTeacher(confidence="verbalized")``), or
        every item they answer goes on. Unnamed stages are named after
        their ``model`` or their class.
    min_confidence : float in [0, 1] or list of floats, default=0.9
        The confidence a stage's answer needs to be final: one threshold
        for every stage but the last, or one per such stage.
        :meth:`calibrate` measures thresholds instead (``thresholds_``).
    escalation_share : float in [0, 1] or None, default=None
        The share of items each stage is assumed to pass on, for
        :meth:`estimate_cost`. ``None`` uses the share measured by this
        cascade so far (:attr:`escalation_shares_`), and 1 (every item
        reaches every stage: an upper bound) for a stage that has decided
        about no item yet.

    Attributes
    ----------
    thresholds_ : list of float
        Thresholds measured by :meth:`calibrate`, one per stage but the
        last; used instead of ``min_confidence`` once set.
    calibration_ : list of dict
        What :meth:`calibrate` measured, one dict per stage but the last.
    escalation_shares_ : list of float or None
        Per stage but the last, the share of the items it decided about
        that it passed on (``None`` before any).

    See Also
    --------
    HumanReview : A person as the last stage.

    Notes
    -----
    ``label`` returns a :class:`TeacherResult` whose ``cost`` and tokens
    are the sums over the stages, ``n_cached`` counts the final answers
    that cost nothing (replayed by the cascade, or from the answering
    stage's cache), ``confidence`` is the answering stage's, and
    ``sources`` names the stage that gave each label (a stage's own
    ``sources``, e.g. ``"human"``, where it gives them).
    ``info``, flat and numeric as ``history_`` wants it, has for stage
    ``s`` (``teachers[s]``) ``n_stage_s`` (final labels it
    gave), ``n_asked_stage_s`` (items sent to it, not replayed),
    ``cost_stage_s``, and ``n_escalated`` (items that went past the first
    stage), ``n_replayed`` (answers kept from earlier calls) and the sums
    of the stages' numeric counters (``n_requests``...).

    Examples
    --------
    >>> from skakd.teachers import OracleTeacher, TeacherCascade
    >>> texts = [f"text {i}" for i in range(1000)]
    >>> truth = ["neg", "pos"] * 500
    >>> cheap = OracleTeacher(texts, truth, noise_rate=0.2, random_state=0,
    ...                       confidence="calibrated", cost_per_item=0.1)
    >>> strong = OracleTeacher(texts, truth, cost_per_item=1.0)
    >>> cascade = TeacherCascade([("cheap", cheap), ("strong", strong)],
    ...                          min_confidence=0.9)
    >>> result = cascade.label(texts, ["neg", "pos"])
    >>> result.info["n_stage_0"] + result.info["n_stage_1"]
    1000
    >>> round(result.cost / 1000, 2)  # per label, vs 1.0 for the strong alone
    0.5
    >>> sorted(set(result.sources))
    ['cheap', 'strong']
    """

    _parameter_constraints: dict = {
        "teachers": [list, tuple],
        "min_confidence": [Interval(Real, 0, 1, closed="both"), list, tuple],
        "escalation_share": [Interval(Real, 0, 1, closed="both"), None],
    }

    def __init__(self, teachers, min_confidence=0.9, escalation_share=None):
        self.teachers = teachers
        self.min_confidence = min_confidence
        self.escalation_share = escalation_share

    # -- labelling --------------------------------------------------------

    def label(self, items, classes, multi_label=False):
        """Label items, each by the first stage sure enough of it.

        Parameters
        ----------
        items : sequence or array-like
            What to label (texts, or rows for teachers that take rows).
        classes : sequence
            The labels to answer from.
        multi_label : bool, default=False
            Ask every stage for a label set per item (``label(items,
            classes, multi_label=True)``); a set is final where its stage's
            confidence in the whole set reaches the threshold. Answers to
            label sets are kept apart from single labels.

        Returns
        -------
        result : TeacherResult
            One label per item with its confidence and source, the bill of
            every stage, and per-stage counts in ``info`` (see Notes).
        """
        self._validate_params()
        stages = self._stages(multi_label)
        thresholds = self._thresholds(len(stages))
        start = time.perf_counter()
        items = list(items) if isinstance(items, Iterator) else items
        keys = item_keys(items, multi_label)
        answer = Answer(len(keys))
        # info stays flat and numeric: it becomes columns of history_.
        bill = TeacherResult(labels=[])
        todo = self._replay_later_answers(keys, thresholds, answer, bill)
        try:
            for s, (name, teacher) in enumerate(stages):
                last = s == len(stages) - 1
                found, replayed, cached = self._ask(s, name, teacher, items, todo,
                                                    keys, classes, bill,
                                                    multi_label)
                decided = [i for i in todo if answer.take(
                    i, found[i], s, last or sure(found[i], thresholds[s]))]
                todo = sorted(set(todo) - set(decided))
                # A stage tells how many of its answers were cached, not
                # which: at most that many of those it decided.
                fresh = sum(i not in replayed for i in decided)
                bill.n_cached += len(decided) - fresh + min(cached, fresh)
                if s == 0:
                    bill.info["n_escalated"] = len(todo)
                self._count(s, len(found), len(todo), last)
        except BaseException as exc:
            # What the stages paid before the failure still goes on the bill.
            paid = getattr(exc, "teacher_result", None)
            if paid is not None:
                add_bill(bill, paid, None)
            exc.teacher_result = bill
            raise
        return answer.result(bill, len(stages), time.perf_counter() - start)

    def _ask(self, s, name, teacher, items, todo, keys, classes, bill,
             multi_label=False):
        """Stage ``s``'s answers to the items ``todo``: replayed if known,
        each distinct item asked once.

        Returns ``({i: (label, confidence, source, reason)}, replayed
        indices, the stage's n_cached)``.
        """
        memory = self._memory()[s]
        asked = {}
        for i in todo:
            if keys[i] not in memory:
                asked.setdefault(keys[i], i)
        bill.info.setdefault(f"n_asked_stage_{s}", 0)
        bill.info.setdefault(f"cost_stage_{s}", 0.0)
        fresh, cached = {}, 0
        if asked:
            result = ask_stage(teacher, take(items, list(asked.values())), classes,
                            name, multi_label)
            add_bill(bill, result, s)
            cached = getattr(result, "n_cached", 0) or 0
            n = len(asked)
            confidence = result.confidence or [None] * n
            sources = result.sources or [name] * n
            reasons = result.reasons or [None] * n
            fresh = {k: (label, c, src if label is not UNLABELED else None, why)
                     for k, label, c, src, why in zip(asked, result.labels,
                                                      confidence, sources, reasons)}
            with self._lock():
                # Only labels are kept: an unlabelled item (e.g. one a person
                # has not reviewed yet) is asked again next time.
                memory.update({k: v for k, v in fresh.items()
                               if v[0] is not UNLABELED})
        replayed = {i for i in todo if keys[i] not in fresh}
        bill.info["n_replayed"] = bill.info.get("n_replayed", 0) + len(replayed)
        found = {i: fresh.get(keys[i]) or memory[keys[i]] for i in todo}
        return found, replayed, cached

    def _replay_later_answers(self, keys, thresholds, answer, bill):
        """Take the answers later stages already gave; the items left to do."""
        memory = self._memory()
        todo = []
        for i, key in enumerate(keys):
            for s in range(len(memory) - 1, 0, -1):
                found = memory[s].get(key)
                last = s == len(memory) - 1
                if found is not None and (last or sure(found, thresholds[s])):
                    answer.take(i, found, s, True)
                    bill.n_cached += 1
                    bill.info["n_replayed"] = bill.info.get("n_replayed", 0) + 1
                    break
            else:
                todo.append(i)
        return todo

    # -- calibration ------------------------------------------------------

    def calibrate(self, items, classes, *, target_agreement=0.9,
                  multi_label=False):
        """Measure each stage's threshold against the last stage's answers.

        Every stage (but the last) and the last one label ``items``
        (answers already known are replayed, and kept for later calls: an
        item calibrated here is never paid for again); for each stage, the
        threshold is the lowest confidence at which the answers it would
        keep agree with the last stage's at least ``target_agreement`` of
        the time, which makes it keep as many as it can at that agreement.
        A stage that reaches it at no confidence keeps nothing (threshold
        ``inf``). The bill is the last stage's price for every item:
        calibrate on a small random sample of the pool (a few hundred
        items measure an agreement to about +-2 points).

        Parameters
        ----------
        items : sequence or array-like
            Items to measure on.
        classes : sequence
            The labels to answer from.
        target_agreement : float in (0, 1], default=0.9
            The agreement with the last stage wanted of the kept answers.
        multi_label : bool, default=False
            Calibrate on label sets (agreement: the same set).

        Returns
        -------
        self : TeacherCascade
            With ``thresholds_`` and ``calibration_`` set.
        """
        self._validate_params()
        if not (isinstance(target_agreement, Real) and 0 < target_agreement <= 1):
            raise ValueError(
                f"target_agreement must be in (0, 1], got {target_agreement!r}."
            )
        stages = self._stages(multi_label)
        if len(stages) < 2:
            raise ValueError("calibrate needs a cascade of at least two teachers.")
        items = list(items) if isinstance(items, Iterator) else items
        keys = item_keys(items, multi_label)
        everything = list(range(len(keys)))
        bill = TeacherResult(labels=[])
        *first, (last_name, last_teacher) = stages
        reference = self._ask(len(stages) - 1, last_name, last_teacher, items,
                              everything, keys, classes, bill, multi_label)[0]
        thresholds, report = [], []
        for s, (name, teacher) in enumerate(first):
            found = self._ask(s, name, teacher, items, everything, keys, classes,
                              bill, multi_label)[0]
            measured = measure_agreement(
                [found[i][:2] for i in everything],
                [reference[i][0] for i in everything], target_agreement)
            thresholds.append(measured["threshold"])
            report.append({"stage": name, **measured})
        for entry in report:
            entry["cost"] = bill.cost
        self.thresholds_ = thresholds
        self.calibration_ = report
        return self

    # -- cost -------------------------------------------------------------

    def estimate_cost(self, items_or_n, classes=None, multi_label=False):
        """Estimate what labelling items through the cascade would cost, in USD.

        The first stage is priced for every item (with texts, by its own
        ``estimate_cost``, which counts what its cache already holds), each
        later stage for the share that reaches it: the product of the
        escalation shares before it (``escalation_share``, else the shares
        measured so far, else 1): given texts, that share of the price of
        asking it about all of them (their own lengths, not an average
        text's). A stage is priced by its ``estimate_cost(items_or_n,
        classes)``, else its ``cost_per_item``.

        Parameters
        ----------
        items_or_n : int or sequence
            The items, or how many.
        classes : sequence or None, default=None
            The label set.
        multi_label : bool, default=False
            Price answers of label sets.

        Returns
        -------
        cost : float
            Estimated USD.
        """
        self._validate_params()
        stages = self._stages(multi_label)
        _check_count(items_or_n)
        shares = [self.escalation_share if self.escalation_share is not None
                  else (1.0 if share is None else share)
                  for share in self.escalation_shares_]
        total, reach = 0.0, 1.0
        for s, (name, teacher) in enumerate(stages):
            if isinstance(items_or_n, Integral):
                what, scale = math.ceil(reach * items_or_n), 1.0
            else:  # priced on the texts themselves, for the share reaching it
                what, scale = items_or_n, reach
            if scale > 0:
                total += scale * stage_cost(teacher, what, classes, name,
                                            multi_label)
            reach *= shares[s] if s < len(shares) else 0.0
        return total

    def estimate_max_cost(self, items_or_n, classes=None, multi_label=False):
        """The most labelling items through the cascade can cost, in USD:
        every item asked of every stage.

        A classifier's ``max_cost`` sizes its rounds by it as well as by
        :meth:`estimate_cost`, so that a round escalating more items than
        usual cannot pass the budget.

        Parameters
        ----------
        items_or_n : int or sequence
            The items, or how many.
        classes : sequence or None, default=None
            The label set.
        multi_label : bool, default=False
            Price answers of label sets.

        Returns
        -------
        cost : float
            USD, each stage priced as in :meth:`estimate_cost`.
        """
        self._validate_params()
        _check_count(items_or_n)
        return sum(stage_cost(teacher, items_or_n, classes, name, multi_label)
                   for name, teacher in self._stages(multi_label))

    @property
    def escalation_shares_(self):
        """Per stage but the last: the share of its decided items passed on."""
        counts = self.__dict__.get("_counts", {})
        n_stages = len(self.teachers) - 1
        return [counts[s][1] / counts[s][0] if counts.get(s, (0,))[0] else None
                for s in range(n_stages)]

    # -- parts ------------------------------------------------------------

    def _stages(self, multi_label=False):
        """``[(name, teacher)]``, names unique; each can answer label sets
        when ``multi_label``."""
        if not self.teachers:
            raise ValueError("teachers is empty; expected at least one teacher.")
        stages, seen = [], {}
        for i, entry in enumerate(self.teachers):
            name, teacher = entry if isinstance(entry, tuple) else (None, entry)
            if not hasattr(teacher, "label"):
                if not callable(teacher):
                    raise TypeError(
                        f"teachers[{i}] is {type(teacher).__name__}; expected a "
                        "teacher (an object with label(items, classes)), a "
                        "function items -> labels, or a (name, teacher) pair."
                    )
                teacher = CallableTeacher(teacher)
            name = str(name) if name is not None else default_name(teacher)
            seen[name] = seen.get(name, 0) + 1
            if seen[name] > 1:
                name = f"{name}-{seen[name]}"
            if multi_label:
                check_multi_label_teacher(teacher, name)
            stages.append((name, teacher))
        return stages

    def _thresholds(self, n_stages):
        fitted = self.__dict__.get("thresholds_")
        if fitted is not None and len(fitted) == n_stages - 1:
            return list(fitted) + [None]
        given = self.min_confidence
        if isinstance(given, (list, tuple)):
            if len(given) != n_stages - 1 or not all(
                    isinstance(t, Real) and 0 <= t <= 1 for t in given):
                raise ValueError(
                    f"min_confidence={given!r}; expected one threshold in [0, 1] "
                    f"per stage but the last ({n_stages - 1})."
                )
            return [float(t) for t in given] + [None]
        return [float(given)] * (n_stages - 1) + [None]

    def _memory(self):
        """Per stage, ``{item key: (label, confidence, source, reason)}``."""
        with self._lock():
            memory = self.__dict__.setdefault("_answers", [])
            memory.extend({} for _ in range(len(self.teachers) - len(memory)))
            return memory

    def _count(self, s, n_decided, n_passed, last):
        if last:
            return
        with self._lock():
            counts = self.__dict__.setdefault("_counts", {})
            decided, passed = counts.get(s, (0, 0))
            counts[s] = (decided + n_decided, passed + n_passed)

    def _lock(self):
        # Clones of a classifier share the teacher, and may label at once.
        lock = self.__dict__.get("_mutex")
        if lock is None:
            lock = self.__dict__.setdefault("_mutex", threading.RLock())
        return lock

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_mutex", None)
        return state


def _check_count(items_or_n):
    """Refuse a negative number of items to price."""
    if isinstance(items_or_n, Integral) and items_or_n < 0:
        raise ValueError(f"items_or_n={items_or_n} must be >= 0.")
