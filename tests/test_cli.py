"""The ``skakd`` command: end to end in subprocesses, bad inputs in-process."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from skakd.cli import _predict, main
from skakd.datasets import load_dataset

REPO = Path(__file__).resolve().parents[1]


def write_csv(path, header, rows, encoding="utf-8"):
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """trec: a seed with 3 examples per class, a labelled pool, new texts."""
    folder = tmp_path_factory.mktemp("cli")
    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    order = np.random.default_rng(0).permutation(len(y))
    seed = np.concatenate([order[y[order] == c][:3] for c in data.classes])
    pool = np.setdiff1d(order[:400], seed)
    return {
        "dir": folder,
        "classes": list(data.classes),
        "seed": write_csv(folder / "seed.csv", ["text", "label"],
                          zip(X[seed], y[seed])),
        "pool": write_csv(folder / "pool.csv", ["text", "label"],
                          zip(X[pool], y[pool])),
        "new": write_csv(folder / "new.csv", ["id", "text"],
                         ((f"q{i}", t) for i, t in enumerate(data.X_test[:150]))),
        "new_texts": list(data.X_test[:150]),
    }


def skakd(*args, cwd, env=None):
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "skakd", *args], cwd=cwd, env=environment,
        capture_output=True, text=True, timeout=120,
    )


def distill_args(files, out, *extra):
    return ["distill", "--seed", files["seed"], "--pool", files["pool"],
            "--teacher", "oracle", "--batch-size", "20", "--budget-labels", "60",
            "--out", str(out), *extra]


def test_distill_then_predict_end_to_end(files, tmp_path):
    done = skakd(*distill_args(files, tmp_path / "model.joblib"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "accuracy=" in done.stderr  # the progress bar
    for name in ("model.joblib", "model.labels.csv", "model.history.json",
                 "model.curve.png", "model.run.json"):
        assert (tmp_path / name).is_file(), name

    history = json.loads((tmp_path / "model.history.json").read_text())
    assert [r["round"] for r in history] == [0, 1, 2, 3]
    assert [r["n_labeled"] for r in history] == [18, 38, 58, 78]
    assert all(0 <= r["accuracy"] <= 1 for r in history)

    labels = read_csv(tmp_path / "model.labels.csv")
    assert len(labels) == 78
    assert {r["source"] for r in labels} == {"seed", "teacher"}
    pool = read_csv(files["pool"])
    for row in labels:  # provenance: the pool row the oracle was asked about
        if row["source"] == "teacher":
            assert pool[int(row["pool_row"])]["text"] == row["text"]
            assert pool[int(row["pool_row"])]["label"] == row["label"]

    png = (tmp_path / "model.curve.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image

    assert matplotlib.image.imread(tmp_path / "model.curve.png").ndim == 3

    out = tmp_path / "predictions.csv"
    done = skakd("predict", "model.joblib", files["new"], "--out", str(out),
                 "--proba", "--chunk-size", "40", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rows/s" in done.stderr
    rows = read_csv(out)
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(150)]
    assert {r["prediction"] for r in rows} <= set(files["classes"])
    proba = np.array([[float(r[f"proba_{c}"]) for c in files["classes"]]
                      for r in rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-4)
    model = joblib.load(tmp_path / "model.joblib")
    assert model.teacher is None  # the oracle (the whole pool) is not saved
    assert [r["prediction"] for r in rows] == model.predict(
        files["new_texts"]).tolist()


class CountingModel:
    """Wrap a model and record the size of every batch it is asked to score."""

    def __init__(self, model):
        self.model, self.batches = model, []
        self.classes_ = model.classes_

    def predict(self, texts):
        self.batches.append(len(texts))
        return self.model.predict(texts)

    def predict_proba(self, texts):
        return self.model.predict_proba(texts)


@pytest.fixture(scope="module")
def model_file(files):
    out = files["dir"] / "inproc.joblib"
    assert main(distill_args(files, out, "--quiet", "--no-cache")) == 0
    return out


def test_predict_streams_jsonl_in_chunks(files, model_file, tmp_path, monkeypatch):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t, "n": i}) + "\n"
                              for i, t in enumerate(files["new_texts"])))
    model = CountingModel(joblib.load(model_file))
    monkeypatch.setattr(_predict, "load_model", lambda path: model)
    out = tmp_path / "out.jsonl"
    status = main(["predict", str(model_file), str(source), "--out", str(out),
                   "--chunk-size", "32", "--keep", "n"])
    assert status == 0
    assert model.batches == [32, 32, 32, 32, 22]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["n"] for r in rows] == list(range(150))
    assert set(rows[0]) == {"n", "prediction"}
    assert [r["prediction"] for r in rows] == model.model.predict(
        files["new_texts"]).tolist()
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_distill_reads_jsonl_like_csv(files, tmp_path):
    seed = tmp_path / "seed.jsonl"
    seed.write_text("".join(json.dumps(r) + "\n" for r in read_csv(files["seed"])))
    out = tmp_path / "m.joblib"
    status = main(["distill", "--seed", str(seed), "--pool", files["pool"],
                   "--teacher", "oracle", "--max-rounds", "1", "--quiet",
                   "--no-cache", "--out", str(out)])
    assert status == 0
    assert joblib.load(out).classes_.tolist() == files["classes"]


INTERRUPTING_TEACHER = '''
import csv, os, signal
from skakd.teachers import BaseTeacher, TeacherResult

class Teacher(BaseTeacher):
    """An oracle that logs what it is asked and can be interrupted."""

    def label(self, items, classes):
        with open(os.environ["POOL"], encoding="utf-8", newline="") as f:
            known = {row["text"]: row["label"] for row in csv.DictReader(f)}
        calls = int(os.environ.get("CALLS", "0")) + 1
        os.environ["CALLS"] = str(calls)
        if calls == int(os.environ.get("INTERRUPT_AT", "0")):
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would
        with open(os.environ["ASKED"], "a", encoding="utf-8") as f:
            f.writelines(item.replace("\\n", " ") + "\\n" for item in items)
        return TeacherResult([known.get(item) for item in items])
'''


def test_resume_after_interruption_pays_nothing_twice(files, tmp_path,
                                                     monkeypatch):
    teacher = tmp_path / "interrupting.py"
    teacher.write_text(INTERRUPTING_TEACHER)
    asked = tmp_path / "asked.txt"
    env = {"POOL": files["pool"], "ASKED": str(asked)}
    args = ["distill", "--seed", files["seed"], "--pool", files["pool"],
            "--teacher", f"{teacher}:Teacher", "--batch-size", "20",
            "--max-rounds", "4", "--quiet", "--out", "model.joblib"]

    first = skakd(*args, cwd=tmp_path, env={**env, "INTERRUPT_AT": "3"})
    assert first.returncode == 130, first.stderr
    assert "--resume" in first.stderr
    run = json.loads((tmp_path / "model.run.json").read_text())
    assert run["status"] == "interrupted"
    partial = json.loads((tmp_path / "model.history.json").read_text())
    assert len(partial) == 3  # the seed and the two rounds before Ctrl-C
    assert len(asked.read_text().splitlines()) == 40

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    assert main([*args, "--resume"]) == 0
    history = json.loads((tmp_path / "model.history.json").read_text())
    assert [r["round"] for r in history] == [0, 1, 2, 3, 4]
    assert [r["n_cached"] for r in history[1:]] == [20, 20, 0, 0]
    questions = asked.read_text().splitlines()
    assert len(questions) == 80 == len(set(questions))  # nobody paid twice
    assert json.loads((tmp_path / "model.run.json").read_text())["status"] == (
        "finished")

    pool = read_csv(files["pool"])
    for row in read_csv(tmp_path / "model.labels.csv"):
        if row["source"] == "teacher":  # the pool file is read row by row
            assert pool[int(row["pool_row"])]["text"] == row["text"]

    # The resumed run is the run that would have happened uninterrupted.
    monkeypatch.setenv("ASKED", str(tmp_path / "asked_fresh.txt"))
    assert main([*args[:-1], "fresh.joblib", "--no-cache"]) == 0
    fresh = read_csv(tmp_path / "fresh.labels.csv")
    assert fresh == read_csv(tmp_path / "model.labels.csv")


def test_resume_refuses_other_settings_and_missing_runs(files, tmp_path, capsys):
    out = str(tmp_path / "none.joblib")
    assert main(["distill", "--resume", "--out", out]) == 2
    assert "there is no run to continue" in capsys.readouterr().err
    (tmp_path / "none.run.json").write_text(json.dumps({
        "status": "interrupted", "cache": None,
        "settings": {"seed": files["seed"], "pool": files["pool"],
                     "validation": None, "teacher": "oracle", "model": None,
                     "sampler": "mraru", "student": "tfidf-logreg",
                     "batch_size": 20, "validation_size": 0.2, "classes": None,
                     "text_column": "text", "label_column": "label",
                     "random_state": 0},
        "budgets": {"budget_labels": 40, "budget_usd": None, "max_rounds": None},
    }))
    assert main(["distill", "--resume", "--out", out, "--sampler", "random"]) == 2
    err = capsys.readouterr().err
    assert "--sampler is 'random'" in err and "'mraru'" in err


@pytest.mark.parametrize(
    "case, expected",
    [
        ("no_text_column", "no column 'text'"),
        ("seed_without_labels", "no column 'label'"),
        ("oracle_pool_without_labels", "pool.csv, line 2: no column 'label'"),
        ("empty_file", "is empty; expected a header row"),
        ("header_only", "has no rows"),
        ("bad_encoding", "pool.csv, line 3: cannot decode it as utf-8-sig"),
        ("unknown_pool_class", "labels that are not among the classes"),
        ("unknown_seed_class", "seed.csv has labels that are not among the "
                               "classes of --classes: 'b'"),
        ("single_class_seed", "single class"),
        ("no_budget", "give a budget"),
        ("bad_json", "line 2: not valid JSON"),
        ("missing_file", "nope.csv: no such file"),
        ("missing_extra_or_module", "--teacher 'nowhere_xyz:Teacher': cannot "
                                    "import it"),
    ],
)
def test_distill_bad_inputs_are_one_line_errors(case, expected, tmp_path, capsys):
    seed_rows = [("good movie", "a"), ("bad film", "b"), ("fine show", "a")]
    seed = write_csv(tmp_path / "seed.csv", ["text", "label"], seed_rows)
    pool = write_csv(tmp_path / "pool.csv", ["text", "label"],
                     [("great", "a"), ("awful", "b")])
    extra = ["--budget-labels", "2"]
    teacher = "oracle"
    if case == "no_text_column":
        seed = write_csv(tmp_path / "seed.csv", ["sentence", "label"], seed_rows)
    elif case == "seed_without_labels":
        seed = write_csv(tmp_path / "seed.csv", ["text"], [("x",), ("y",)])
    elif case == "oracle_pool_without_labels":
        pool = write_csv(tmp_path / "pool.csv", ["text"], [("great",)])
    elif case == "empty_file":
        (tmp_path / "pool.csv").write_bytes(b"")
    elif case == "header_only":
        pool = write_csv(tmp_path / "pool.csv", ["text", "label"], [])
    elif case == "bad_encoding":
        (tmp_path / "pool.csv").write_bytes(
            "text,label\ngreat,a\ncaf\u00e9,b\n".encode("latin-1"))
    elif case == "unknown_pool_class":
        pool = write_csv(tmp_path / "pool.csv", ["text", "label"], [("meh", "c")])
    elif case == "unknown_seed_class":
        extra += ["--classes", "a,c"]
    elif case == "single_class_seed":
        seed = write_csv(tmp_path / "seed.csv", ["text", "label"], [("x", "a")] * 2)
    elif case == "no_budget":
        extra = []
    elif case == "bad_json":
        seed = tmp_path / "seed.jsonl"
        seed.write_text('{"text": "good", "label": "a"}\n{"text": oops}\n')
    elif case == "missing_file":
        pool = str(tmp_path / "nope.csv")
    elif case == "missing_extra_or_module":
        teacher = "nowhere_xyz:Teacher"
    status = main(["distill", "--seed", str(seed), "--pool", str(pool),
                   "--teacher", teacher, "--out", str(tmp_path / "m.joblib"),
                   "--quiet", "--no-cache", *extra])
    err = capsys.readouterr().err
    assert status == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m.joblib").exists()


def test_predict_bad_inputs(model_file, tmp_path, capsys):
    texts = write_csv(tmp_path / "in.csv", ["body"], [("hello",)])
    out = str(tmp_path / "x.csv")
    assert main(["predict", str(model_file), texts, "--out", out]) == 2
    assert "no column 'text'" in capsys.readouterr().err
    empty = write_csv(tmp_path / "empty.csv", ["text"], [])
    assert main(["predict", str(model_file), empty, "--out", out]) == 2
    assert "empty.csv has no rows" in capsys.readouterr().err
    not_a_model = write_csv(tmp_path / "model.joblib", ["a"], [("b",)])
    assert main(["predict", not_a_model, texts, "--out", out]) == 2
    assert "cannot load a model" in capsys.readouterr().err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a"}\n' * 5 + '{"text": \n')
    assert main(["predict", str(model_file), str(broken), "--out", out,
                 "--chunk-size", "2"]) == 2
    assert "broken.jsonl, line 6: not valid JSON" in capsys.readouterr().err
    assert not list(tmp_path.glob("x.csv*"))  # nothing half-written


def test_estimate_cost_prices_the_budget(files, tmp_path, capsys):
    teacher = tmp_path / "priced.py"
    teacher.write_text(
        "from skakd.teachers import OracleTeacher\n"
        "teacher = OracleTeacher({}, cost_per_item=0.002)\n"
    )
    n_pool = len(read_csv(files["pool"]))
    status = main(["estimate-cost", "--seed", files["seed"], "--pool",
                   files["pool"], "--teacher", f"{teacher}:teacher",
                   "--budget-labels", "500", "--batch-size", "50",
                   "--budget-usd", "0.5"])
    out = capsys.readouterr().out
    assert status == 0
    assert (f"labels to buy: {n_pool} in {-(-n_pool // 50)} rounds of 50 "
            "(limited by the pool)") in out
    assert f"estimated cost: ${n_pool * 0.002:.4f}" in out
    assert "stops the run after about 250 labels" in out


def test_demo_is_the_offline_demo(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "M-RARU versus random sampling on the bundled banking77" in out
    assert "--rounds" in out


def test_distill_with_claude_pays_once_and_estimates_first(files, tmp_path,
                                                         monkeypatch, capsys):
    pytest.importorskip("anthropic")
    from skakd.teachers.testing import FakeAnthropic

    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        common = ["--seed", files["seed"], "--pool", files["pool"],
                  "--teacher", "anthropic", "--model", "claude-haiku-4-5",
                  "--batch-size", "10", "--budget-labels", "20"]
        assert main(["estimate-cost", *common]) == 0
        estimate = capsys.readouterr().out
        assert "labels to buy: 20 in 2 rounds of 10" in estimate
        assert float(estimate.split("estimated cost: $")[1].split()[0]) > 0

        args = ["distill", *common, "--quiet", "--out", str(tmp_path / "m.joblib")]
        assert main(args) == 0
        paid = server.n_messages
        assert paid >= 2
        history = json.loads((tmp_path / "m.history.json").read_text())
        assert history[-1]["teacher_cost_total"] > 0
        assert history[-1]["n_labeled"] == 18 + 20

        assert main(args) == 0  # the same run again: every answer is cached
        assert server.n_messages == paid
        history = json.loads((tmp_path / "m.history.json").read_text())
        assert [r["n_cached"] for r in history[1:]] == [10, 10]
        assert history[-1]["teacher_cost_total"] == 0
