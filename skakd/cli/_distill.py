"""``skakd distill``: from a seed file, a pool file and a teacher to a model file.

Besides the model (``--out``, a joblib file), the run writes next to it:
``<stem>.labels.csv`` (every labelled text with its provenance),
``<stem>.history.json`` (``history_``, one record per round),
``<stem>.curve.png`` (learning, acceptance and cost curves) and
``<stem>.run.json`` (the settings, the status and the teacher's bill, which
``--resume`` reads). With ``--dry-run``, Claude is played by a local fake
(no key, nothing paid): ``<stem>.dry-run.prompts.jsonl`` holds the requests
that would be sent and the summary the bill. ``<stem>.lock`` marks a run in
progress: a second ``skakd distill`` on the same ``--out`` is refused while
it lives.
"""

import codecs
import inspect
import json
import math
import os
import socket
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import joblib
import numpy as np

from .._classifier import ActiveDistillationClassifier
from ..callbacks import Scoring
from ._io import (
    InputError,
    RowWriter,
    check_output,
    create_folder,
    iter_chunks,
    read_table,
)
from ._parser import integer, number
from ._registry import (
    SAMPLERS,
    STUDENTS,
    check_teacher,
    make_sampler,
    make_student,
    make_teacher,
)

__all__ = [
    "USAGE",
    "add_arguments",
    "check_arguments",
    "load_inputs",
    "output_paths",
    "run",
]

# Settings that decide what a run does: --resume refuses to mix runs that
# differ in any of them. Budgets may change (raising one continues a run).
RUN_SETTINGS = (
    "seed", "pool", "validation", "teacher", "model", "sampler", "student",
    "batch_size", "validation_size", "classes", "text_column", "label_column",
    "random_state", "batch_api", "stop",
)
PATH_SETTINGS = ("seed", "pool", "validation")
MAX_VALIDATION_ROWS = 5000
VALIDATION_KEY = "accuracy"
REQUIRED = {
    "--seed": "--seed FILE: labelled examples",
    "--pool": "--pool FILE: the texts to label",
    "--teacher": "--teacher NAME: oracle, anthropic or module:attribute",
    "--out": "--out MODEL: the model file to write",
}
# What a run writes (next to the cache, which outlives runs).
OUTPUTS = ("model", "labels", "history", "plot", "run", "prompts")


USAGE = (
    "%(prog)s --seed FILE --pool FILE --teacher NAME --out MODEL\n"
    "       {--budget-labels N | --budget-usd USD | --max-rounds N} [options]"
)


