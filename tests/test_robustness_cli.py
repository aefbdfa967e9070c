"""A failed ``skakd distill`` ends in one line that names the cause, writes
what the completed rounds learned and says how to continue (issue 31)."""

import csv
import json

import numpy as np
import pytest

from skakd.cli import main
from skakd.datasets import load_dataset

pytest.importorskip("openai")


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def trec(tmp_path_factory):
    """trec with two seed texts per class, and a labelled pool."""
    folder = tmp_path_factory.mktemp("robust_cli")
    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = np.concatenate([np.flatnonzero(y == c)[:2] for c in data.classes])
    pool = np.setdiff1d(np.arange(300), seed)
    return {"seed": write_csv(folder / "seed.csv", zip(X[seed], y[seed])),
            "pool": write_csv(folder / "pool.csv", zip(X[pool], y[pool]))}


def one_line(capsys, *needles):
    """stderr ends in one line naming every needle (progress bars, e.g. the
    plot's forecast, may come before it), with no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    err = err.strip().splitlines()[-1]
    assert err.startswith("skakd distill: error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def test_a_teacher_failure_mid_run_keeps_the_rounds_and_names_resume(
        trec, tmp_path, capsys, monkeypatch):
    from skakd.teachers.testing import FakeOpenAI, Fault

    out = tmp_path / "m.joblib"
    argv = ["distill", "--seed", trec["seed"], "--pool", trec["pool"],
            "--teacher", "openai", "--model", "gpt-4.1-mini", "--sampler",
            "random", "--batch-size", "10", "--budget-labels", "40", "--quiet",
            "--out", str(out)]
    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        argv += ["--base-url", server.base_url]
        server.script(Fault(), Fault(), Fault(status=401))
        assert main(argv) == 1
        err = one_line(capsys, "round 3 failed: AuthenticationError",
                       "the model, labels and history of the 2 completed rounds",
                       f"skakd distill --out {out} --resume",
                       "not paid for again")
        assert "history_" not in err and "labeled_X_" not in err
        history = json.loads(out.with_suffix(".history.json").read_text())
        assert [r["round"] for r in history] == [0, 1, 2, 3]  # 3: its bill
        assert history[-1]["error"] == "AuthenticationError"
        with open(out.with_suffix(".labels.csv"), encoding="utf-8") as handle:
            assert sum(r["source"] == "teacher" for r in csv.DictReader(handle)) == 20
        assert json.loads(out.with_suffix(".run.json").read_text())["status"] == "failed"

        paid = len(server.requests)
        assert main(["distill", "--out", str(out), "--resume"]) == 0
        err = capsys.readouterr().err
        assert (f"resuming {out}: reading the inputs, then replaying its 2 "
                "recorded rounds") in err.splitlines()[0]
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert history[-1]["n_labeled"] == 12 + 40
    assert sum(r["n_cached"] for r in history[1:]) >= 20  # the 2 rounds, free
    assert len(server.requests) - paid == 2  # only the 2 rounds left


def test_pgkd_runs_from_two_seed_texts_per_class(trec, tmp_path, capsys):
    out = tmp_path / "pgkd.joblib"
    assert main(["distill", "--seed", trec["seed"], "--pool", trec["pool"],
                 "--teacher", "oracle", "--sampler", "pgkd", "--batch-size",
                 "12", "--budget-labels", "24", "--quiet", "--no-cache",
                 "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "PGKD held out 6 of the 12 seed texts" in report


def test_pgkd_with_one_seed_text_per_class_says_what_it_needs(tmp_path, capsys):
    seed = write_csv(tmp_path / "seed.csv", [("good movie", "a"), ("bad film", "b")])
    pool = write_csv(tmp_path / "pool.csv", [("great", "a"), ("awful", "b")])
    assert main(["distill", "--seed", seed, "--pool", pool, "--teacher", "oracle",
                 "--sampler", "pgkd", "--budget-labels", "4", "--no-cache",
                 "--quiet", "--out", str(tmp_path / "m.joblib")]) == 1
    err = one_line(capsys, "at least two examples of some class")
    assert "validation_fraction" not in err


def test_all_rejected_answers_stop_the_command_with_its_own_words(
        trec, tmp_path, capsys):
    (tmp_path / "teach.py").write_text(
        "def weather(items):\n    return ['Weather'] * len(items)\n")
    out = tmp_path / "m.joblib"
    assert main(["distill", "--seed", trec["seed"], "--pool", trec["pool"],
                 "--teacher", f"{tmp_path / 'teach.py'}:weather", "--batch-size",
                 "10", "--budget-labels", "30", "--quiet", "--no-cache",
                 "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "finished after 1 round" in captured.out
    assert "name the teacher's labels with --classes" in captured.out
    warning = captured.err.strip()
    assert warning.startswith("skakd distill: warning: every answer of round 1")
    assert "--classes" in warning and "classes=" not in warning
    assert len(warning.splitlines()) == 1
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert sum(r["n_queried"] for r in history) == 10  # not the whole budget


STUDENT = """
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

FITS = []


class Interrupted(Pipeline):
    def fit(self, X, y, **params):
        FITS.append(len(y))
        if len(FITS) == 3:  # Ctrl-C while refitting after round 2
            raise KeyboardInterrupt
        return super().fit(X, y, **params)


def student():
    return Interrupted([("tfidf", TfidfVectorizer()),
                        ("logreg", LogisticRegression(max_iter=1000))])
"""


def test_the_summary_after_ctrl_c_tells_one_story(trec, tmp_path, capsys,
                                                  monkeypatch):
    (tmp_path / "interrupting.py").write_text(STUDENT)
    monkeypatch.syspath_prepend(str(tmp_path))  # the model file pickles it
    out = tmp_path / "m.joblib"
    assert main(["distill", "--seed", trec["seed"], "--pool", trec["pool"],
                 "--teacher", "oracle", "--sampler", "random", "--student",
                 "interrupting:student", "--batch-size", "10",
                 "--budget-labels", "100", "--validation-size", "0", "--quiet",
                 "--out", str(out)]) == 130
    report = capsys.readouterr().out
    assert "labelled texts: 22 (12 seed, 10 labelled by the teacher)" in report
    assert "--budget-labels: 10 of 100 labels used" in report
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert history[-1]["n_labeled"] == 22
    assert sum(r["n_queried"] for r in history) == 10
