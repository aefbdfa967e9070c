"""``skakd estimate-cost``: what a distillation would cost, before paying.

The number of teacher labels follows from the budgets, the batch size and
the pool (M-RARU, random and uncertainty sampling send the teacher exactly
the items they accept, never the visited ones). The price of one label comes
from the teacher: its ``estimate_cost(items, classes)`` when it has one
(priced on a random sample of the pool), else its ``cost_per_item``.
With ``--batch-api`` Claude's price is the Message Batches half price; with
``--cache`` (a run's ``<stem>.cache.sqlite``) the answers kept there are not
priced again. Nothing is sent to the teacher.
"""

import math
from pathlib import Path

import numpy as np

from ._distill import add_arguments as add_distill_arguments
from ._distill import check_arguments, load_inputs
from ._io import InputError
from ._registry import check_teacher, make_teacher

__all__ = ["USAGE", "add_arguments", "run"]

USAGE = (
    "%(prog)s --seed FILE --pool FILE --teacher NAME\n"
    "       {--budget-labels N | --budget-usd USD | --max-rounds N} [options]"
)

PRICE_SAMPLE = 200


def add_arguments(parser):
    add_distill_arguments(parser, outputs=False)
    parser.add_argument("--cache", metavar="FILE", help="the teacher cache of "
                        "a run (<out stem>.cache.sqlite): answers kept there "
                        "cost nothing (--teacher anthropic)")


def run(args):
    """Run ``skakd estimate-cost``; return the process exit status."""
    check_arguments(args, "estimate-cost")
    if args.pool is None:
        raise InputError("estimate-cost needs --pool: the texts to price.")
    check_teacher(args.teacher, model=args.model)
    inputs = load_inputs(args)
    n_pool = len(inputs.pool_texts)
    n_labels, limit = _n_labels(args, n_pool)
    teacher = make_teacher(args.teacher, pool_texts=inputs.pool_texts,
                           pool_labels=inputs.pool_labels, model=args.model,
                           cache=_cache(args), batch_api=args.batch_api)
    per_item, how = _price_per_item(teacher, inputs)
    rounds = math.ceil(n_labels / args.batch_size)
    print(f"teacher: {args.teacher}" + (f" ({args.model})" if args.model else ""))
    print(f"pool: {n_pool} texts; seed: {len(inputs.seed_texts)} labelled texts, "
          f"{len(inputs.classes)} classes")
    print(f"labels to buy: {n_labels} in {rounds} rounds of {args.batch_size} "
          f"(limited by {limit})")
    if per_item is None:
        print(f"cost: unknown ({how})")
        return 0
    total = per_item * n_labels
    print(f"cost per label: ${per_item:.6f} ({how})")
    print(f"estimated cost: ${total:.4f}")
    if args.sampler == "pgkd":
        print("note: PGKD has the teacher write texts; they are priced here as "
              "labels of pool-sized texts, and the prompt (report, examples) "
              "adds input tokens each round.")
    if args.budget_usd is not None and total > args.budget_usd:
        affordable = int(args.budget_usd / per_item) if per_item > 0 else n_labels
        print(f"--budget-usd {args.budget_usd} stops the run after about "
              f"{affordable} labels.")
    return 0


def _cache(args):
    """The cache to read (never created here), or ``None``."""
    if args.cache is None:
        return None
    if not Path(args.cache).is_file():
        raise InputError(f"--cache {args.cache}: no such file; expected the "
                         "cache.sqlite of a run (or leave --cache out).")
    return str(args.cache)


def _n_labels(args, n_pool):
    limits = {"the pool": n_pool}
    if args.budget_labels is not None:
        limits["--budget-labels"] = args.budget_labels
    if args.max_rounds is not None:
        limits["--max-rounds"] = args.max_rounds * args.batch_size
    limit = min(limits, key=limits.get)
    return limits[limit], limit


def _price_per_item(teacher, inputs):
    """USD per label and how it was found; ``None`` when the teacher can't tell."""
    if hasattr(teacher, "estimate_cost"):
        rng = np.random.default_rng(0)
        n = min(PRICE_SAMPLE, len(inputs.pool_texts))
        rows = np.sort(rng.choice(len(inputs.pool_texts), size=n, replace=False))
        sample = list(inputs.pool_texts[rows])
        cost = float(teacher.estimate_cost(sample, inputs.classes))
        return cost / n, f"priced by the teacher on {n} pool texts"
    if hasattr(teacher, "cost_per_item"):
        return float(teacher.cost_per_item), "the teacher's cost_per_item"
    return None, f"{type(teacher).__name__} says nothing about its price"