def add_arguments(parser, *, outputs=True):
    """Options shared by ``distill`` and ``estimate-cost``."""
    required = parser.add_argument_group(
        "required",
        "--pool may be left out with --sampler pgkd and a teacher that writes "
        "texts;\n--resume reads all four from the recorded run." if outputs else None,
    )
    required.add_argument("--seed", metavar="FILE",
                          help="labelled examples (CSV or JSONL) (required)")
    required.add_argument("--pool", metavar="FILE",
                          help="unlabelled texts (CSV or JSONL); with --teacher "
                          "oracle it must carry the label column too (required)")
    required.add_argument("--teacher", metavar="NAME",
                          help="oracle (answers from the pool's labels), anthropic "
                          "(Claude; needs the llm extra), or module:attribute "
                          "(required)")
    if outputs:
        required.add_argument("--out", metavar="MODEL", help="model file to write "
                              "(joblib); the other outputs are named after it and "
                              "its folder is created if needed (required)")
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
                      default=0.2, metavar="SHARE",
                      help="share of the pool held out for validation with the "
                      f"oracle, at most {MAX_VALIDATION_ROWS} rows")
    data.add_argument("--classes", metavar="A,B,...",
                      help="the full label set, comma separated (by default the "
                      "labels of the seed)")
    data.add_argument("--text-column", default="text", metavar="NAME",
                      help="column holding the texts")
    data.add_argument("--label-column", default="label", metavar="NAME",
                      help="column holding the labels")
    data.add_argument("--encoding", default="utf-8-sig",
                      help="encoding of the input files (UTF-8, with or without "
                      "a byte-order mark, by default)")
    method = parser.add_argument_group("method")
    method.add_argument("--model", help="the Claude model of --teacher anthropic "
                        f"(default: {_default_model()})")
    method.add_argument("--sampler", default="mraru", choices=SAMPLERS,
                        metavar="NAME", help=f"{', '.join(SAMPLERS)}")
    method.add_argument("--student", default="tfidf-logreg", metavar="NAME",
                        help=f"{', '.join(STUDENTS)} (static-logreg needs the static "
                        "extra, the last two the text extra), or module:attribute")
    method.add_argument("--batch-size", type=integer(1), default=25, metavar="N",
                        help="teacher labels per round")
    method.add_argument("--stop", choices=("none", "auto"), default="none",
                        help="auto: stop paying when the student stops "
                        "learning (skakd.stopping.default(): its predictions "
                        "on a stop set drawn from the pool would barely change "
                        "if the labelled set doubled); a budget is still "
                        "required")
    method.add_argument("--batch-api", action="store_true",
                        help="send each round to Claude as a Message Batch: "
                        "half the price, answers within minutes to hours "
                        "(--teacher anthropic only)")
    method.add_argument("--random-state", type=integer(0, 2**32 - 1), default=0,
                        metavar="SEED", help="seed of every random choice")
    if outputs:
        out = parser.add_argument_group("output")
        again = out.add_mutually_exclusive_group()
        again.add_argument("--resume", action="store_true", help="continue the "
                           "run recorded for --out, paying nothing twice")
        again.add_argument("--force", action="store_true", help="start a new run "
                           "even if --out exists, replacing its outputs (the "
                           "cache is kept: answers paid for are reused)")
        out.add_argument("--cache", metavar="FILE",
                         help="SQLite file keeping every teacher answer "
                         "(by default <out stem>.cache.sqlite)")
        out.add_argument("--no-cache", action="store_true",
                         help="do not keep the teacher's answers")
        out.add_argument("--dry-run", action="store_true", help="rehearse "
                         "--teacher anthropic without a key or a cent: a local "
                         "fake of the API answers (the pool's labels if it has "
                         "them, else the nearest seed text's); writes the "
                         "prompts and prints the bill Claude would charge")
        out.add_argument("--quiet", action="store_true", help="no progress bar")


def _default_model():
    from ..teachers import AnthropicTeacher

    return inspect.signature(AnthropicTeacher).parameters["model"].default


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
        "lock": Path(f"{stem}.lock"),
        "prompts": Path(f"{stem}.dry-run.prompts.jsonl"),
    }


def run(args):
    """Run ``skakd distill``; return the process exit status."""
    if args.out is None:
        check_arguments(args, "distill", also_missing=["--out"])
    paths = output_paths(args.out)
    _check_lock(args, paths)
    if args.resume:
        _restore_settings(args, paths["run"])
    check_arguments(args, "distill")
    _check_outputs(args, paths)
    # Everything that can be checked without reading the data is checked
    # before it is read: a wrong name or a missing extra fails in a second.
    check_teacher(args.teacher, model=args.model)
    _check_credentials(args)
    student = make_student(args.student, args.random_state)
    new_folders = _take_lock(args, paths)
    try:
        return _run(args, paths, student)
    finally:
        paths["lock"].unlink(missing_ok=True)
        for folder in new_folders:  # made for the lock, and a run that failed
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _run(args, paths, student):
    inputs = load_inputs(args)
    if not args.dry_run:
        return _fit(args, paths, student, inputs, None)
    from ._dry_run import DryRun

    with DryRun(args, inputs) as dry:
        return _fit(args, paths, student, inputs, dry)


def _fit(args, paths, student, inputs, dry):
    teacher, cache = _teacher(args, inputs, paths, dry)
    clf = build_classifier(args, inputs, student, teacher,
                           callbacks=_callbacks(inputs, args))
    _start_outputs(args, paths, cache)
    _write_manifest(paths["run"], args, cache, "running")
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # Interruption is reported below, in the CLI's own words.
            warnings.filterwarnings("ignore", message="fit interrupted")
            clf.fit(inputs.seed_texts, inputs.seed_labels,
                    X_pool=None if args.sampler == "pgkd" else inputs.pool_texts)
    except BaseException:
        _write_manifest(paths["run"], args, cache, "failed", clf)
        raise
    interrupted = clf.termination_condition_ == "interrupted"
    status = "interrupted" if interrupted else "finished"
    summary = Summary(clf, args, inputs)
    _write_outputs(clf, summary, paths)
    _write_manifest(paths["run"], args, cache, status, clf)
    if dry is not None:
        n_sent = dry.write_prompts(paths["prompts"])
    _report(summary, paths, cache, status, time.perf_counter() - start)
    if dry is not None:
        _report_dry_run(dry, paths, args, n_sent)
    return 130 if status == "interrupted" else 0


