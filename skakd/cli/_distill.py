"""``skakd distill``: from a seed file, a pool file and a teacher to a model file.

Besides the model (``--out``, a joblib file), the run writes next to it:
``<stem>.labels.csv`` (every labelled text with its provenance),
``<stem>.history.json`` (``history_``, one record per round),
``<stem>.curve.png`` (learning, acceptance and cost curves) and
``<stem>.run.json`` (the settings and status, which ``--resume`` reads).
"""

import codecs
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import joblib
import numpy as np

from .._classifier import ActiveDistillationClassifier
from ..callbacks import Scoring
from ._io import InputError, RowWriter, iter_chunks, read_table
from ._registry import make_sampler, make_student, make_teacher

__all__ = ["add_arguments", "run", "load_inputs", "output_paths"]

# Settings that decide what a run does: --resume refuses to mix runs that
# differ in any of them. Budgets may change (raising one continues a run).
RUN_SETTINGS = (
    "seed", "pool", "validation", "teacher", "model", "sampler", "student",
    "batch_size", "validation_size", "classes", "text_column", "label_column",
    "random_state",
)
PATH_SETTINGS = ("seed", "pool", "validation")
MAX_VALIDATION_ROWS = 5000
VALIDATION_KEY = "accuracy"


def add_arguments(parser, *, outputs=True):
    """Options shared by ``distill`` and ``estimate-cost``."""
    data = parser.add_argument_group("data")
    data.add_argument("--seed", metavar="FILE",
                      help="labelled examples (CSV or JSONL)")
    data.add_argument("--pool", metavar="FILE",
                      help="unlabelled texts (CSV or JSONL); with --teacher "
                      "oracle it must carry the label column too")
    data.add_argument("--validation", metavar="FILE",
                      help="labelled texts to report accuracy on (default with "
                      "the oracle: a split of the pool)")
    data.add_argument("--validation-size", type=float, default=0.2,
                      metavar="SHARE",
                      help="share of the pool held out for validation with the "
                      f"oracle, at most {MAX_VALIDATION_ROWS} rows (default 0.2)")
    data.add_argument("--classes", metavar="A,B,...",
                      help="the full label set, comma separated (default: the "
                      "labels of the seed)")
    data.add_argument("--text-column", default="text", metavar="NAME")
    data.add_argument("--label-column", default="label", metavar="NAME")
    data.add_argument("--encoding", default="utf-8-sig",
                      help="encoding of the input files (default UTF-8)")
    method = parser.add_argument_group("method")
    method.add_argument("--teacher", metavar="NAME",
                        help="oracle (answers from the pool's labels), anthropic "
                        "(Claude), or module:attribute")
    method.add_argument("--model", help="the teacher's model, e.g. a Claude "
                        "model name")
    method.add_argument("--sampler", default="mraru", metavar="NAME",
                        help="mraru, random, uncertainty or pgkd (default mraru)")
    method.add_argument("--student", default="tfidf-logreg", metavar="NAME",
                        help="tfidf-logreg, minilm-logreg, bert, or "
                        "module:attribute (default tfidf-logreg)")
    method.add_argument("--batch-size", type=int, default=25, metavar="N",
                        help="teacher labels per round (default 25)")
    method.add_argument("--random-state", type=int, default=0, metavar="SEED")
    budget = parser.add_argument_group("budget (at least one)")
    budget.add_argument("--budget-labels", type=int, metavar="N",
                        help="largest number of teacher labels")
    budget.add_argument("--budget-usd", type=float, metavar="USD",
                        help="largest teacher spend in USD")
    budget.add_argument("--max-rounds", type=int, metavar="N",
                        help="largest number of rounds")
    if outputs:
        out = parser.add_argument_group("output")
        out.add_argument("--out", required=True, metavar="MODEL",
                         help="model file to write (joblib); the other outputs "
                         "are named after it")
        out.add_argument("--cache", metavar="FILE",
                         help="SQLite file keeping every teacher answer "
                         "(default <out stem>.cache.sqlite)")
        out.add_argument("--no-cache", action="store_true",
                         help="do not keep the teacher's answers")
        out.add_argument("--resume", action="store_true", help="continue the "
                         "run recorded for --out, paying nothing twice")
        out.add_argument("--quiet", action="store_true", help="no progress bar")


