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

``--teacher local,anthropic`` is a cascade, cheapest first: a stage's label
is final at ``--min-confidence`` or above, the others go on to the next
stage; ``--review-out FILE`` puts a person last (the texts no teacher was
sure of wait in FILE for a person's labels, which ``--resume`` reads back), and
``--review-in FILE`` takes a person's labels before any teacher is asked.
The summary says what each stage labelled and cost.
"""

import contextlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .. import reasons
from ..callbacks import Scoring
from ._cascade import (
    build_cascade,
    check_stages,
    confidence_note,
    is_cascade,
    plan_stages,
)
from ._dry_run import DryRun, cache_path
from ._inputs import load_inputs
from ._io import InputError, RunFailed
from ._options import (
    PAID_TEACHERS,
    build_classifier,
    check_arguments,
    generates,
    pool_to_fit,
)
from ._options import add_arguments as add_shared_arguments
from ._registry import LLM_TEACHERS, is_local, make_student, make_teacher, serve_local
from ._run_files import (
    check_lock,
    check_outputs,
    output_paths,
    restore_settings,
    resume_note,
    start_outputs,
    take_lock,
    write_manifest,
)
from ._summary import (
    VALIDATION_KEY,
    Summary,
    describe,
    failure,
    report,
    report_dry_run,
    write_outputs,
)

__all__ = ["USAGE", "add_arguments", "run"]

USAGE = (
    "%(prog)s {--seed FILE | --classes FILE} --pool FILE --teacher NAME --out MODEL\n"
    "       {--budget-labels N | --budget-usd USD | --max-rounds N} [options]"
)


def add_arguments(parser):
    """The shared options, ``--out`` and the options of a run's files."""
    groups = add_shared_arguments(parser)
    required = groups["required"]
    required.description = (
        "--pool may be left out with --sampler pgkd and a teacher that writes "
        "texts;\n--seed may be left out with --classes (a cold start);\n"
        "--resume reads all four from the recorded run.")
    required.add_argument("--out", metavar="MODEL", help="model file to write "
                          "(joblib); the other outputs are named after it and "
                          "its folder is created if needed (required)")
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
                     "--teacher anthropic or openai (each such stage of a "
                     "cascade) without a key or a cent: a local fake of the "
                     "API answers (the pool's labels if it has them, else the "
                     "nearest seed text's); writes the prompts and prints the "
                     "bill the API would charge")
    out.add_argument("--quiet", action="store_true", help="no progress bar")
    review = parser.add_argument_group(
        "a person at the end of the cascade",
        "Texts no teacher was sure of go to a person through a file; the "
        "person's labels\ncome back as the teacher human, and no teacher is "
        "paid for those texts again.")
    review.add_argument("--review-out", metavar="FILE", help="write the texts "
                        "no teacher was sure of (below --min-confidence) to "
                        "FILE (CSV text,label, or JSONL by its name) for a "
                        "person to label; they stay unlabelled until the "
                        "person fills in their label, which every later run or "
                        "--resume reads back")
    review.add_argument("--review-in", metavar="FILE", help="a review file a "
                        "person filled in: its labelled texts are answered "
                        "from it first, never sent to a teacher")


def run(args):
    """Run ``skakd distill``; return the process exit status."""
    if args.out is None:
        check_arguments(args, "distill", also_missing=["--out"])
    paths = output_paths(args.out)
    check_lock(args, paths)
    if args.resume:
        restore_settings(args, paths["run"])
    check_arguments(args, "distill")
    check_outputs(args, paths)
    # Everything that can be checked without reading the data is checked
    # before it is read: a wrong name or a missing extra fails in a second.
    check_stages(args)
    _check_credentials(args)
    student = make_student(args.student, args.random_state,
                           getattr(args, "multi_label", False))
    new_folders = take_lock(args, paths)
    if args.resume and not args.quiet:
        print(resume_note(paths, args.cache), file=sys.stderr)
    if is_cascade(args):  # what its confidence costs, said before paying
        print(confidence_note(args), file=sys.stderr)
    try:
        return _run(args, paths, student)
    finally:
        paths["lock"].unlink(missing_ok=True)
        for folder in new_folders:  # made for the lock, and a run that failed
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()


def _run(args, paths, student):
    inputs = load_inputs(args)
    with contextlib.ExitStack() as stack:
        # Each stage's server, by stage: a local model served for this run
        # alone, or a dry run's fake of a paid API.
        servers = {i: stack.enter_context(serve_local(stage.model))
                   for i, stage in enumerate(plan_stages(args))
                   if stage.kind == "local"}
        dry = None
        if args.dry_run:
            dry = stack.enter_context(DryRun(args, inputs))
            servers.update(dry.servers)
        return _fit(args, paths, student, inputs, servers, dry)


