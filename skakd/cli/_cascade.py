"""A cascade of teachers on the command line, and a person at its end.

``--teacher local,anthropic`` names the stages of a
:class:`~skakd.teachers.TeacherCascade`, cheapest first: each labels what
the stages before it were not sure of (``--min-confidence``), the last one's
answers are final. The options of one teacher become per-stage lists:
``--model`` and ``--base-url`` take one entry per stage separated by commas
(empty for a stage's default; a single value goes to the one stage that
takes it), ``--price`` one ``IN,OUT`` pair per ``openai`` stage.

Every stage before the last is asked how sure it is: ``openai`` and
``local`` by the server's token log-probabilities (free), ``anthropic`` by a
confidence stated with each label (paid: about 8 more output tokens per
item). ``--review-out FILE`` puts a person last
(:class:`~skakd.teachers.HumanReview`): what no teacher was sure of is
written to FILE and waits there, unlabelled, until a person fills in its
label; ``--review-in FILE`` takes the labels a person filled in first, so
that no teacher is asked about those texts.
"""

from dataclasses import dataclass
from pathlib import Path

from ._io import InputError, check_output, is_jsonl
from ._options import default_model, generates
from ._registry import LLM_TEACHERS, check_teacher, teacher_kinds

__all__ = [
    "HUMAN",
    "REVIEWED",
    "Stage",
    "build_cascade",
    "check_stages",
    "confidence_note",
    "is_cascade",
    "plan_stages",
    "stage_names",
    "thresholds",
]

DEFAULT_MIN_CONFIDENCE = 0.9
#: The names of the person's stages: last (--review-out), first (--review-in).
HUMAN, REVIEWED = "human", "review-in"
#: How a stage before the last says how sure it is, per kind of teacher.
CONFIDENCE = {"openai": "logprobs", "local": "logprobs", "anthropic": "verbalized"}
CONFIDENCE_COST = {
    "logprobs": "token log-probabilities (free; a server that returns none "
                "sends every item on)",
    "verbalized": "a confidence stated with each label (paid: about 8 more "
                  "output tokens per item)",
    None: "its own TeacherResult.confidence (none sends every item on)",
}


@dataclass
class Stage:
    """One teacher of ``--teacher`` with its own options."""

    kind: str
    model: str | None = None
    base_url: str | None = None
    price: tuple | None = None
    confidence: str | None = None  # asked of it, as a stage before the last
    decides: bool = False  # a stage before the last: its sure labels are final
    name: str = ""


def is_cascade(args):
    """Whether ``args`` make a cascade: several teachers, or a person too."""
    if getattr(args, "teacher", None) is None:  # not parsed yet, or no run
        return False
    return (len(teacher_kinds(args.teacher)) > 1
            or getattr(args, "review_out", None) is not None
            or getattr(args, "review_in", None) is not None)


def plan_stages(args):
    """The teacher stages of ``args``, cheapest first (the person's are not
    among them), each with its own model, server, price and confidence."""
    kinds = teacher_kinds(args.teacher)
    if len(kinds) == 1:
        models, urls, prices = [args.model], [args.base_url], [args.price]
    else:
        models = _per_stage(args.model, kinds, "--model", tuple(LLM_TEACHERS))
        urls = _per_stage(args.base_url, kinds, "--base-url", ("openai",))
        prices = _prices(args.price, kinds)
    cascade = is_cascade(args)
    n_deciding = len(kinds) - (getattr(args, "review_out", None) is None)
    stages = []
    for i, kind in enumerate(kinds):
        decides = cascade and i < n_deciding
        stages.append(Stage(kind, models[i], urls[i], prices[i],
                            CONFIDENCE.get(kind) if decides else None, decides))
    for stage, name in zip(stages, _unique([_name(s) for s in stages])):
        stage.name = name
    return stages


def stage_names(args):
    """Every stage's name, in order, the person's included: the names a run's
    ``label_teacher_`` and ``history_`` (``n_stage_<i>``) use."""
    names = [stage.name for stage in plan_stages(args)]
    if getattr(args, "review_in", None) is not None:
        names.insert(0, REVIEWED)
    if getattr(args, "review_out", None) is not None:
        names.append(HUMAN)
    return _unique(names)


def check_stages(args):
    """Check every stage (names, extras, models, prices) and what a cascade
    needs, before any file is read; return the stages."""
    stages = plan_stages(args)
    for stage in stages:
        check_teacher(stage.kind, model=stage.model, base_url=stage.base_url,
                      price=stage.price)
    if not is_cascade(args):
        if args.min_confidence is not None:
            raise InputError(
                "--min-confidence is for a cascade: several teachers "
                "(--teacher local,anthropic) or a person last (--review-out)."
            )
        if args.price is not None and len(args.price) != 2:
            raise InputError(f"--price takes one IN,OUT pair for one teacher; got "
                             f"{len(args.price) // 2} pairs.")
        return stages
    for stage in stages:
        if stage.kind == "oracle" and stage.decides:
            raise InputError(
                f"--teacher {args.teacher}: the oracle answers from the pool's "
                "labels and is always right; it can only be the last stage."
            )
    if generates(args):
        raise InputError(
            f"--sampler {args.sampler} has one teacher write texts; a cascade "
            "(--teacher A,B, --review-out, --review-in) labels pool texts: "
            "use mraru, random or uncertainty."
        )
    if getattr(args, "multi_label", False):
        raise InputError(
            "--multi-label: a teacher states no confidence for a label set, so "
            "a cascade cannot decide; use one teacher."
        )
    review_out = getattr(args, "review_out", None)
    if review_out is not None:
        check_output(review_out, "review.csv", "--review-out")
    review_in = getattr(args, "review_in", None)
    if review_in is not None and not Path(review_in).is_file():
        raise InputError(f"--review-in {review_in}: no such file; expected a "
                         "review file a person filled in (text,label).")
    thresholds(args)
    return stages