def output_paths(out):
    """Files a run writes, all named after the model file ``out``."""
    out = Path(out)
    stem = out.with_suffix("")
    return {
        "model": out,
        "labels": Path(f"{stem}.labels.csv"),
        "history": Path(f"{stem}.history.json"),
        "plot": Path(f"{stem}.curve.png"),
        "run": Path(f"{stem}.run.json"),
        "cache": Path(f"{stem}.cache.sqlite"),
    }


def run(args):
    """Run ``skakd distill``; return the process exit status."""
    paths = output_paths(args.out)
    if args.resume:
        _restore_settings(args, paths["run"])
    _check_arguments(args)
    inputs = load_inputs(args)
    teacher, cache = _teacher(args, inputs, paths)
    clf = ActiveDistillationClassifier(
        make_student(args.student, args.random_state),
        teacher=teacher,
        sampler=make_sampler(args.sampler, args.batch_size),
        max_iter=_max_rounds(args),
        max_labels=args.budget_labels,
        max_cost=args.budget_usd,
        classes=inputs.classes,
        callbacks=_callbacks(inputs),
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    _write_manifest(paths["run"], args, cache, "running")
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # Interruption is reported below, in the CLI's own words.
            warnings.filterwarnings("ignore", message="fit interrupted")
            clf.fit(inputs.seed_texts, inputs.seed_labels,
                    X_pool=None if args.sampler == "pgkd" else inputs.pool_texts)
    except Exception:
        _write_manifest(paths["run"], args, cache, "failed")
        raise
    interrupted = clf.termination_condition_ == "interrupted"
    status = "interrupted" if interrupted else "finished"
    _write_outputs(clf, inputs, paths)
    _write_manifest(paths["run"], args, cache, status)
    _report(clf, paths, cache, status, time.perf_counter() - start)
    return 130 if status == "interrupted" else 0


def _check_arguments(args):
    missing = [f"--{name}" for name in ("seed", "pool", "teacher")
               if getattr(args, name) is None]
    if args.sampler == "pgkd" and args.teacher != "oracle" and "--pool" in missing:
        missing.remove("--pool")  # PGKD's teacher writes the training texts
    if missing:
        raise InputError(f"distill needs {', '.join(missing)}.")
    budgets = (args.budget_labels, args.budget_usd, args.max_rounds)
    if all(budget is None for budget in budgets):
        raise InputError(
            "give a budget: --budget-labels N, --budget-usd X and/or "
            "--max-rounds N, so that the teacher is never asked without limit."
        )
    for name in ("budget_labels", "max_rounds", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} is {value}; expected >= 1.")
    if args.budget_usd is not None and args.budget_usd < 0:
        raise InputError(f"--budget-usd is {args.budget_usd}; expected >= 0.")
    if not 0 <= args.validation_size < 1:
        raise InputError(
            f"--validation-size is {args.validation_size}; expected a share in [0, 1)."
        )


def _max_rounds(args):
    """Rounds to run: ``--max-rounds``, else enough for ``--budget-labels``."""
    if args.max_rounds is not None:
        return args.max_rounds
    if args.budget_labels is not None:
        return math.ceil(args.budget_labels / args.batch_size)
    return None  # a USD budget (or the pool) ends the run


class Inputs:
    """The data of a run, read and checked."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def load_inputs(args):
    """Read and check the seed, pool and validation files of ``args``."""
    read = dict(text_column=args.text_column, encoding=args.encoding)
    seed_texts, seed_labels = read_table(args.seed, label_column=args.label_column,
                                         **read)
    oracle = args.teacher == "oracle"
    pool_texts = pool_labels = pool_rows = None
    if args.pool is not None and oracle:
        pool_texts, pool_labels = read_table(
            args.pool, label_column=args.label_column, **read
        )
        pool_rows = np.arange(len(pool_texts))
    elif args.pool is not None:
        pool_texts = _unlabelled_pool(args)
    classes = _classes(args, seed_labels)
    _check_known(seed_labels, classes, args.seed, args)
    val_texts = val_labels = None
    if args.validation is not None:
        val_texts, val_labels = read_table(args.validation,
                                           label_column=args.label_column, **read)
        _check_known(val_labels, classes, args.validation, args)
    if oracle:
        _check_known(pool_labels, classes, args.pool, args)
        if val_texts is None and args.validation_size > 0:
            val_rows, pool_rows = _split(len(pool_texts), args)
            val_texts = [pool_texts[i] for i in val_rows]
            val_labels = [pool_labels[i] for i in val_rows]
    if pool_rows is not None:
        pool_texts = np.asarray(pool_texts, dtype=object)[pool_rows]
        if pool_labels is not None:
            pool_labels = np.asarray(pool_labels, dtype=object)[pool_rows]
    return Inputs(
        seed_texts=np.asarray(seed_texts, dtype=object),
        seed_labels=np.asarray(seed_labels),
        pool_texts=pool_texts, pool_labels=pool_labels, pool_rows=pool_rows,
        val_texts=val_texts, val_labels=val_labels, classes=classes,
    )


def _unlabelled_pool(args):
    """The pool of a real teacher, checked in one pass and then read on demand.

    Only the rows the sampler visits are ever read, so the pool may be larger
    than memory (:class:`~skakd.pools.TextFilePool` keeps 8 bytes per row).
    Files in another encoding than UTF-8 are loaded into memory instead.
    """
    n_rows = sum(len(texts) for _, texts in iter_chunks(
        args.pool, args.text_column, 10_000, encoding=args.encoding))
    with open(args.pool, "rb") as handle:
        bom = handle.read(3) == codecs.BOM_UTF8
    if codecs.lookup(args.encoding).name in ("utf-8", "utf-8-sig") and not bom:
        from ..pools import TextFilePool

        pool = TextFilePool(args.pool, column=args.text_column)
        if len(pool) == n_rows:
            return pool
    texts, _ = read_table(args.pool, args.text_column, encoding=args.encoding)
    return np.asarray(texts, dtype=object)


def _classes(args, seed_labels):
    if args.classes is None:
        classes = sorted(set(seed_labels))
    else:
        classes = sorted({c.strip() for c in args.classes.split(",") if c.strip()})
    if len(set(seed_labels)) < 2:
        raise InputError(
            f"{args.seed} has a single class ({seed_labels[0]!r}); the seed needs "
            "labelled examples of at least two classes."
        )
    return classes


def _check_known(labels, classes, path, args):
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        source = "--classes" if args.classes is not None else f"the seed ({args.seed})"
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise InputError(
            f"{path} has labels that are not among the classes of {source}: "
            f"{shown} ({len(unknown)} unknown); add them to --classes, or seed "
            "examples of them."
        )


def _split(n_pool, args):
    """Pool rows held out for validation, and the rows left in the pool."""
    rng = np.random.default_rng(args.random_state)
    order = rng.permutation(n_pool)
    n_val = min(int(round(args.validation_size * n_pool)), MAX_VALIDATION_ROWS)
    return np.sort(order[:n_val]), np.sort(order[n_val:])


def _teacher(args, inputs, paths):
    credentials = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
    if args.teacher == "anthropic" and not any(map(os.environ.get, credentials)):
        raise InputError(
            "--teacher anthropic needs an API key: set ANTHROPIC_API_KEY "
            "(skakd estimate-cost works without one)."
        )
    teacher = make_teacher(args.teacher, pool_texts=inputs.pool_texts,
                           pool_labels=inputs.pool_labels, model=args.model,
                           generate=args.sampler == "pgkd")
    if args.no_cache:
        return teacher, None
    from .. import teachers

    cached_teacher = getattr(teachers, "CachedTeacher", None)
    if cached_teacher is None:
        if args.cache is not None or args.resume:
            raise InputError(
                "--cache/--resume need skakd.teachers.CachedTeacher, which this "
                "installation of skakd does not provide."
            )
        return teacher, None
    cache = Path(args.cache) if args.cache is not None else paths["cache"]
    return cached_teacher(teacher, str(cache)), cache


def _callbacks(inputs):
    if inputs.val_texts is None or not len(inputs.val_texts):
        return None
    return [Scoring(np.asarray(inputs.val_texts, dtype=object),
                    np.asarray(inputs.val_labels), name=VALIDATION_KEY)]


# -- resume ---------------------------------------------------------------


def _settings(args):
    settings = {name: getattr(args, name) for name in RUN_SETTINGS}
    for name in PATH_SETTINGS:
        if settings[name] is not None:
            settings[name] = str(Path(settings[name]).resolve())
    return settings


def _write_manifest(path, args, cache, status):
    manifest = {
        "status": status,
        "settings": _settings(args),
        "budgets": {name: getattr(args, name)
                    for name in ("budget_labels", "budget_usd", "max_rounds")},
        "cache": None if cache is None else str(Path(cache).resolve()),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _restore_settings(args, manifest_path):
    """Fill ``args`` from the recorded run; refuse settings that differ."""
    if not manifest_path.is_file():
        raise InputError(
            f"--resume: {manifest_path} does not exist, so there is no run to "
            f"continue for --out {args.out}; run without --resume first."
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    recorded = manifest["settings"]
    given = _settings(args)
    defaults = _defaults()
    differing = [
        name for name in RUN_SETTINGS
        if given[name] is not None and given[name] != defaults.get(name)
        and given[name] != recorded[name]
    ]
    if differing:
        raise InputError(
            "--resume: " + "; ".join(
                f"--{n.replace('_', '-')} is {given[n]!r} but the run recorded "
                f"in {manifest_path} used {recorded[n]!r}" for n in differing
            ) + ". Resume with the same settings, or start a new run."
        )
    for name in RUN_SETTINGS:
        setattr(args, name, recorded[name])
    for name, value in manifest["budgets"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if manifest["cache"] is None:
        raise InputError(
            f"--resume: the run recorded in {manifest_path} kept no cache "
            "(--no-cache), so its answers are gone; start a new run."
        )
    if args.cache is None:
        args.cache = manifest["cache"]
    args.no_cache = False


def _defaults():
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser, outputs=False)
    return vars(parser.parse_args([]))


# -- outputs ----------------------------------------------------------------


def _write_outputs(clf, inputs, paths):
    # The model file is for scoring: drop the teacher (the oracle holds the
    # whole pool, an API teacher a client) and the validation data.
    clf.set_params(teacher=None, callbacks=None)
    clf.callbacks_ = []
    joblib.dump(clf, paths["model"])
    _write_labels(clf, inputs, paths["labels"])
    history = [{key: _plain(value) for key, value in record.items()}
               for record in clf.history_]
    paths["history"].write_text(
        json.dumps(history, indent=1, default=_json_default) + "\n", encoding="utf-8"
    )
    _write_plot(clf.history_, paths["plot"])


def _write_labels(clf, inputs, path):
    pool_index = clf.labeled_pool_index_
    if inputs.pool_rows is not None:  # the oracle's pool lost its validation rows
        pool_index = np.where(pool_index < 0, -1, inputs.pool_rows[pool_index])
    with RowWriter(path, ["text", "label", "source", "round", "pool_row"]) as out:
        out.write(
            {
                "text": text,
                "label": label,
                "source": source,
                "round": int(round_),
                "pool_row": "" if index < 0 else int(index),
            }
            for text, label, source, round_, index in zip(
                clf.labeled_X_, clf.labeled_y_, clf.label_source_,
                clf.label_round_, pool_index,
            )
        )


def _write_plot(history, path):
    try:
        from ..plotting import plot_summary
    except ImportError as exc:
        print(f"skakd: no plot written ({exc}).", file=sys.stderr)
        return
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 3.8), layout="constrained")
    plot_summary(history, figure=figure)
    figure.savefig(path, dpi=110)


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


def _report(clf, paths, cache, status, seconds):
    last = clf.history_[-1]
    teacher_labels = int(np.sum(clf.label_source_ != "seed"))
    parts = [
        f"{status} after {clf.n_iter_} rounds ({clf.termination_condition_}) "
        f"in {seconds:.1f} s",
        f"{len(clf.labeled_y_)} labelled texts ({teacher_labels} from the teacher)",
        f"teacher cost ${clf.teacher_cost_:.4f}",
    ]
    if VALIDATION_KEY in last:
        parts.append(f"validation accuracy {last[VALIDATION_KEY]:.3f}")
    print("skakd distill: " + "; ".join(parts) + ".")
    written = [paths[key] for key in ("model", "labels", "history", "plot", "run")]
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