def _fit(args, paths, student, inputs, servers, dry):
    """Fit and report; ``servers`` answer the stages they are given for (a
    dry run's fakes, a local model), the others ask their own API."""
    teacher, cache = _teacher(args, inputs, paths, servers)
    clf = build_classifier(args, inputs, student, teacher,
                           callbacks=_callbacks(inputs, args))
    start_outputs(args, paths, cache)
    write_manifest(paths["run"], args, cache, "running")
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # Interruption is reported below, in the CLI's own words.
            warnings.filterwarnings("ignore", message="fit interrupted")
            # Texts awaiting review are the summary's to report, with the file.
            warnings.filterwarnings("ignore", message=r"the teacher could not label "
                                    r"some items \(\d+ awaiting_review this round\)")
            clf.fit(inputs.seed_texts, inputs.seed_labels,
                    X_pool=pool_to_fit(clf, inputs))
    except Exception as exc:
        write_manifest(paths["run"], args, cache, "failed", clf)
        raise RunFailed(_keep_completed_rounds(exc, clf, args, inputs, paths,
                                               cache)) from exc
    except BaseException:
        write_manifest(paths["run"], args, cache, "failed", clf)
        raise
    interrupted = clf.termination_condition_ == reasons.INTERRUPTED
    status = "interrupted" if interrupted else "finished"
    summary = Summary(clf, args, inputs)
    write_outputs(clf, summary, paths)
    write_manifest(paths["run"], args, cache, status, clf)
    if dry is not None:
        n_sent = dry.write_prompts(paths["prompts"])
    report(summary, paths, cache, status, time.perf_counter() - start)
    if dry is not None:
        report_dry_run(dry, paths, args, n_sent)
    if clf.termination_condition_ == reasons.LABELS_REJECTED:
        return 1  # the model is written, but the run could not do its job
    return 130 if status == "interrupted" else 0


def _keep_completed_rounds(exc, clf, args, inputs, paths, cache):
    """Write what the completed rounds learned; return the failure's line."""
    if not hasattr(clf, "history_"):  # it failed before the seed student
        return describe(exc)
    write_outputs(clf, Summary(clf, args, inputs), paths)
    return failure(exc, clf, paths, cache)


def _check_credentials(args):
    if args.dry_run:
        return
    for stage in plan_stages(args):
        if stage.kind not in LLM_TEACHERS:
            continue
        keys = LLM_TEACHERS[stage.kind][2]
        if stage.kind == "openai" and is_local(stage.base_url):
            continue  # a server of this machine needs no key
        if keys and not any(map(os.environ.get, keys)):
            raise InputError(
                f"--teacher {stage.kind} needs an API key: set {keys[0]} "
                "(skakd estimate-cost works without one)."
            )


def _teacher(args, inputs, paths, servers):
    """The teacher (a cascade's stages, the person's included) and its cache
    file (``None`` with ``--no-cache``).

    An LLM teacher keeps its own cache (claims, batches in flight), so that
    ``--resume`` pays nothing already answered and collects the batches a
    killed run left in flight; other teachers are wrapped in CachedTeacher.
    The stages of a cascade share the file (an answer is kept under its
    model's key). ``servers`` are where stages are served instead of their
    API: a dry run's fakes, or the local model.
    """
    cache = None
    if not args.no_cache:
        cache = Path(args.cache) if args.cache is not None else paths["cache"]
    if args.dry_run and cache is not None:  # never replayed as the model's
        cache = cache_path(cache)
    teachers = [_stage_teacher(args, inputs, stage, cache, servers.get(i))
                for i, stage in enumerate(plan_stages(args))]
    if not is_cascade(args):
        return teachers[0], cache
    return build_cascade(args, teachers), cache


def _stage_teacher(args, inputs, stage, cache, server):
    """The teacher of one stage, with its cache."""
    if stage.kind in LLM_TEACHERS:
        model, base_url = stage.model, stage.base_url
        if server is not None:
            model = server.model if stage.kind == "local" else model
            base_url = server.base_url
        return make_teacher(
            stage.kind, model=model, generate=generates(args),
            cache=None if cache is None else str(cache),
            batch_api=args.batch_api and stage.kind in PAID_TEACHERS,
            base_url=base_url, api_key=getattr(server, "api_key", None),
            price=stage.price, class_descriptions=inputs.class_descriptions,
            examples=inputs.class_examples, confidence=stage.confidence,
        )
    teacher = make_teacher(stage.kind, pool_texts=inputs.pool_texts,
                           pool_labels=inputs.pool_labels, model=stage.model,
                           generate=generates(args), random_state=args.random_state)
    if cache is None:
        return teacher
    from ..teachers import CachedTeacher

    return CachedTeacher(teacher, str(cache))


def _callbacks(inputs, args):
    callbacks = []
    if inputs.val_texts is not None and len(inputs.val_texts):
        if getattr(args, "multi_label", False):  # label tuples stay one item each
            labels = np.empty(len(inputs.val_labels), dtype=object)
            labels[:] = list(inputs.val_labels)
        else:
            labels = np.asarray(inputs.val_labels)
        callbacks.append(Scoring(np.asarray(inputs.val_texts, dtype=object),
                                 labels, name=VALIDATION_KEY))
    if args.stop == "auto":
        from ..stopping import default

        callbacks.append(default())
    return callbacks or None