def build_classifier(args, inputs, student, teacher, *, callbacks=None,
                     budget_labels=None):
    """The classifier a run fits (``budget_labels`` overrides the budgets:
    the pilot of ``estimate-cost --pilot-labels``)."""
    if budget_labels is None:
        max_rounds, max_labels, max_cost = (
            _max_rounds(args), args.budget_labels, args.budget_usd)
    else:
        max_rounds = math.ceil(budget_labels / args.batch_size)
        max_labels, max_cost = budget_labels, None
    return ActiveDistillationClassifier(
        student,
        teacher=teacher,
        sampler=make_sampler(args.sampler, args.batch_size),
        max_iter=max_rounds,
        max_labels=max_labels,
        max_cost=max_cost,
        classes=inputs.classes,
        callbacks=callbacks,
        random_state=args.random_state,
        verbose=0 if getattr(args, "quiet", True) else 1,
    )


def check_arguments(args, command, also_missing=(), need_budget=True):
    """Check what argparse cannot: options needed together, budgets."""
    missing = [f"--{name}" for name in ("seed", "pool", "teacher")
               if getattr(args, name) is None]
    if args.sampler == "pgkd" and args.teacher != "oracle" and "--pool" in missing:
        missing.remove("--pool")  # PGKD's teacher writes the training texts
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
    if (args.sampler == "pgkd" and args.teacher == "oracle"
            and args.budget_labels is None and args.max_rounds is None):
        raise InputError(
            "--budget-usd alone never stops --sampler pgkd with --teacher oracle "
            "(the oracle is free); add --budget-labels N or --max-rounds N."
        )
    if getattr(args, "dry_run", False) and args.teacher != "anthropic":
        raise InputError(
            f"--dry-run rehearses --teacher anthropic; --teacher {args.teacher} "
            "is called as it is (the oracle is free already)."
        )
    if args.batch_api and args.teacher != "anthropic":
        raise InputError(
            "--batch-api: only --teacher anthropic uses the Message Batches API."
        )


def _check_outputs(args, paths):
    """--out must be writable, and not hold another run unless told so."""
    check_output(paths["model"], "model.joblib")
    if args.cache is not None and not args.no_cache:
        check_output(args.cache, "cache.sqlite", "--cache")
    if args.resume or args.force:
        return
    if paths["run"].is_file():
        status = _recorded_status(paths["run"])
        raise InputError(
            f"--out {args.out}: a run is recorded there ({paths['run']}, "
            f"{status}); pass --resume to continue it (a larger budget extends "
            "it) or --force to start a new run in its place."
        )
    existing = [str(paths[key]) for key in OUTPUTS if paths[key].exists()]
    if existing:
        raise InputError(
            f"--out {args.out}: {', '.join(existing)} already exist"
            f"{'s' if len(existing) == 1 else ''}; pass --force to replace "
            f"{'it' if len(existing) == 1 else 'them'}, or choose another --out."
        )


def _check_lock(args, paths):
    """Refuse an --out that a live run holds (or one on another host)."""
    holder = _lock_holder(paths["lock"])
    if holder is not None and holder["alive"]:
        raise InputError(
            f"--out {args.out}: another skakd distill (pid {holder['pid']}, "
            f"started {holder['started']}) is writing this run; wait for it or "
            "choose another --out."
        )
    if holder is not None and holder["elsewhere"] and not args.resume:
        raise InputError(
            f"--out {args.out}: a skakd distill on {holder['host']} (pid "
            f"{holder['pid']}, started {holder['started']}) holds {paths['lock']}; "
            "if that run is gone, pass --resume to take it over, or delete the "
            "lock file."
        )


