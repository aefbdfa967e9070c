"""The options ``distill`` and ``estimate-cost`` share, and what they build.

Both commands read the same seed, pool and teacher options and the same
budgets; this room declares them once (with their defaults in
:data:`DEFAULTS`, which ``--resume`` reads too), checks what argparse cannot,
and turns them into the classifier a run fits.
"""

import math

from .._classifier import ActiveDistillationClassifier
from ..strategy import is_generative
from ._io import InputError
from ._parser import integer, number, price_pairs, shares
from ._registry import SAMPLERS, STUDENTS, make_sampler, teacher_kinds

__all__ = [
    "DEFAULTS",
    "MAX_VALIDATION_ROWS",
    "add_arguments",
    "build_classifier",
    "check_arguments",
    "default_model",
    "generates",
    "max_rounds",
    "pool_to_fit",
]

MAX_VALIDATION_ROWS = 5000
#: The teachers that bill: a dry run rehearses them, a batch API halves them.
PAID_TEACHERS = ("anthropic", "openai")
#: The default of each shared option that has one (the others are ``None``).
DEFAULTS = {
    "validation_size": 0.2,
    "text_column": "text",
    "label_column": "label",
    "encoding": "utf-8-sig",
    "sampler": "mraru",
    "student": "tfidf-logreg",
    "batch_size": 25,
    "stop": "none",
    "batch_api": False,
    "random_state": 0,
    "multi_label": False,
    "label_separator": "|",
}
REQUIRED = {
    "--seed": "--seed FILE: labelled examples, or --classes with every "
              "class to start without a seed",
    "--pool": "--pool FILE: the texts to label",
    "--teacher": "--teacher NAME: oracle, anthropic, openai, local or "
                 "module:attribute, or a cascade of them such as local,anthropic",
    "--out": "--out MODEL: the model file to write",
}


def default_model(teacher="anthropic"):
    """The model of an LLM ``--teacher`` when ``--model`` is not given."""
    from .. import teachers

    if teacher == "openai":
        return teachers.DEFAULT_OPENAI_MODEL
    return teachers.DEFAULT_ANTHROPIC_MODEL


