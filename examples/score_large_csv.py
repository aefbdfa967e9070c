"""Score a large CSV with a persisted model, in constant memory.

Distils a small TREC student (or loads one with ``--model``), saves it with
joblib, writes a CSV of ``--rows`` questions, and scores it chunk by chunk:
only one chunk of texts is in memory at a time, however large the file.
``skakd predict model.joblib input.csv --out predictions.csv`` does the same
from the command line.

    python examples/score_large_csv.py --rows 1000000
"""

import argparse
import csv
import itertools
import resource
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np

from skakd import ActiveDistillationClassifier
from skakd.datasets import load_dataset
from skakd.teachers import OracleTeacher


def train(path):
    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = np.concatenate([np.flatnonzero(y == c)[:5] for c in data.classes])
    clf = ActiveDistillationClassifier(teacher=OracleTeacher(X, y), max_iter=10,
                                       random_state=0)
    clf.fit(X[seed], y[seed], X_pool=X[1000:])
    joblib.dump(clf, path)


def write_texts(path, n_rows):
    texts = load_dataset("trec").X_test
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows((i, texts[i % len(texts)]) for i in range(n_rows))


def score(model, source, target, chunk_size):
    """Read, predict and write ``chunk_size`` rows at a time; return the count."""
    n_rows = 0
    with open(source, newline="", encoding="utf-8") as fin, \
            open(target, "w", newline="", encoding="utf-8") as fout:
        reader, writer = csv.DictReader(fin), csv.writer(fout)
        writer.writerow(["id", "prediction", "confidence"])
        while chunk := list(itertools.islice(reader, chunk_size)):
            proba = model.predict_proba([row["text"] for row in chunk])
            labels = model.classes_[proba.argmax(axis=1)]
            writer.writerows(
                (row["id"], label, f"{p:.4f}")
                for row, label, p in zip(chunk, labels, proba.max(axis=1))
            )
            n_rows += len(chunk)
    return n_rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model file (default: distil one)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--workdir", default=None,
                        help="where the files go (default: a temporary folder)")
    args = parser.parse_args(argv)

    workdir = Path(args.workdir or tempfile.mkdtemp())
    model_path = Path(args.model) if args.model else workdir / "trec.joblib"
    if not args.model:
        train(model_path)
    source, target = workdir / "questions.csv", workdir / "predictions.csv"
    write_texts(source, args.rows)

    model = joblib.load(model_path)
    start = time.perf_counter()
    n_rows = score(model, source, target, args.chunk_size)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scored {n_rows} rows in {seconds:.1f} s ({n_rows / seconds:,.0f} rows/s); "
          f"peak memory {peak:.0f} MiB; wrote {target}")
    return target


if __name__ == "__main__":
    main()
