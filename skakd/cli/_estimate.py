"""``skakd estimate-cost``: what a distillation would cost, before paying.

The number of teacher labels follows from the budgets, the batch size and
the pool (M-RARU, random and uncertainty sampling send the teacher exactly
the items they accept, never the visited ones). The price of one label comes
from the teacher: its ``estimate_cost(items, classes)`` when it has one
(priced on a random sample of the pool), else its ``cost_per_item``.
With ``--batch-api`` Claude's price is the Message Batches half price; with
``--cache`` (a run's ``<stem>.cache.sqlite``) the answers kept there are not
priced again. Nothing is sent to the teacher.

A cascade (``--teacher local,anthropic``) is priced as
:meth:`TeacherCascade.estimate_cost <skakd.teachers.TeacherCascade.estimate_cost>`
prices it, each stage by its own ``estimate_cost`` on the same sample of
the pool: the first stage for every label, each later one for the share of
texts that reaches it, ``--escalation-share`` of those asked of the stage
before (by default 1, every text reaching every stage: an upper bound; a
run's summary says the share it measured). A confidence stated by Claude
costs about 8 more output tokens per label of that stage, which the
estimate leaves out and says.

``--target-accuracy A`` forecasts the labels and dollars to accuracy ``A``
from a learning curve (:class:`~skakd.stopping.LearningCurveForecast`,
fitted to the pilot's validation scores, else its teacher agreement, else
cross-validated on its labelled set; never more labels than a point the
pilot already measured at the target): the pilot is a previous run's
model file (``--pilot MODEL``) or a short distillation run first
(``--pilot-labels N``, which does ask the teacher for N labels). A target
the curve does not reach is reported with the curve's ceiling, never a
number.
"""

import math
import warnings
from pathlib import Path

import numpy as np

from ._cascade import build_cascade, check_stages, is_cascade, plan_stages
from ._inputs import load_inputs
from ._io import InputError
from ._options import add_arguments as add_shared_arguments
from ._options import build_classifier, check_arguments, generates, pool_to_fit
from ._parser import integer, number
from ._registry import make_student, make_teacher

__all__ = ["USAGE", "add_arguments", "run"]

# How estimate-cost prices --teacher local: a model served on this machine.
LOCAL_MODEL, LOCAL_URL = "local-model", "http://127.0.0.1/v1"

USAGE = (
    "%(prog)s {--seed FILE | --classes FILE} --pool FILE --teacher NAME\n"
    "       {--budget-labels N | --budget-usd USD | --max-rounds N |\n"
    "        --target-accuracy A {--pilot MODEL | --pilot-labels N}} [options]"
)

PRICE_SAMPLE = 200


def add_arguments(parser):
    add_shared_arguments(parser)
    parser.add_argument("--cache", metavar="FILE", help="the teacher cache of "
                        "a run (<out stem>.cache.sqlite): answers kept there "
                        "cost nothing (--teacher anthropic)")
    target = parser.add_argument_group(
        "target accuracy (a forecast from a pilot's learning curve)")
    target.add_argument("--target-accuracy", metavar="A",
                        type=number(0, 1, include_minimum=False),
                        help="forecast the labels and USD to this accuracy; "
                        "needs --pilot or --pilot-labels (then no budget is "
                        "required)")
    pilot = target.add_mutually_exclusive_group()
    pilot.add_argument("--pilot", metavar="MODEL", help="a previous run's "
                       "model file (skakd distill --out) to forecast from")
    pilot.add_argument("--pilot-labels", type=integer(1), metavar="N",
                       help="run a pilot distillation of N teacher labels "
                       "first (the teacher is asked, and paid, for them)")
    parser.add_argument("--escalation-share", type=number(0, 1), metavar="SHARE",
                        help="a cascade: the share of the texts a stage is "
                        "asked about that go on to the next (default: 1, an "
                        "upper bound; a run's summary says the share it "
                        "measured)")