def _lock_holder(lock_path):
    """Who holds ``lock_path``: pid, host, start, whether alive; ``None`` if free.

    A process on this host is alive when ``os.kill(pid, 0)`` finds it; one on
    another host cannot be checked (``elsewhere``). An unreadable lock (a
    process killed while writing it) counts as a dead holder on this host.
    """
    try:
        holder = json.loads(lock_path.read_text(encoding="utf-8"))
        pid, host = int(holder["pid"]), str(holder["host"])
        started = str(holder.get("started", "at an unknown time"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return {"pid": "?", "host": socket.gethostname(), "started": "?",
                "alive": False, "elsewhere": False}
    elsewhere = host != socket.gethostname()
    alive = False
    if not elsewhere:
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        except PermissionError:  # someone else's process: alive
            alive = True
        except (OSError, OverflowError, ValueError):
            alive = False
    return {"pid": pid, "host": host, "started": started, "alive": alive,
            "elsewhere": elsewhere}


def _take_lock(args, paths):
    """Create ``<stem>.lock`` (pid, host, start time), taking over a stale one.

    ``_check_outputs`` refused a live holder; a dead one is replaced. Two
    processes taking over at once: ``O_EXCL`` lets one win, the other is
    refused as if the winner had been there first. Returns the folders
    created for it (to remove if the run writes nothing).
    """
    lock = paths["lock"]
    new_folders = []  # innermost first
    folder = paths["model"].absolute().parent
    while not folder.exists():
        new_folders.append(folder)
        folder = folder.parent
    create_folder(paths["model"])
    content = json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }).encode()
    for attempt in range(2):
        try:
            handle = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if attempt == 0 and not (_lock_holder(lock) or {}).get("alive"):
                lock.unlink(missing_ok=True)  # stale: its process is gone
                continue
            holder = _lock_holder(lock) or {"pid": "?", "started": "?"}
            raise InputError(
                f"--out {args.out}: another skakd distill (pid {holder['pid']}, "
                f"started {holder['started']}) is writing this run; wait for it "
                "or choose another --out."
            ) from None
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        return new_folders


def _recorded_status(manifest_path):
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8"))["status"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"


def _start_outputs(args, paths, cache):
    """Create the output folders; --force drops the outputs of the old run."""
    create_folder(paths["model"])
    if cache is not None:
        create_folder(cache, "--cache")
    if args.force:
        for key in OUTPUTS:
            paths[key].unlink(missing_ok=True)


def _check_credentials(args):
    credentials = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
    if args.dry_run:
        return
    if args.teacher == "anthropic" and not any(map(os.environ.get, credentials)):
        raise InputError(
            "--teacher anthropic needs an API key: set ANTHROPIC_API_KEY "
            "(skakd estimate-cost works without one)."
        )


def _max_rounds(args):
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


def _teacher(args, inputs, paths, dry=None):
    """The teacher and its cache file (``None`` with ``--no-cache``).

    Claude keeps its own cache (claims, in-flight Message Batches), so that
    ``--resume`` pays nothing already answered and collects the batches a
    killed run left in flight; other teachers are wrapped in CachedTeacher.
    """
    cache = None
    if not args.no_cache:
        cache = Path(args.cache) if args.cache is not None else paths["cache"]
    if args.teacher == "anthropic":
        if dry is not None and cache is not None:  # never replayed as Claude's
            from ._dry_run import cache_path

            cache = cache_path(cache)
        teacher = make_teacher(
            args.teacher, model=args.model, generate=args.sampler == "pgkd",
            cache=None if cache is None else str(cache), batch_api=args.batch_api,
            base_url=None if dry is None else dry.base_url,
            api_key=None if dry is None else dry.api_key,
        )
        return teacher, cache
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
    return cached_teacher(teacher, str(cache)), cache


def _callbacks(inputs, args):
    callbacks = []
    if inputs.val_texts is not None and len(inputs.val_texts):
        callbacks.append(Scoring(np.asarray(inputs.val_texts, dtype=object),
                                 np.asarray(inputs.val_labels), name=VALIDATION_KEY))
    if args.stop == "auto":
        from ..stopping import default

        callbacks.append(default())
    return callbacks or None


# -- resume ---------------------------------------------------------------


def _settings(args):
    settings = {name: getattr(args, name) for name in RUN_SETTINGS}
    for name in PATH_SETTINGS:
        if settings[name] is not None:
            settings[name] = str(Path(settings[name]).resolve())
    return settings


# What the teacher's answers cost, summed over the rounds of history_.
BILL_KEYS = ("input_tokens", "output_tokens", "cache_write_tokens",
             "cache_read_tokens", "n_requests", "n_unlabeled", "n_duplicates",
             "n_seed_duplicates")


def _bill(clf):
    """What this invocation paid the teacher, from ``clf.history_``.

    A failed round records what it paid before its error is raised; a fit
    that failed before its seed round has no history (an empty bill).
    """
    records = list(getattr(clf, "history_", None) or [])[1:]
    bill = {"teacher_cost_usd": float(getattr(clf, "teacher_cost_", 0.0) or 0.0)}
    keys = list(BILL_KEYS) + sorted({key for record in records for key in record
                                     if key.startswith("n_unlabeled_")})
    for key in keys:
        bill[key] = int(sum(record.get(key, 0) or 0 for record in records))
    return bill


