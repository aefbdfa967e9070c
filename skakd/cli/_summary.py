"""What a run did, in the command line's words, and the files that show it.

:class:`Summary` says why the loop stopped, how much of the budget it used
and why not all, and what the strategy held out; :func:`write_outputs`
writes the model, ``labels.csv``, ``history.json`` and the plot;
:func:`report` prints the summary.
"""

import json
import math
import sys
import warnings
from collections import Counter

import joblib
import numpy as np

from .. import reasons
from .._multilabel import label_sets
from ._cascade import is_cascade, stage_names
from ._dry_run import N_PROMPTS
from ._io import RowWriter
from ._run_files import OUTPUTS

__all__ = ["VALIDATION_KEY", "Summary", "describe", "failure", "report",
           "report_dry_run", "write_outputs"]

VALIDATION_KEY = "accuracy"

# Why the loop stopped, when no budget option names it.
STOPPED = {
    reasons.POOL_EXHAUSTED: "the pool is used up (every pool text went to the teacher)",
    reasons.CONVERGED: "the student stopped learning (--stop auto)",
    reasons.LABELS_REJECTED: (
        "every answer of the last round was outside the classes: name the "
        "teacher's labels with --classes, or make it answer from the classes"),
}
# Why the label budget was not all used, when the reason says it alone.
SHORT_BECAUSE = {
    reasons.POOL_EXHAUSTED: "the pool ran out first",
    reasons.INTERRUPTED: "the run was interrupted",
    reasons.CONVERGED: "the student stopped learning first (--stop auto)",
    reasons.LABELS_REJECTED: "the teacher's answers were all outside the classes",
}


