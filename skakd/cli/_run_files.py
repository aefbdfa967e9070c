"""The files of a run besides its outputs: paths, the lock, the manifest.

Every file a run writes is named after the model file (:func:`output_paths`).
``<stem>.lock`` marks a run in progress, so that a second ``skakd distill``
on the same ``--out`` is refused while it lives. ``<stem>.run.json``, the
manifest, records the settings, the status and the teacher's bill; it is
what ``--resume`` reads.
"""

import json
import os
import socket
import time
from pathlib import Path

from .._process import is_alive
from ._cascade import is_cascade, stage_names
from ._io import InputError, check_output, create_folder
from ._options import DEFAULTS

__all__ = [
    "OUTPUTS",
    "RUN_SETTINGS",
    "check_lock",
    "check_outputs",
    "output_paths",
    "restore_settings",
    "resume_note",
    "start_outputs",
    "take_lock",
    "write_manifest",
]

# Settings that decide what a run does: --resume refuses to mix runs that
# differ in any of them. Budgets may change (raising one continues a run).
RUN_SETTINGS = (
    "seed", "pool", "validation", "teacher", "model", "sampler", "student",
    "batch_size", "validation_size", "classes", "text_column", "label_column",
    "random_state", "batch_api", "stop", "base_url", "price", "min_confidence",
    "review_out",
)
PATH_SETTINGS = ("seed", "pool", "validation", "review_out", "review_in")
# Settings a resumed run may add or change (recorded, restored when not given):
# a person's labels read first change who answers, never what was paid.
FREE_SETTINGS = ("review_in",)
# What a run writes (next to the cache, which outlives runs).
OUTPUTS = ("model", "labels", "history", "plot", "run", "prompts")
# What the teacher's answers cost, summed over the rounds of history_.
BILL_KEYS = ("input_tokens", "output_tokens", "cache_write_tokens",
             "cache_read_tokens", "n_requests", "n_unlabeled", "n_duplicates",
             "n_seed_duplicates")
# A cascade's counters per stage (``n_stage_<i>``...), summed the same way.
_STAGE_COUNTERS = ("n_stage_", "cost_stage_", "n_asked_stage_", "n_escalated")


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


def check_outputs(args, paths):
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


def start_outputs(args, paths, cache):
    """Create the output folders; --force drops the outputs of the old run."""
    create_folder(paths["model"])
    if cache is not None:
        create_folder(cache, "--cache")
    if args.force:
        for key in OUTPUTS:
            paths[key].unlink(missing_ok=True)


# -- the lock ---------------------------------------------------------------


def check_lock(args, paths):
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

    A process on another host cannot be checked (``elsewhere``). An
    unreadable lock (a process killed while writing it) counts as a dead
    holder on this host.
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
    return {"pid": pid, "host": host, "started": started,
            "alive": not elsewhere and is_alive(pid), "elsewhere": elsewhere}


def take_lock(args, paths):
    """Create ``<stem>.lock`` (pid, host, start time), taking over a stale one.

    :func:`check_lock` refused a live holder; a dead one is replaced. Two
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


# -- the manifest and --resume -----------------------------------------------


def resume_note(paths, cache):
    """What ``--resume`` does before its first new round, said up front: the
    pool is read and the recorded rounds replayed, which may take minutes
    with nothing else to show."""
    try:
        history = json.loads(paths["history"].read_text(encoding="utf-8"))
        n_rounds = sum("error" not in record for record in history[1:])
        rounds = f"its {n_rounds} recorded round{'' if n_rounds == 1 else 's'}"
    except (OSError, ValueError):  # a run killed before it wrote one
        rounds = "the rounds already paid for"
    return (f"skakd distill: resuming {paths['model']}: reading the inputs, then "
            f"replaying {rounds} from {cache} (free, nothing is sent "
            "again) before going on.")


def _recorded_status(manifest_path):
    try:
        return json.loads(manifest_path.read_text(encoding="utf-8"))["status"]
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"


def _settings(args):
    settings = {name: getattr(args, name, None)
                for name in RUN_SETTINGS + FREE_SETTINGS}
    if settings["price"] is not None:  # as JSON keeps it
        settings["price"] = list(settings["price"])
    for name in PATH_SETTINGS:
        if settings[name] is not None:
            settings[name] = str(Path(settings[name]).resolve())
    return settings


def _bill(clf):
    """What this invocation paid the teacher, from ``clf.history_``.

    A failed round records what it paid before its error is raised; a fit
    that failed before its seed round has no history (an empty bill). Round
    0 counts what a cold start (a run without a seed) paid.
    """
    records = list(getattr(clf, "history_", None) or [])
    bill = {"teacher_cost_usd": float(getattr(clf, "teacher_cost_", 0.0) or 0.0)}
    keys = list(BILL_KEYS) + sorted({key for record in records for key in record
                                     if key.startswith("n_unlabeled_")})
    keys += sorted({key for record in records for key in record
                    if key.startswith(_STAGE_COUNTERS)})
    for key in keys:
        total = sum(record.get(key, 0) or 0 for record in records)
        bill[key] = float(total) if key.startswith("cost_") else int(total)
    return bill


def write_manifest(path, args, cache, status, clf=None):
    """Record the run in ``path``: settings, budgets, cache, status, bill."""
    manifest = {
        "status": status,
        "settings": _settings(args),
        "budgets": {name: getattr(args, name)
                    for name in ("budget_labels", "budget_usd", "max_rounds")},
        "cache": None if cache is None else str(Path(cache).resolve()),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "bill": _bill(clf),
        # Whose counters n_stage_<i>, cost_stage_<i>... of the bill are.
        "stages": stage_names(args) if is_cascade(args) else None,
        "dry_run": bool(args.dry_run),
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def restore_settings(args, manifest_path):
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
    differing = [
        name for name in RUN_SETTINGS
        if given[name] is not None and given[name] != DEFAULTS.get(name)
        and given[name] != recorded.get(name, DEFAULTS.get(name))
    ]
    if differing:
        raise InputError(
            "--resume: " + "; ".join(
                f"--{n.replace('_', '-')} is {given[n]!r} but the run recorded "
                f"in {manifest_path} used {recorded.get(n)!r}" for n in differing
            ) + ". Resume with the same settings, or start a new run."
        )
    for name in RUN_SETTINGS:  # runs recorded before a setting existed: default
        setattr(args, name, recorded.get(name, DEFAULTS.get(name)))
    for name in FREE_SETTINGS:
        if getattr(args, name, None) is None:
            setattr(args, name, recorded.get(name))
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
