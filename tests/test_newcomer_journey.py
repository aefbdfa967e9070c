"""The newcomer's journey on a data set of their own (issue 31): the README's
Python API and the command line (distill, predict, estimate-cost) run with
no traceback and no warning that points inside skakd."""

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

import skakd
from skakd import ActiveDistillationClassifier
from skakd.callbacks import Scoring
from skakd.cli import main
from skakd.sampling import MRARU

PACKAGE = str(Path(skakd.__file__).parent)

TOPICS = {
    "Billing": ["invoice", "charge", "refund", "payment", "bill"],
    "Shipping": ["parcel", "delivery", "courier", "package", "tracking"],
    "Account": ["password", "login", "profile", "username", "email"],
}
FRAMES = ["my {} is wrong", "question about the {}", "help with my {} please",
          "where is the {}", "I need to change the {}", "problem with {} today",
          "the {} does not work", "can you check my {}"]


def make_dataset(n, seed):
    """``n`` short support messages of three classes, and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(sorted(TOPICS), size=n)
    texts = [f"{rng.choice(FRAMES).format(rng.choice(TOPICS[label]))} #{i}"
             for i, label in enumerate(labels)]
    return np.array(texts, dtype=object), labels


def skakd_warnings(caught):
    return [f"{w.filename}:{w.lineno}: {w.message}" for w in caught
            if w.filename.startswith(PACKAGE)]


def test_python_api_journey_warns_nothing_from_inside_skakd():
    X, y = make_dataset(400, 0)
    X_test, y_test = make_dataset(100, 1)
    seed = np.concatenate([np.flatnonzero(y == c)[:2] for c in TOPICS])
    pool = np.setdiff1d(np.arange(len(y)), seed)
    truth = dict(zip(X, y))
    # Real data has blank rows, and a teacher that answers in lower case.
    X_pool = np.concatenate([X[pool], np.array(["", "  "], dtype=object)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = ActiveDistillationClassifier(
            teacher=lambda items: [truth[t].lower() for t in items],
            sampler=MRARU(batch_size=20), max_labels=60,
            callbacks=[Scoring(X_test, y_test)], random_state=0,
        ).fit(X[seed], y[seed], X_pool=X_pool)
        predictions = clf.predict(X_test)
        clf.predict_proba(["where is my parcel"])
    assert skakd_warnings(caught) == []
    assert [(w.filename, "2 blank" in str(w.message)) for w in caught] == [
        (__file__, True)]
    assert sum(clf.history_[:, "n_loose_labels"][1:]) == 60
    assert clf.termination_condition_ == "max_labels"
    assert set(predictions) <= set(TOPICS)
    assert clf.score(X_test, y_test) > 0.5


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_command_line_journey_has_no_traceback_and_no_warning(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    X, y = make_dataset(400, 0)
    X_new, _ = make_dataset(50, 2)
    seed = np.concatenate([np.flatnonzero(y == c)[:2] for c in TOPICS])
    pool = np.setdiff1d(np.arange(len(y)), seed)
    seed_csv = write_csv(tmp_path / "seed.csv", ["text", "label"], zip(X[seed], y[seed]))
    pool_csv = write_csv(tmp_path / "pool.csv", ["text", "label"], zip(X[pool], y[pool]))
    new_csv = write_csv(tmp_path / "new.csv", ["id", "text"], enumerate(X_new))
    model = str(tmp_path / "support.joblib")
    commands = [
        ["estimate-cost", "--seed", seed_csv, "--pool", pool_csv, "--teacher",
         "oracle", "--budget-labels", "60"],
        ["distill", "--seed", seed_csv, "--pool", pool_csv, "--teacher", "oracle",
         "--budget-labels", "60", "--batch-size", "20", "--quiet", "--out", model],
        ["predict", model, new_csv, "--out", str(tmp_path / "scores.csv"), "--proba"],
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for argv in commands:
            assert main(argv) == 0, argv
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "warning" not in err.lower(), err
    assert skakd_warnings(caught) == []
    with open(tmp_path / "scores.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50 and {r["prediction"] for r in rows} <= set(TOPICS)