class Summary:
    """What a run did, in the command line's words: why it stopped, how much
    of the budget it used and why not all, and the strategy's validation split.

    A strategy that holds seed texts out for validation (PGKD) says so in
    its ``summary_`` (``validation_size``, ``validation_indices``); when it
    refits the student with them at the end, they are the last ``"seed"``
    rows of ``labeled_X_``. ``labels.csv`` marks those rows ``validation``,
    and writes them out even when they never went back.
    """

    def __init__(self, clf, args, inputs):
        self.clf, self.args = clf, args
        self.pool_rows = inputs.pool_rows
        self.n_seed = len(inputs.seed_texts)
        self.n_used = int(sum(record.get("n_queried", 0) for record in clf.history_))
        self.sources = np.asarray(clf.label_source_, dtype=object).copy()
        self.extra_validation = []  # (text, label) rows not in labeled_X_
        sampler = getattr(clf, "sampler_", None)
        self.strategy = type(sampler).__name__
        self.strategy_summary = getattr(sampler, "summary_", {})
        self.n_validation = int(self.strategy_summary.get("validation_size", 0))
        self.validation_refit = False
        self.stages = stage_names(args) if is_cascade(args) else None
        if self.n_validation and self.n_seed:  # a cold start's are "generated"
            self._find_validation(inputs)

    def _find_validation(self, inputs):
        """Mark the strategy's validation rows (``validation_indices`` of the
        seed): the last rows of ``labeled_X_`` if the final refit added them
        back, else extra rows for ``labels.csv``."""
        held_out = self.strategy_summary["validation_indices"]
        split = _pairs(inputs.seed_texts[held_out], inputs.seed_labels[held_out])
        tail = np.arange(max(len(self.sources) - len(held_out), 0), len(self.sources))
        y_tail = self.clf.labeled_y_[tail]
        if np.ndim(y_tail) == 2:  # indicator rows, as the seed's label sets
            y_tail = [tuple(self.clf.classes_[row.astype(bool)]) for row in y_tail]
        added_back = _pairs(self.clf.labeled_X_[tail], y_tail)
        if (self.sources[tail] == "seed").all() and added_back == split:
            self.sources[tail] = "validation"
            self.validation_refit = True
        else:
            self.extra_validation = split

    # -- sentences of the report --

    def stop_reason(self):
        """Why the loop stopped, naming the budget that stopped it."""
        clf, args = self.clf, self.args
        reason = clf.termination_condition_
        reached = []
        if args.budget_labels is not None and self.n_used >= args.budget_labels:
            reached.append(f"--budget-labels {args.budget_labels}")
        if reason == reasons.MAX_COST:
            reached.append(f"--budget-usd {args.budget_usd:g}")
        if args.max_rounds is not None and clf.n_iter_ >= args.max_rounds:
            reached.append(f"--max-rounds {args.max_rounds}")
        if reason == reasons.INTERRUPTED:
            return "interrupted (Ctrl-C)"
        if reached:
            return " and ".join(reached) + " reached"
        if reason == reasons.MAX_ITER:  # the round bound of --budget-labels
            return (f"--budget-labels {args.budget_labels} at --batch-size "
                    f"{args.batch_size} allows {clf.n_iter_} rounds")
        if reason == reasons.EARLY_STOPPING:
            return self._early_stop()
        return STOPPED.get(reason, reason)

    def _early_stop(self):
        why = self.strategy_summary.get("early_stopping")
        if why is not None:
            return f"{self.strategy} stopped early: {why}"
        return "a callback stopped the run early"

    def cold_start(self):
        """How many teacher labels the cold start took (a run without a seed)."""
        first = self.clf.history_[0]
        if "n_cold_labels" not in first:
            return None
        rounds = first["n_cold_rounds"]
        return (f"cold start: {first['n_cold_labels']} teacher labels in {rounds} "
                f"round{'' if rounds == 1 else 's'} before the first student "
                "(no seed)")

    def paid_twice(self):
        """How many items this run paid for again: requests in flight when an
        earlier run was killed (their answers never reached the cache)."""
        n = sum(record.get("n_paid_twice", 0) for record in self.clf.history_)
        if not n:
            return None
        return (f"paid twice: {n} item{'' if n == 1 else 's'} whose requests were "
                "in flight when an earlier run was killed (--batch-api keeps "
                "even those: a batch is recorded before it is waited for)")

    def budget_use(self):
        """How much of the label budget was used, and why not all of it."""
        args = self.args
        if args.budget_labels is None:
            return None
        used = (f"--budget-labels: {self.n_used} of {args.budget_labels} labels "
                "used")
        if self.n_used >= args.budget_labels:
            return used
        return f"{used}: {self._shortfall()}"

    def _shortfall(self):
        args, clf = self.args, self.clf
        reason = clf.termination_condition_
        if reason in SHORT_BECAUSE:
            return SHORT_BECAUSE[reason]
        if reason == reasons.MAX_COST:
            return f"--budget-usd {args.budget_usd:g} was reached first"
        if reason == reasons.EARLY_STOPPING:
            return self._early_stop()
        if args.max_rounds is not None and clf.n_iter_ >= args.max_rounds:
            return f"--max-rounds {args.max_rounds} was reached first"
        if "n_generated" in self.strategy_summary:
            return self._screening()
        return reason

    def _screening(self):
        """What the strategy's screening of written texts dropped."""
        n_generated = self.strategy_summary["n_generated"]
        rejected = {reason: count
                    for reason, count in self.strategy_summary["n_rejected"].items()
                    if count}
        asked = self.clf.n_iter_ * self.args.batch_size
        if rejected:
            details = ", ".join(
                f"{reasons.REJECTION_DESCRIPTIONS.get(reason, reason)}: {count}"
                for reason, count in rejected.items())
            return (f"{self.strategy} keeps only the texts that pass its screening, "
                    f"and it dropped {sum(rejected.values())} of the {n_generated} "
                    f"texts the teacher wrote ({details})")
        return (f"the teacher wrote {n_generated} texts where "
                f"{asked} were asked for")

    def by_stage(self):
        """What each stage of a cascade labelled and cost, and how many texts
        went on past the first."""
        if self.stages is None:
            return None
        totals = _totals(self.clf.history_)
        parts = [f"{name} {totals.get(f'n_stage_{s}', 0)} "
                 f"(${totals.get(f'cost_stage_{s}', 0.0):.4f})"
                 for s, name in enumerate(self.stages)]
        asked = totals.get("n_asked_stage_0", 0)
        return (f"labels by stage: {', '.join(parts)}; "
                f"{totals.get('n_escalated', 0)} of the {asked} texts "
                f"{self.stages[0]} was asked about went on past it")

    def awaiting_review(self):
        """How many texts wait for a person in ``--review-out``, and what to
        do about them."""
        review = getattr(self.args, "review_out", None)
        if review is None:
            return None
        n = _totals(self.clf.history_).get(
            f"n_unlabeled_{reasons.AWAITING_REVIEW}", 0)
        if not n:
            return f"awaiting review: none (no text is waiting in {review})"
        return (f"awaiting review: {n} text{'' if n == 1 else 's'} no teacher "
                f"was sure of, unlabelled, in {review}: fill in their label "
                "and run again with --resume (or pass the file as --review-in "
                "to a new run); no teacher is paid for them again")

    def validation(self, labels_path):
        """The strategy's validation split, and where to find it."""
        if not self.n_validation:
            return None
        trained = ("the final student was trained on them too"
                   if self.validation_refit else "the student never trained on them")
        if not self.n_seed:  # a cold start: from the first texts it wrote
            return (f"{self.strategy} held out {self.n_validation} of the first "
                    "texts the teacher wrote to score each round and steer it; "
                    f"{trained}")
        return (f"{self.strategy} held out {self.n_validation} of the {self.n_seed} "
                "seed texts to score each round and steer the teacher "
                f"(source=validation in {labels_path}); {trained}")