def add_arguments(parser):
    """Add the options shared by ``distill`` and ``estimate-cost``.

    Returns
    -------
    groups : dict
        The argument groups by name (``"required"``, ``"budget"``,
        ``"data"``, ``"method"``), for a command to add its own options to.
    """
    required = parser.add_argument_group("required")
    required.add_argument("--seed", metavar="FILE",
                          help="labelled examples (CSV or JSONL) (required "
                          "unless --classes lists every class: then the "
                          "teacher labels the first rounds, a cold start)")
    required.add_argument("--pool", metavar="FILE",
                          help="unlabelled texts (CSV or JSONL); with --teacher "
                          "oracle it must carry the label column too (required)")
    required.add_argument("--teacher", metavar="NAME",
                          help="oracle (answers from the pool's labels), anthropic "
                          "(Claude; the llm extra), openai (an OpenAI model or "
                          "any OpenAI-compatible server; the openai extra), "
                          "local (a GGUF model served on this machine by "
                          "llama.cpp; the local extra), or module:attribute; "
                          "or a cascade, cheapest first, e.g. local,anthropic: "
                          "each stage labels what the ones before it were not "
                          "sure of (--min-confidence) (required)")
    budget = parser.add_argument_group(
        "budget (at least one is required; the first reached stops the run)")
    budget.add_argument("--budget-labels", type=integer(1), metavar="N",
                        help="largest number of teacher labels")
    budget.add_argument("--budget-usd", type=number(0), metavar="USD",
                        help="largest teacher spend in USD")
    budget.add_argument("--max-rounds", type=integer(1), metavar="N",
                        help="largest number of rounds")
    data = parser.add_argument_group("data")
    data.add_argument("--validation", metavar="FILE",
                      help="labelled texts to report accuracy on (with the "
                      "oracle, a split of the pool by default)")
    data.add_argument("--validation-size", type=number(0, 1, include_maximum=False),
                      default=DEFAULTS["validation_size"], metavar="SHARE",
                      help="share of the pool held out for validation with the "
                      f"oracle, at most {MAX_VALIDATION_ROWS} rows")
    data.add_argument("--classes", metavar="A,B,...|FILE",
                      help="the full label set, comma separated, or a classes "
                      "file (.csv: columns name, description, example; .jsonl: "
                      "name, description, examples) whose descriptions and "
                      "examples go to an LLM teacher's prompt (by default the "
                      "labels of the seed)")
    data.add_argument("--text-column", default=DEFAULTS["text_column"],
                      metavar="NAME", help="column holding the texts")
    data.add_argument("--label-column", default=DEFAULTS["label_column"],
                      metavar="NAME", help="column holding the labels")
    data.add_argument("--multi-label", action="store_true",
                      help="each text carries any number of labels: the label "
                      "column joins them with --label-separator (empty for "
                      "none), or holds a JSON list in JSONL files")
    data.add_argument("--label-separator", default=DEFAULTS["label_separator"],
                      metavar="SEP", help="what joins the labels of a text with "
                      "--multi-label (default: |)")
    data.add_argument("--encoding", default=DEFAULTS["encoding"],
                      help="encoding of the input files (UTF-8, with or without "
                      "a byte-order mark, by default)")
    method = parser.add_argument_group("method")
    method.add_argument("--model", help="the model of an LLM teacher: Claude's "
                        f"(default: {default_model()}), OpenAI's or the "
                        f"server's (default: {default_model('openai')}), or "
                        "a GGUF file for --teacher local (default: the bundled "
                        "SmolLM2-135M-Instruct); for a cascade, one per stage "
                        "separated by commas, empty for a stage's default "
                        "(e.g. ,claude-sonnet-4-5)")
    method.add_argument("--base-url", metavar="URL",
                        help="--teacher openai: the server (vLLM, Ollama, "
                        "llama.cpp, LiteLLM...), e.g. http://127.0.0.1:8000/v1 "
                        "(default: OpenAI's API, or OPENAI_BASE_URL); for a "
                        "cascade with several openai stages, one per stage "
                        "separated by commas")
    method.add_argument("--price", type=price_pairs, metavar="IN,OUT",
                        help="--teacher openai: USD per million input and output "
                        "tokens of a model with no known price (free on "
                        "localhost); for a cascade, one IN,OUT pair per openai "
                        "stage (IN,OUT,IN,OUT)")
    method.add_argument("--min-confidence", type=shares, metavar="C[,C...]",
                        help="a cascade: the confidence a stage's label needs "
                        "to be final, one for every stage but the last or one "
                        "each; the stages before the last are asked for "
                        "their confidence (token log-probabilities of openai "
                        "and local, free; a stated one from anthropic, about 8 "
                        "more output tokens per item) (default: 0.9)")
    method.add_argument("--sampler", default=DEFAULTS["sampler"], choices=SAMPLERS,
                        metavar="NAME", help=f"{', '.join(SAMPLERS)}")
    method.add_argument("--student", default=DEFAULTS["student"], metavar="NAME",
                        help=f"{', '.join(STUDENTS)} (static-logreg needs the static "
                        "extra, the last two the text extra), or module:attribute")
    method.add_argument("--batch-size", type=integer(1),
                        default=DEFAULTS["batch_size"], metavar="N",
                        help="teacher labels per round")
    method.add_argument("--stop", choices=("none", "auto"), default=DEFAULTS["stop"],
                        help="auto: stop paying when the student stops "
                        "learning (skakd.stopping.default(): its predictions "
                        "on a stop set drawn from the pool would barely change "
                        "if the labelled set doubled); a budget is still "
                        "required")
    method.add_argument("--batch-api", action="store_true",
                        help="send each round as one batch (Claude's Message "
                        "Batches, OpenAI's Batch API): half the price, answers "
                        "within minutes to hours (--teacher anthropic or openai, "
                        "or those stages of a cascade)")
    method.add_argument("--random-state", type=integer(0, 2**32 - 1),
                        default=DEFAULTS["random_state"], metavar="SEED",
                        help="seed of every random choice")
    return {"required": required, "budget": budget, "data": data, "method": method}


