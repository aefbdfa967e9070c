"""What every benchmark writes: machine info, JSON and CSV files, markdown
tables and the generated section of a docs page."""

import csv
import datetime
import gzip
import json
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

__all__ = [
    "DOCS",
    "RESULTS",
    "ROOT",
    "append_run",
    "command_line",
    "fmt",
    "machine_info",
    "markdown_table",
    "read_runs",
    "runs_file",
    "write_csv",
    "write_generated",
    "write_json",
]

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "benchmarks"
# The libraries whose speed or behaviour the benchmarks measure.
LIBRARIES = ("skakd", "numpy", "scipy", "scikit-learn", "torch", "transformers",
             "anthropic", "small-text", "modAL-python")
END_GENERATED = "<!-- END GENERATED -->"


def machine_info():
    """When and where a result was measured.

    UTC time, CPU cores, load average, CPU model, Python, platform and the
    versions of :data:`LIBRARIES` that are installed. The benchmarks run on
    machines shared with other jobs, so the load average goes with every
    timing.
    """
    return {
        "timestamp_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": _versions(),
    }


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or platform.machine()


def _versions():
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def command_line(module, argv=None):
    """The command that reproduces a run of ``benchmarks.<module>``.

    ``argv`` are the arguments the benchmark's ``main`` got (None: the
    process's own, ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([f"python -m benchmarks.{module}", shlex.join(args)]).strip()


def runs_file(path):
    """The per-run log to read and append to: ``path``, or ``path.gz`` when
    only that is there (logs over 1 MB are committed gzip-compressed; the
    benchmarks read and extend them as they are)."""
    path = Path(path)
    compressed = path.with_name(path.name + ".gz")
    return compressed if compressed.is_file() and not path.is_file() else path


def _open_text(path, mode):
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return path.open(mode, encoding="utf-8")


def read_runs(path):
    """The records of a per-run JSONL log (see :func:`runs_file`); ``[]``
    when there is none yet."""
    path = runs_file(path)
    if not path.is_file():
        return []
    with _open_text(path, "r") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def append_run(path, record):
    """Append one record to a per-run JSONL log (see :func:`runs_file`); a
    gzip log grows by a new gzip member, which gzip readers join."""
    path = runs_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_text(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def write_json(path, payload, indent=1):
    """Write ``payload`` as indented JSON (numpy scalars and arrays converted)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=indent, default=_to_builtin)


def _to_builtin(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_csv(path, rows, fields=None):
    """Write dicts as CSV; ``fields`` default to every key, in first-seen order."""
    if fields is None:
        fields = list(dict.fromkeys(key for row in rows for key in row))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def fmt(value, pattern="{:.3f}", missing="—"):
    """``pattern.format(value)``, or ``missing`` for None."""
    return missing if value is None else pattern.format(value)


def markdown_table(header, rows, align=None):
    """The lines of a markdown table.

    ``rows`` are sequences of cells (formatted already); ``align`` is a
    string with one ``"l"`` or ``"r"`` per column (None: no alignment).
    """
    rule = ["---:" if a == "r" else "---" for a in (align or "l" * len(header))]
    return [_table_row(header), "|" + "|".join(rule) + "|",
            *(_table_row(row) for row in rows)]


def _table_row(cells):
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def write_generated(path, lines, source):
    """Put ``lines`` in the generated section of the page ``path``.

    The section runs from ``<!-- BEGIN GENERATED by {source} -->`` to the
    next ``<!-- END GENERATED -->``; the hand-written text around it is
    kept. A page without the markers gets the section at its end, a missing
    page is created with only the section.
    """
    begin = f"<!-- BEGIN GENERATED by {source} -->"
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    head, found, rest = old.partition(begin)
    if found and END_GENERATED in rest:
        tail = rest.split(END_GENERATED, 1)[1]
    else:
        head, tail = (old + "\n" if old else ""), "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + "\n".join([begin, *lines, END_GENERATED]) + tail,
                    encoding="utf-8")
