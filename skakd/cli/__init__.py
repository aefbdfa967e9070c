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

import re
import sys
import warnings

from .. import __version__, demo
from . import _distill, _estimate, _predict
from ._io import InputError, RunFailed
from ._parser import CommandParser
from ._summary import describe

__all__ = ["build_parser", "main"]

EPILOG = """\
examples:
  skakd demo
  skakd distill --seed seed.csv --pool pool.csv --teacher oracle \\
      --budget-labels 500 --out model.joblib
  skakd distill --seed seed.csv --pool pool.csv --teacher local,anthropic \\
      --min-confidence 0.8 --review-out review.csv --budget-labels 500 \\
      --out model.joblib
  skakd predict model.joblib texts.csv --out predictions.csv --proba
  skakd estimate-cost --seed seed.csv --pool pool.csv --teacher anthropic \\
      --budget-labels 2000
"""


def build_parser():
    """The argument parser of the ``skakd`` command.

    Every parse error is one line on stderr naming the option and what it
    expects (exit status 2); ``--help`` shows the defaults.
    """
    parser = CommandParser(
        prog="skakd",
        description="Distil an expensive teacher (an LLM or any labelling "
        "function)\ninto a small scikit-learn classifier.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"skakd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, module, help_ in (
        ("distill", _distill, "distil a teacher into a model file"),
        ("predict", _predict, "score a CSV/JSONL file with a model file"),
        ("estimate-cost", _estimate, "what a distillation would cost, before paying"),
    ):
        command = commands.add_parser(
            name, help=help_, description=_plain(module.__doc__),
            usage=getattr(module, "USAGE", None),
        )
        module.add_arguments(command)
        command.set_defaults(handler=module.run, parser=command)
    command = commands.add_parser(
        "demo", help="offline demo: M-RARU vs random on bundled banking77",
        description=_plain(demo.__doc__),
    )
    demo.add_arguments(command)
    command.set_defaults(parser=command)
    return parser


def _plain(docstring):
    """A module docstring as help text: no ``code`` marks or Sphinx roles."""
    text = re.sub(r":\w+:`~?(?:[\w.]+\.)?(\w+)`", r"\1", docstring)
    return text.replace("``", "")


def _run_demo(argv):
    # The parser above checked the options (with the demo's add_arguments);
    # the demo parses them again, as ``python -m skakd.demo`` does.
    demo.main(argv[argv.index("demo") + 1:])
    return 0


# The library's words for a parameter, and the command line's for it.
_OPTION_NAMES = {"classes=": "--classes"}


def _one_line_warning(command):
    """Show a warning as the command's own line, in the command's words (the
    library's file and line mean nothing to a command-line user)."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        for name, option in _OPTION_NAMES.items():
            text = text.replace(name, option)
        print(f"skakd {command}: warning: {text}", file=file or sys.stderr)

    return show


def main(argv=None):
    """Run the ``skakd`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0 on success (and after ``--help``), 2 for a
    problem with the input (reported in one line on stderr, naming the
    option and the fix), 1 for a run that failed once started (one line
    too: the cause, what was written, the ``--resume`` that continues it),
    130 when interrupted.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:  # named by the command's own parser, with its --help
            args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exit_:  # --help, --version, or a one-line parse error
        return exit_.code
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(args.command)
            if args.command == "demo":
                return _run_demo(argv)
            return args.handler(args)
    except InputError as exc:
        print(f"skakd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skakd {args.command}: interrupted.", file=sys.stderr)
        return 130
    except RunFailed as exc:  # what was kept and how to continue, in one line
        print(f"skakd {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # any other failure: one line, not a traceback
        print(f"skakd {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 1