def generates(args):
    """Whether ``--sampler`` has the teacher write texts (a generative strategy)."""
    return is_generative(make_sampler(args.sampler, args.batch_size))


def check_arguments(args, command, also_missing=(), need_budget=True):
    """Check what argparse cannot: options needed together, budgets."""
    missing = [f"--{name}" for name in ("seed", "pool", "teacher")
               if getattr(args, name) is None]
    if args.classes is not None and "--seed" in missing:
        missing.remove("--seed")  # a cold start: the teacher labels (or writes) round 0
    if generates(args) and args.teacher != "oracle" and "--pool" in missing:
        missing.remove("--pool")  # the teacher writes the training texts
    missing += also_missing
    if missing:
        listed = (", ".join(missing[:-1]) + " and " + missing[-1]
                  if len(missing) > 1 else missing[0])
        raise InputError(
            f"{command} needs {listed} ({'; '.join(REQUIRED[m] for m in missing)})."
        )
    budgets = (args.budget_labels, args.budget_usd, args.max_rounds)
    if need_budget and all(budget is None for budget in budgets):
        raise InputError(
            "give a budget: --budget-labels N, --budget-usd X and/or "
            "--max-rounds N, so that the teacher is never asked without limit."
        )
    if (generates(args) and args.teacher == "oracle"
            and args.budget_labels is None and args.max_rounds is None):
        raise InputError(
            f"--budget-usd alone never stops --sampler {args.sampler} with "
            "--teacher oracle (the oracle is free); add --budget-labels N or "
            "--max-rounds N."
        )
    paid = any(kind in PAID_TEACHERS for kind in teacher_kinds(args.teacher))
    if getattr(args, "dry_run", False) and not paid:
        raise InputError(
            "--dry-run rehearses --teacher anthropic or openai; --teacher "
            f"{args.teacher} is called as it is (free, or your own)."
        )
    if args.batch_api and not paid:
        raise InputError(
            "--batch-api: only --teacher anthropic and openai have a batch API."
        )


def max_rounds(args):
    """Rounds to run: ``--max-rounds``, else as many as ``--budget-labels``
    fills with full batches (the progress bar's length).

    Pool samplers spend every round's batch, so the label budget is used to
    the last label in those rounds. PGKD counts only the written texts that
    pass its screening; the bound keeps a teacher whose texts are all
    rejected from running forever, and the report says what was left.
    """
    if args.max_rounds is not None:
        return args.max_rounds
    if args.budget_labels is not None:
        return math.ceil(args.budget_labels / args.batch_size)
    return None  # a USD budget (or the pool) ends the run


def build_classifier(args, inputs, student, teacher, *, callbacks=None,
                     budget_labels=None):
    """The classifier a run fits (``budget_labels`` overrides the budgets:
    the pilot of ``estimate-cost --pilot-labels``)."""
    if budget_labels is None:
        rounds, max_labels, max_cost = (
            max_rounds(args), args.budget_labels, args.budget_usd)
    else:
        rounds = math.ceil(budget_labels / args.batch_size)
        max_labels, max_cost = budget_labels, None
    return ActiveDistillationClassifier(
        student,
        teacher=teacher,
        sampler=make_sampler(args.sampler, args.batch_size),
        max_iter=rounds,
        max_labels=max_labels,
        max_cost=max_cost,
        classes=inputs.classes,
        callbacks=callbacks,
        random_state=args.random_state,
        verbose=0 if getattr(args, "quiet", True) else 1,
    )


def pool_to_fit(clf, inputs):
    """The ``X_pool`` a run fits with: none for a strategy that writes its
    texts (the oracle's pool is then where its texts come from)."""
    return None if is_generative(clf.sampler) else inputs.pool_texts