def run(args):
    """Run ``skakd estimate-cost``; return the process exit status."""
    target = args.target_accuracy
    piloted = args.pilot is not None or args.pilot_labels is not None
    if target is not None and not piloted:
        raise InputError(
            "--target-accuracy needs a pilot to forecast from: --pilot MODEL "
            "(a previous run's model file) or --pilot-labels N (a short "
            "distillation first)."
        )
    if target is None and piloted:
        raise InputError(
            f"{'--pilot' if args.pilot is not None else '--pilot-labels'} is "
            "for --target-accuracy A; give the accuracy to forecast."
        )
    check_arguments(args, "estimate-cost", need_budget=target is None)
    if args.pool is None:
        raise InputError("estimate-cost needs --pool: the texts to price.")
    if args.escalation_share is not None and not is_cascade(args):
        raise InputError("--escalation-share is for a cascade (--teacher A,B).")
    check_stages(args)
    inputs = load_inputs(args)
    n_pool = len(inputs.pool_texts)
    cold = len(inputs.seed_texts) == 0
    first_round = max(args.batch_size, len(inputs.classes)) if cold else args.batch_size
    n_labels, limit = _n_labels(args, n_pool, first_round)
    teacher = _teacher(args, inputs)
    if is_cascade(args):
        per_item, how = _price_cascade(args, teacher, inputs)
    else:
        per_item, how = _price_per_item(teacher, inputs,
                                        getattr(args, "multi_label", False))
    if target is not None:
        return _forecast(args, inputs, teacher, per_item, how)
    rounds = math.ceil(n_labels / args.batch_size)
    if not is_cascade(args):  # a cascade's stages were said with their prices
        print(f"teacher: {args.teacher}"
              + (f" ({args.model})" if args.model else ""))
    print(f"pool: {n_pool} texts; seed: {len(inputs.seed_texts)} labelled texts, "
          f"{len(inputs.classes)} classes")
    print(f"labels to buy: {n_labels} in {rounds} rounds of {args.batch_size} "
          f"(limited by {limit})")
    if cold:
        print(f"cold start: no seed; the first round asks about {first_round} "
              "texts chosen without a student, and more rounds follow until "
              "two classes are labelled (counted in the labels above)")
    if per_item is None:
        print(f"cost: unknown ({how})")
        return 0
    total = per_item * n_labels
    print(f"cost per label: ${per_item:.6f} ({how})")
    print(f"estimated cost: ${total:.4f}")
    if generates(args):
        print("note: PGKD has the teacher write texts; they are priced here as "
              "labels of pool-sized texts, and the prompt (report, examples) "
              "adds input tokens each round.")
    if args.budget_usd is not None and total > args.budget_usd:
        affordable = int(args.budget_usd / per_item) if per_item > 0 else n_labels
        print(f"--budget-usd {args.budget_usd} stops the run after about "
              f"{affordable} labels.")
    return 0


def _teacher(args, inputs):
    """The teacher to price: one, or a cascade of the stages (priced with
    ``--escalation-share``)."""
    teachers = [make_teacher(stage.kind, pool_texts=inputs.pool_texts,
                             pool_labels=inputs.pool_labels,
                             class_descriptions=inputs.class_descriptions,
                             examples=inputs.class_examples,
                             **_llm_options(args, stage))
                for stage in plan_stages(args)]
    if not is_cascade(args):
        return teachers[0]
    cascade = build_cascade(args, teachers)
    return cascade.set_params(escalation_share=(
        1.0 if args.escalation_share is None else args.escalation_share))


def _llm_options(args, stage):
    """What make_teacher needs of a stage's options; a local model is
    priced, not served (it costs nothing)."""
    options = dict(model=stage.model, cache=_cache(args), batch_api=args.batch_api,
                   base_url=stage.base_url, price=stage.price,
                   confidence=stage.confidence)
    if stage.kind == "local":
        options.update(model=LOCAL_MODEL, base_url=LOCAL_URL, cache=None,
                       batch_api=False)
    return options


def _price_cascade(args, cascade, inputs):
    """USD per label through the cascade, and how it was found; says the
    stages, each one's price and the escalation assumed."""
    stages = cascade.get_params()["teachers"]
    sample = _sample(inputs)
    prices = [_stage_price(name, teacher, sample, inputs.classes)
              for name, teacher in stages]
    share = cascade.escalation_share
    print(f"teacher: cascade {' -> '.join(name for name, _ in stages)}")
    print("cost per label by stage: " + ", ".join(
        f"{name} " + ("unknown" if price is None else f"${price:.6f}")
        for (name, _), price in zip(stages, prices)))
    print(f"assumed: {share:.0%} of the texts a stage is asked about go on to "
          f"the next (--escalation-share {share:g}"
          f"{', an upper bound' if share == 1 else ''}; a run's summary says "
          "the share it measured)")
    for stage in plan_stages(args):
        if stage.confidence == "verbalized":
            print(f"note: {stage.name} states a confidence with each label: "
                  "about 8 more output tokens per label it is asked for, not "
                  "in this estimate")
    unknown = [name for (name, _), price in zip(stages, prices) if price is None]
    if unknown:
        return None, f"{', '.join(unknown)} says nothing about its price"
    # Stage s is asked about share**s of the texts.
    per_item = sum(price * share ** s for s, price in enumerate(prices))
    return per_item, (f"the stages' prices on {len(sample)} pool texts at that "
                      "escalation")


def _stage_price(name, teacher, sample, classes):
    """USD per label of one stage: its ``estimate_cost`` on ``sample``, else
    its ``cost_per_item``, else ``None``."""
    if hasattr(teacher, "estimate_cost"):
        return float(teacher.estimate_cost(sample, classes)) / len(sample)
    if hasattr(teacher, "cost_per_item"):
        return float(teacher.cost_per_item)
    return None