def _write_manifest(path, args, cache, status, clf=None):
    manifest = {
        "status": status,
        "settings": _settings(args),
        "budgets": {name: getattr(args, name)
                    for name in ("budget_labels", "budget_usd", "max_rounds")},
        "cache": None if cache is None else str(Path(cache).resolve()),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "bill": _bill(clf),
        "dry_run": bool(args.dry_run),
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
    if manifest.get("dry_run", False) != args.dry_run:
        recorded_as = "a dry run (fake answers)" if not args.dry_run else "a real run"
        raise InputError(
            f"--resume: the run recorded in {manifest_path} is {recorded_as}; "
            f"resume it {'with' if not args.dry_run else 'without'} --dry-run, "
            "or start a new run with --force."
        )
    recorded = manifest["settings"]
    given = _settings(args)
    defaults = _defaults()
    differing = [
        name for name in RUN_SETTINGS
        if given[name] is not None and given[name] != defaults.get(name)
        and given[name] != recorded.get(name, defaults.get(name))
    ]
    if differing:
        raise InputError(
            "--resume: " + "; ".join(
                f"--{n.replace('_', '-')} is {given[n]!r} but the run recorded "
                f"in {manifest_path} used {recorded.get(n)!r}" for n in differing
            ) + ". Resume with the same settings, or start a new run."
        )
    for name in RUN_SETTINGS:  # runs recorded before a setting existed: default
        setattr(args, name, recorded.get(name, defaults.get(name)))
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


class Summary:
    """What a run did, in the command line's words: why it stopped, how much
    of the budget it used and why not all, and PGKD's validation split.

    PGKD moves ``validation_size_`` seed texts out of the labelled set before
    the first round, to score the student and steer the teacher each round;
    with ``refit_with_validation`` it appends them back after the last round
    (as ``"seed"`` rows of round 0) and refits the student with them.
    ``labels.csv`` marks those rows ``validation``, and writes them out even
    when they never went back.
    """

    def __init__(self, clf, args, inputs):
        self.clf, self.args = clf, args
        self.pool_rows = inputs.pool_rows
        self.n_seed = len(inputs.seed_texts)
        self.n_used = int(sum(record.get("n_queried", 0) for record in clf.history_))
        self.sources = np.asarray(clf.label_source_, dtype=object).copy()
        self.extra_validation = []  # (text, label) rows not in labeled_X_
        sampler = getattr(clf, "sampler_", None)
        self.n_validation = int(getattr(sampler, "validation_size_", 0) or 0)
        self.validation_refit = False
        if args.sampler == "pgkd" and self.n_validation:
            self._find_validation(inputs)

    def _find_validation(self, inputs):
        """Mark PGKD's validation rows (``validation_indices_`` of the seed):
        the last rows of ``labeled_X_`` if the final refit added them back,
        else extra rows for ``labels.csv``."""
        held_out = self.clf.sampler_.validation_indices_
        split = _pairs(inputs.seed_texts[held_out], inputs.seed_labels[held_out])
        tail = np.arange(max(len(self.sources) - len(held_out), 0), len(self.sources))
        added_back = _pairs(self.clf.labeled_X_[tail], self.clf.labeled_y_[tail])
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
        if reason == "max_cost":
            reached.append(f"--budget-usd {args.budget_usd:g}")
        if args.max_rounds is not None and clf.n_iter_ >= args.max_rounds:
            reached.append(f"--max-rounds {args.max_rounds}")
        if reason == "interrupted":
            return "interrupted (Ctrl-C)"
        if reached:
            return " and ".join(reached) + " reached"
        if reason == "max_iter":  # PGKD's round bound (see _max_rounds)
            return (f"--budget-labels {args.budget_labels} at --batch-size "
                    f"{args.batch_size} allows {clf.n_iter_} rounds")
        if reason == "pool_exhausted":
            return "the pool is used up (every pool text went to the teacher)"
        if reason == "early_stopping":
            return self._early_stop()
        if reason == "converged":
            return "the student stopped learning (--stop auto)"
        return reason

    def _early_stop(self):
        if self.args.sampler == "pgkd":
            return (f"PGKD stopped early: its validation loss had not improved "
                    f"for {self.clf.sampler_.patience} rounds")
        return "a callback stopped the run early"

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
        if reason == "pool_exhausted":
            return "the pool ran out first"
        if reason == "max_cost":
            return f"--budget-usd {args.budget_usd:g} was reached first"
        if reason == "interrupted":
            return "the run was interrupted"
        if reason == "early_stopping":
            return self._early_stop()
        if reason == "converged":
            return "the student stopped learning first (--stop auto)"
        if args.max_rounds is not None and clf.n_iter_ >= args.max_rounds:
            return f"--max-rounds {args.max_rounds} was reached first"
        if args.sampler == "pgkd":
            return self._screening()
        return reason

    def _screening(self):
        sampler = self.clf.sampler_
        rejected = {reason: count for reason, count in sampler.n_rejected_.items()
                    if count}
        asked = self.clf.n_iter_ * self.args.batch_size
        if rejected:
            details = ", ".join(f"{REJECTIONS.get(reason, reason)}: {count}"
                                for reason, count in rejected.items())
            return (f"PGKD keeps only the texts that pass its screening, and it "
                    f"dropped {sum(rejected.values())} of the {sampler.n_generated_} "
                    f"texts the teacher wrote ({details})")
        return (f"the teacher wrote {sampler.n_generated_} texts where "
                f"{asked} were asked for")

    def validation(self, labels_path):
        """PGKD's validation split, and where to find it."""
        if not (self.n_validation and self.args.sampler == "pgkd"):
            return None
        trained = ("the final student was trained on them too"
                   if self.validation_refit else "the student never trained on them")
        return (f"PGKD held out {self.n_validation} of the {self.n_seed} seed texts "
                "to score each round and steer the teacher (source=validation "
                f"in {labels_path}); {trained}")


# What PGKD's screening dropped (its n_rejected_ keys).
REJECTIONS = {
    "malformed": "malformed answers",
    "label": "labels outside the classes",
    "empty": "empty texts",
    "length": "texts too short or too long",
    "leak": "copies of validation texts",
    "duplicate": "duplicates",
    "near_duplicate": "near-duplicates",
    "surplus": "texts beyond the number asked for",
}


def _pairs(texts, labels):
    return [(str(text), str(label)) for text, label in zip(texts, labels)]


def _write_outputs(clf, summary, paths):
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
    rows = zip(clf.labeled_X_, clf.labeled_y_, summary.sources,
               clf.label_round_, pool_index)
    with RowWriter(path, ["text", "label", "source", "round", "pool_row"]) as out:
        out.write(
            {
                "text": text,
                "label": label,
                "source": source,
                "round": int(round_),
                "pool_row": "" if index < 0 else int(index),
            }
            for text, label, source, round_, index in rows
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

    cost = _FORECAST_FITS * clf.history_[-1].get("fit_seconds", 0.0)
    if cost > _FORECAST_LIMIT_S:
        print(f"skakd: the plot shows no forecast: cross-validating this "
              f"student would take about {cost / 60:.0f} min.", file=sys.stderr)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small folds of a small set
            return LearningCurveForecast(source="cv", random_state=0).fit(clf)
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


def _report_dry_run(dry, paths, args, n_sent):
    """What the dry run would have sent and cost, and where to see it."""
    from ._dry_run import N_PROMPTS

    usd, tokens, n_requests = dry.bill()
    print(
        f"dry run: nothing was sent to Claude; a local fake answered with "
        f"{dry.how}.\n"
        f"dry run: Claude would have been sent {n_requests} request"
        f"{'' if n_requests == 1 else 's'} ({tokens['input_tokens']:,} input, "
        f"{tokens['output_tokens']:,} output, "
        f"{tokens['cache_creation_input_tokens']:,} cache-write and "
        f"{tokens['cache_read_input_tokens']:,} cache-read tokens, counted "
        f"as characters / 4) for about ${usd:.4f}"
        f"{' at the Message Batches price' if args.batch_api else ''}.\n"
        f"dry run: the first {min(n_sent, N_PROMPTS)} request bodies are "
        f"in {paths['prompts']}; the model and labels come from the fake's "
        "answers (run.json says dry_run: true)."
    )


def _report(summary, paths, cache, status, seconds):
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
    for sentence in (summary.budget_use(), summary.validation(paths["labels"])):
        if sentence is not None:
            lines.append(sentence + ".")
    if clf.termination_condition_ == "converged":
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