def _totals(history):
    """The cascade's counters (and the awaiting review), summed over rounds."""
    totals = {}
    for record in history:
        for key, value in record.items():
            if key.startswith(("n_stage_", "cost_stage_", "n_asked_stage_",
                               "n_escalated", "n_unlabeled_")):
                totals[key] = totals.get(key, 0) + (value or 0)
    return totals


def _pairs(texts, labels):
    """``(text, label)`` pairs to compare; a label set compares as a set."""
    return [(str(text), frozenset(label) if isinstance(label, (tuple, list))
             else str(label)) for text, label in zip(texts, labels)]


# -- output files --------------------------------------------------------------


def write_outputs(clf, summary, paths):
    """Write the model file, ``labels.csv``, ``history.json`` and the plot."""
    # The model file is for scoring: drop the teacher (the oracle holds the
    # whole pool, an API teacher a client) and the validation data.
    clf.set_params(teacher=None, callbacks=None)
    clf.callbacks_ = []
    joblib.dump(clf, paths["model"])
    _write_labels(clf, summary, paths["labels"])
    history = [{key: _plain(value) for key, value in record.items()}
               for record in clf.history_]
    paths["history"].write_text(
        json.dumps(history, indent=1, default=_json_default) + "\n", encoding="utf-8"
    )
    _write_plot(clf, paths["plot"])


def _write_labels(clf, summary, path):
    pool_index = clf.labeled_pool_index_
    pool_rows = summary.pool_rows
    if pool_rows is not None:  # the oracle's pool lost its validation rows
        pool_index = np.where(pool_index < 0, -1, pool_rows[pool_index])
    rows = zip(clf.labeled_X_, _written_labels(clf, summary.args), summary.sources,
               clf.label_round_, pool_index, clf.label_teacher_)
    columns = ["text", "label", "source", "round", "pool_row"]
    if summary.stages is not None:  # which stage of the cascade gave it
        columns.append("teacher")
    with RowWriter(path, columns) as out:
        out.write(
            {
                "text": text,
                "label": label,
                "source": source,
                "round": int(round_),
                "pool_row": "" if index < 0 else int(index),
                "teacher": teacher,
            }
            for text, label, source, round_, index, teacher in rows
        )
        out.write(
            {"text": text, "label": label, "source": "validation", "round": 0,
             "pool_row": ""}
            for text, label in summary.extra_validation
        )


def _write_plot(clf, path):
    try:
        from ..plotting import plot_summary
    except ImportError as exc:
        print(f"skakd: no plot written ({exc}).", file=sys.stderr)
        return
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 3.8), layout="constrained")
    plot_summary(clf.history_, figure=figure, forecast=_forecast(clf))
    figure.savefig(path, dpi=110)


# Cross-validating the student for the plot's forecast refits it about this
# many times its last fit (5 folds of 6 subset sizes, the largest near the
# whole labelled set); past the limit the plot goes without it.
_FORECAST_FITS = 10
_FORECAST_LIMIT_S = 60.0


def _forecast(clf):
    """The learning-curve forecast drawn on the plot, or ``None`` (too few
    rounds, a curve that does not fit, a student too slow to cross-validate
    in a minute, e.g. a fine-tuned BERT): a drawing aid, never an error."""
    from ..stopping import LearningCurveForecast

    measured = any(VALIDATION_KEY in r or "teacher_agreement" in r
                   for r in clf.history_)
    cost = _FORECAST_FITS * clf.history_[-1].get("fit_seconds", 0.0)
    if not measured and cost > _FORECAST_LIMIT_S:
        print(f"skakd: the plot shows no forecast: cross-validating this "
              f"student would take about {cost / 60:.0f} min.", file=sys.stderr)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small folds of a small set
            return LearningCurveForecast(random_state=0).fit(clf)
    except ValueError:
        return None


def _json_default(value):
    """Nested numpy values (e.g. in a per-class report) as plain JSON."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


def _plain(value):
    """JSON-ready version of a history value (numpy scalars become Python)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- the printed report --------------------------------------------------------