def _sample(inputs):
    """The pool texts an estimate is priced on: a random :data:`PRICE_SAMPLE`."""
    rng = np.random.default_rng(0)
    n = min(PRICE_SAMPLE, len(inputs.pool_texts))
    rows = np.sort(rng.choice(len(inputs.pool_texts), size=n, replace=False))
    return list(inputs.pool_texts[rows])


def _forecast(args, inputs, teacher, per_item, how):
    """Print the labels and USD to ``--target-accuracy`` from a pilot."""
    from ..stopping import LearningCurveForecast, TargetNotReachable

    target = args.target_accuracy
    clf, what = _pilot(args, inputs, teacher)
    print(f"pilot: {what}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small folds of a small set
            forecast = LearningCurveForecast(random_state=0).fit(clf)
    except TargetNotReachable as exc:  # pragma: no cover - fit never raises it
        raise InputError(str(exc)) from None
    except ValueError as exc:
        raise InputError(
            f"--target-accuracy: no learning curve from the pilot ({exc})"
        ) from None
    try:
        labels, low, high = forecast.labels_to(target, return_band=True)
        usd = forecast.usd_to(target)
    except TargetNotReachable as exc:
        print(f"target accuracy {target:g}: {exc}")
        return 0
    more = max(0, labels - forecast.n_labeled_)
    priced = "the pilot's cost per label"
    if forecast.cost_per_label_ == 0 and per_item:
        usd, priced = more * per_item, how
    band = f"{_count(low)} to {_count(high)}"
    print(f"target accuracy {target:g}: about {labels:,} labelled texts "
          f"({int(forecast.level * 100)}% band: {band}), {more:,} more than "
          f"the pilot's {forecast.n_labeled_:,}")
    if per_item is None and forecast.cost_per_label_ == 0:
        print("cost to the target: unknown (the teacher says nothing about "
              "its price)")
    else:
        print(f"cost to the target: about ${usd:.4f} ({priced})")
    return 0


def _count(value):
    return f"{value:,.0f}" if math.isfinite(value) else "never"


def _pilot(args, inputs, teacher):
    """The fitted classifier to forecast from, and a sentence about it."""
    if args.pilot is not None:
        import joblib

        from .._classifier import ActiveDistillationClassifier

        try:
            clf = joblib.load(args.pilot)
        except FileNotFoundError:
            raise InputError(f"--pilot {args.pilot}: no such file.") from None
        except Exception as exc:  # not a joblib file at all
            raise InputError(
                f"--pilot {args.pilot}: not a model file written by skakd "
                f"distill ({type(exc).__name__})."
            ) from None
        if not isinstance(clf, ActiveDistillationClassifier):
            raise InputError(
                f"--pilot {args.pilot}: holds a {type(clf).__name__}, not a "
                "model file written by skakd distill."
            )
        return clf, f"{args.pilot} ({len(clf.labeled_y_)} labelled texts)"
    student = make_student(args.student, args.random_state,
                           getattr(args, "multi_label", False))
    clf = build_classifier(args, inputs, student, teacher,
                           budget_labels=args.pilot_labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(inputs.seed_texts, inputs.seed_labels, X_pool=pool_to_fit(clf, inputs))
    return clf, (f"a distillation of {args.pilot_labels} labels "
                 f"({len(clf.labeled_y_)} labelled texts, teacher cost "
                 f"${clf.teacher_cost_:.4f})")


def _cache(args):
    """The cache to read (never created here), or ``None``."""
    if args.cache is None:
        return None
    if not Path(args.cache).is_file():
        raise InputError(f"--cache {args.cache}: no such file; expected the "
                         "cache.sqlite of a run (or leave --cache out).")
    return str(args.cache)


def _n_labels(args, n_pool, first_round):
    """Labels the budgets buy; a cold start's first round is ``first_round``."""
    limits = {"the pool": n_pool}
    if args.budget_labels is not None:
        limits["--budget-labels"] = args.budget_labels
    if args.max_rounds is not None:
        limits["--max-rounds"] = (args.max_rounds - 1) * args.batch_size + first_round
    limit = min(limits, key=limits.get)
    return limits[limit], limit


def _price_per_item(teacher, inputs, multi_label=False):
    """USD per label (per label set with ``multi_label``) and how it was
    found; ``None`` when the teacher can't tell."""
    if hasattr(teacher, "estimate_cost"):
        sample = _sample(inputs)
        asked = {"multi_label": True} if multi_label else {}
        cost = float(teacher.estimate_cost(sample, inputs.classes, **asked))
        return cost / len(sample), (f"priced by the teacher on {len(sample)} "
                                    "pool texts")
    if hasattr(teacher, "cost_per_item"):
        return float(teacher.cost_per_item), "the teacher's cost_per_item"
    return None, f"{type(teacher).__name__} says nothing about its price"