def thresholds(args):
    """The cascade's ``min_confidence``: one per stage but the last (a
    ``--review-in`` stage's labels, a person's, are always final)."""
    n = sum(stage.decides for stage in plan_stages(args))
    given = ([float(v) for v in args.min_confidence.split(",")]
             if args.min_confidence is not None else [DEFAULT_MIN_CONFIDENCE])
    if n == 0 and args.min_confidence is not None:
        raise InputError(
            f"--min-confidence {args.min_confidence}: the cascade has no stage "
            "before the last to apply it to (the --review-in labels are final)."
        )
    if len(given) == 1:
        given = given * n
    if len(given) != n:
        raise InputError(
            f"--min-confidence {args.min_confidence}: expected one threshold, "
            f"or one per stage but the last ({n}: "
            f"{', '.join(s.name for s in plan_stages(args) if s.decides)})."
        )
    first = [1.0] if getattr(args, "review_in", None) is not None else []
    return first + given


def build_cascade(args, teachers):
    """The :class:`~skakd.teachers.TeacherCascade` of ``teachers`` (one per
    stage of :func:`plan_stages`), with the person's stages."""
    from ..teachers import HumanReview, TeacherCascade

    names = stage_names(args)
    stages = list(teachers)
    review_in = getattr(args, "review_in", None)
    review_out = getattr(args, "review_out", None)
    if review_in is not None:
        stages.insert(0, ReviewedLabels(review_in))
    if review_out is not None:
        stages.append(HumanReview(review_out, file_format=review_format(review_out)))
    return TeacherCascade(list(zip(names, stages)),
                          min_confidence=thresholds(args))


def review_format(path):
    """``"jsonl"`` for a JSON Lines review file, else ``"csv"``."""
    return "jsonl" if is_jsonl(path) or Path(path).suffix == ".json" else "csv"


def confidence_note(args):
    """One line: the stages, and what asking each for its confidence costs."""
    deciding = [stage for stage in plan_stages(args) if stage.decides]
    limits = thresholds(args)
    limits = limits[len(limits) - len(deciding):]  # not --review-in's
    line = f"skakd distill: cascade {' -> '.join(stage_names(args))}"
    if deciding:
        line += "; confidence of " + "; of ".join(
            f"{stage.name} from {CONFIDENCE_COST[stage.confidence]}, final at "
            f">= {limit:g}" for stage, limit in zip(deciding, limits))
        line += "; a label below goes on to the next stage"
    return line + "."


class ReviewedLabels:
    """The labels a person filled in a review file (``--review-in``), as a
    cascade's first stage: those texts are never sent to a teacher; the
    others go on unlabelled. Reads the file, writes nothing, costs nothing."""

    cost_per_item = 0.0

    def __init__(self, path):
        from ..teachers import HumanReview

        self.review = HumanReview(path, file_format=review_format(path))

    def label(self, items, classes):
        from ..teachers import UNLABELED, TeacherResult

        known = self.review.reviewed(classes)
        labels = [known.get(text, UNLABELED) for text in items]
        found = [label is not UNLABELED for label in labels]
        return TeacherResult(labels=labels,
                             confidence=[1.0 if f else None for f in found],
                             sources=[HUMAN if f else None for f in found])


def _name(stage):
    """A stage's name: its model for an LLM (the GGUF file's stem for a local
    one), else its kind."""
    if stage.kind == "local":
        return Path(stage.model).stem if stage.model else "local"
    if stage.kind in LLM_TEACHERS:
        return stage.model or default_model(stage.kind)
    return stage.kind


def _unique(names):
    """Names made unique as :class:`~skakd.teachers.TeacherCascade` does."""
    seen, unique = {}, []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return unique


def _per_stage(value, kinds, option, takes):
    """``value`` split into one entry per stage (``None`` where empty)."""
    if value is None:
        return [None] * len(kinds)
    parts = [part.strip() or None for part in value.split(",")]
    takers = [i for i, kind in enumerate(kinds) if kind in takes]
    if len(parts) == 1 and len(takers) == 1:
        entries = [None] * len(kinds)
        entries[takers[0]] = parts[0]
        return entries
    if len(parts) != len(kinds):
        raise InputError(
            f"{option} {value!r}: expected one entry per stage of --teacher "
            f"{','.join(kinds)} ({len(kinds)}), separated by commas, empty for "
            f"a stage's default (e.g. {option} {','.join([''] * (len(kinds) - 1))}"
            "NAME)."
        )
    for i, part in enumerate(parts):
        if part is not None and kinds[i] not in takes:
            raise InputError(
                f"{option} {value!r}: stage {i + 1} ({kinds[i]}) takes no "
                f"{option.lstrip('-')}; leave its entry empty."
            )
    return parts


def _prices(price, kinds):
    """``--price``'s pairs, one per ``openai`` stage (``None`` elsewhere)."""
    if price is None:
        return [None] * len(kinds)
    openai = [i for i, kind in enumerate(kinds) if kind == "openai"]
    pairs = [tuple(price[i:i + 2]) for i in range(0, len(price), 2)]
    if len(pairs) != len(openai):
        raise InputError(
            f"--price: expected one IN,OUT pair per openai stage of --teacher "
            f"{','.join(kinds)} ({len(openai)}), got {len(pairs)}."
        )
    entries = [None] * len(kinds)
    for i, pair in zip(openai, pairs):
        entries[i] = pair
    return entries
