"""The ``skakd`` command: distil, score, estimate costs, run the demo.

``skakd distill`` turns a file of labelled seed texts, a file of unlabelled
texts and a teacher into a model file; ``skakd predict`` scores any CSV or
JSONL file with it in constant memory; ``skakd estimate-cost`` says what a
distillation would cost before anything is paid; ``skakd demo`` runs the
offline demo on bundled data. ``python -m skakd`` is the same command.

Examples
--------
>>> from skakd.cli import build_parser
>>> args = build_parser().parse_args(
...     ["predict", "model.joblib", "texts.csv", "--out", "scores.csv"])
>>> args.command, args.chunk_size, args.proba
('predict', 10000, False)
"""

import argparse
import sys

from .. import __version__
from . import _distill, _estimate, _predict
from ._io import InputError

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  skakd demo
  skakd distill --seed seed.csv --pool pool.csv --teacher oracle \\
      --budget-labels 500 --out model.joblib
  skakd predict model.joblib texts.csv --out predictions.csv --proba
  skakd estimate-cost --seed seed.csv --pool pool.csv --teacher anthropic \\
      --budget-labels 2000
"""


def build_parser():
    """The argument parser of the ``skakd`` command."""
    parser = argparse.ArgumentParser(
        prog="skakd",
        description="Distil an expensive teacher (an LLM or any labelling "
        "function) into a small scikit-learn classifier.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skakd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, module, help_ in (
        ("distill", _distill, "distil a teacher into a model file"),
        ("predict", _predict, "score a CSV/JSONL file with a model file"),
        ("estimate-cost", _estimate, "what a distillation would cost, before paying"),
    ):
        command = commands.add_parser(
            name, help=help_, description=module.__doc__.replace("``", ""),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    commands.add_parser(
        "demo", add_help=False,
        help="offline demo: M-RARU vs random on bundled banking77 "
        "(skakd demo --help for its options)",
    )
    return parser


def _run_demo(argv):
    from ..demo import main as demo_main

    demo_main(argv)
    return 0


def main(argv=None):
    """Run the ``skakd`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 on success, 2 for a problem with the input
    (reported in one line on stderr), 130 when interrupted.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    try:
        if args.command == "demo":
            return _run_demo(extra)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args.handler(args)
    except InputError as exc:
        print(f"skakd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skakd {args.command}: interrupted.", file=sys.stderr)
        return 130