def describe(exc):
    """An exception in one line: its type and its message, blanks folded."""
    message = " ".join(str(exc).split())
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def failure(exc, clf, paths, cache):
    """The line a failed run ends with: the cause, what was written, and how
    to continue (``--resume`` pays nothing twice when a cache was kept)."""
    n_rounds = clf.n_iter_
    written = ", ".join(str(paths[key]) for key in ("model", "labels", "history")
                        if paths[key].exists())
    kept = (f"the model, labels and history of the {n_rounds} completed round"
            f"{'' if n_rounds == 1 else 's'} are written ({written})")
    again = (f"`skakd distill --out {paths['model']} --resume` continues the run; "
             f"the answers kept in {cache} are not paid for again"
             if cache is not None else
             "no cache was kept (--no-cache), so a new run pays again")
    return f"round {n_rounds + 1} failed: {describe(exc)}; {kept}; {again}."


def report_dry_run(dry, paths, args, n_sent):
    """What the dry run would have sent and cost, and where to see it (per
    paid stage of a cascade)."""
    bills = dry.bills()
    names = [dry.who(i) for i in bills]
    fakes = "a local fake" if len(bills) == 1 else "local fakes"
    lines = [f"dry run: nothing was sent to {' or '.join(names)}; {fakes} "
             f"answered with {dry.how}."]
    for name, (i, (usd, tokens, n_requests)) in zip(names, bills.items()):
        batches = ("the Message Batches price" if dry.stages[i].kind == "anthropic"
                   else "the Batch API price")
        lines.append(
            f"dry run: {name} would have been sent {n_requests} request"
            f"{'' if n_requests == 1 else 's'} ({tokens['input_tokens']:,} input, "
            f"{tokens['output_tokens']:,} output, "
            f"{tokens['cache_write_tokens']:,} cache-write and "
            f"{tokens['cache_read_tokens']:,} cache-read tokens, counted "
            f"as characters / 4) for about ${usd:.4f}"
            f"{' at ' + batches if args.batch_api else ''}.")
    first = (f"the first {min(n_sent, N_PROMPTS)} request bodies" if len(bills) == 1
             else f"the first request bodies (up to {N_PROMPTS} of each fake)")
    lines.append(
        f"dry run: {first} are in {paths['prompts']}; the model and labels "
        "come from the fake's answers (run.json says dry_run: true).")
    print("\n".join(lines))


def report(summary, paths, cache, status, seconds):
    """Print what the run did, what it wrote, and how to continue it."""
    clf = summary.clf
    last = clf.history_[-1]
    counts = Counter(summary.sources)
    parts = [f"{counts['seed'] + counts['validation']} seed"]
    if counts["teacher"]:
        parts.append(f"{counts['teacher']} labelled by the teacher")
    if counts["generated"]:
        parts.append(f"{counts['generated']} written by the teacher")
    name = "skakd distill (dry run)" if summary.args.dry_run else "skakd distill"
    lines = [
        f"{name}: {status} after {clf.n_iter_} round"
        f"{'' if clf.n_iter_ == 1 else 's'} in {seconds:.1f} s: "
        f"{summary.stop_reason()}.",
        f"labelled texts: {len(summary.sources) + len(summary.extra_validation)} "
        f"({', '.join(parts)}); teacher cost ${clf.teacher_cost_:.4f}"
        + (f"; validation accuracy {last[VALIDATION_KEY]:.3f}."
           if VALIDATION_KEY in last else "."),
    ]
    for sentence in (summary.budget_use(), summary.by_stage(),
                     summary.awaiting_review(), summary.cold_start(),
                     summary.paid_twice(), summary.validation(paths["labels"])):
        if sentence is not None:
            lines.append(sentence + ".")
    if clf.termination_condition_ == reasons.CONVERGED:
        lines.append(f"stopped: the student stopped learning "
                     f"({summary.n_used} labels).")
    print("\n".join(lines))
    written = [paths[key] for key in OUTPUTS]
    print("wrote " + ", ".join(str(p) for p in written if p.exists()))
    if status == "interrupted":
        print(
            f"interrupted: the model holds what was learned so far. Run the same "
            f"command with --resume to continue; the answers kept in {cache} "
            "are not paid for again." if cache is not None else
            "interrupted: the model holds what was learned so far (no cache was "
            "kept, so a new run pays again).",
            file=sys.stderr,
        )


def _written_labels(clf, args):
    """The labels of ``labeled_X_`` as written: label sets joined by
    ``--label-separator``."""
    if not getattr(clf.estimator_, "multilabel_", False):
        return clf.labeled_y_
    return [args.label_separator.join(map(str, labels))
            for labels in label_sets(clf.labeled_y_, clf.classes_)]
