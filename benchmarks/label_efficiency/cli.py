"""The command line: ``python -m benchmarks.label_efficiency``."""

import argparse
import ast
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from .. import label_efficiency
from .._common import DEFAULT_DATA
from .._peers import PEERS
from .._report import DOCS, RESULTS, command_line
from .report import write_report
from .run import (
    DEFAULT_MRARU,
    SAMPLERS,
    STUDENTS,
    quiet_expected_warnings,
    run_grid,
    sampler_specs,
)

__all__ = ["main", "parse_param"]


def parse_param(text):
    """``"key=value"`` as ``(key, value)``, the value a Python literal.

    A value that is not a literal (``strategy=margin``) stays a string.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(
            f"--param expects key=value (e.g. temperature=0.5), got {text!r}")
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    return key.strip(), value


def _parse(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.label_efficiency",
        description=label_efficiency.__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=None,
                        help="dataset folders (train.csv/test.csv with text,label) "
                             "or names under ../shared/data")
    parser.add_argument("--students", nargs="+", choices=list(STUDENTS))
    parser.add_argument("--samplers", nargs="+", choices=[*SAMPLERS, *PEERS],
                        metavar="SAMPLER",
                        help=f"any of {[*SAMPLERS, *PEERS]}; {DEFAULT_MRARU} is "
                             "MRARU's defaults, mraru the paper's rule")
    parser.add_argument("--param", action="append", type=parse_param, default=[],
                        metavar="KEY=VALUE",
                        help="set a parameter of every sampler of --samplers "
                             "(set_params; the value is a Python literal), e.g. "
                             "--samplers mraru --param temperature=0.5; "
                             "repeatable; runs are named mraru(temperature=0.5)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0])
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs in parallel worker processes (each with "
                             "--blas-threads threads); finished runs are "
                             "written as they complete")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (0: library default); on a shared "
                             "machine one thread is many times faster")
    parser.add_argument("--max-train", type=int, default=None,
                        help="subsample the training split (pool) to this size")
    parser.add_argument("--max-test", type=int, default=None)
    parser.add_argument("--quick", action="store_true",
                        help="small grid that runs in < 10 minutes on 2 cores")
    parser.add_argument("--out", default=None,
                        help="results prefix (default benchmarks/results/"
                             "label_efficiency[_quick])")
    parser.add_argument("--summarize", action="store_true",
                        help="only rebuild tables and plots from the runs file")
    parser.add_argument("--docs", default=None,
                        help="markdown summary path (default docs/benchmarks/"
                             "label_efficiency.md; 'none' to skip)")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "data": ["banking77"] if quick else ["banking77", "trec", "ag_news"],
        "students": ["lr", "lda"] if quick else list(STUDENTS),
        "samplers": (["random", DEFAULT_MRARU, "mraru", "lc", "smalltext_lc",
                      "modal_lc"] if quick else [*SAMPLERS, *PEERS]),
        "rounds": 12 if quick else 60,
        "max_train": 2000 if quick else None,
        "max_test": 1000 if quick else None,
        "out": str(RESULTS / ("label_efficiency_quick" if quick
                              else "label_efficiency")),
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    params = dict(args.param)
    if len(params) < len(args.param):
        parser.error("--param: a key is given twice")
    try:
        args.samplers = sampler_specs(args.samplers, params)
    except ValueError as exc:
        parser.error(str(exc))
    args.data = [d if Path(d).is_dir() else str(DEFAULT_DATA / d) for d in args.data]
    return args


def main(argv=None):
    args = _parse(argv)
    quiet_expected_warnings()
    start = time.perf_counter()
    if not args.summarize:
        with threadpool_limits(args.blas_threads or None):
            run_grid(args)
    docs = (None if args.docs == "none" else Path(args.docs) if args.docs
            else Path(f"{args.out}.md") if args.quick
            else DOCS / "label_efficiency.md")
    write_report(args.out, command_line("label_efficiency", argv),
                 time.perf_counter() - start, docs=docs,
                 overview=not args.docs and not args.quick)
