"""The ``skakd`` command: end to end in subprocesses, bad inputs in-process."""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

from skakd import ActiveDistillationClassifier
from skakd.cli import _predict, main
from skakd.datasets import load_dataset
from skakd.reasons import REJECTION_DESCRIPTIONS

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
        # A suite started in the background (nohup, `&`) ignores SIGINT, and
        # a child inheriting that would never see the Ctrl-C tests send.
        preexec_fn=_default_sigint,
    )


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


def test_predict_reads_csv_like_dictreader(model_file, tmp_path):
    # Blank lines are skipped, a short row's missing cells are empty, cells
    # past the header are dropped, quoted newlines stay in the text; the
    # output is the same with worker processes.
    source = tmp_path / "in.csv"
    source.write_text('id,text,note\r\nq0,"What is\nan atom?",x\r\n\r\n'
                      'q1,Who wrote Hamlet ?\r\nq2,Where is Rome ?,y,extra\r\n',
                      encoding="utf-8")
    model = joblib.load(model_file)
    expected = model.predict(["What is\nan atom?", "Who wrote Hamlet ?",
                              "Where is Rome ?"]).tolist()
    for n_jobs in ([], ["--n-jobs", "2"]):
        out = tmp_path / "out.csv"
        assert main(["predict", str(model_file), str(source), "--out", str(out),
                     "--force", "--chunk-size", "2", *n_jobs]) == 0
        rows = read_csv(out)
        assert [list(r) for r in rows] == [["id", "text", "note", "prediction"]] * 3
        assert [(r["id"], r["note"]) for r in rows] == [("q0", "x"), ("q1", ""),
                                                        ("q2", "y")]
        assert rows[0]["text"] == "What is\nan atom?"
        assert [r["prediction"] for r in rows] == expected


def test_predict_names_the_line_of_a_bad_row(model_file, tmp_path, capsys):
    out = str(tmp_path / "out.csv")
    short = tmp_path / "short.csv"
    short.write_text("id,text\nq0,fine\n\nq1\n", encoding="utf-8")
    assert main(["predict", str(model_file), str(short), "--out", out]) == 2
    one_line_error(capsys, "short.csv, line 4: column 'text' is missing a value")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\nfine\ncaf\u00e9 au lait\n".encode("latin-1"))
    assert main(["predict", str(model_file), str(latin), "--out", out]) == 2
    one_line_error(capsys, "latin.csv, line 3: cannot decode it as utf-8-sig")
    assert main(["predict", str(model_file), str(latin), "--out", out,
                 "--encoding", "latin-1"]) == 0
    assert [r["text"] for r in read_csv(out)] == ["fine", "caf\u00e9 au lait"]
    assert not (tmp_path / "out.csv.partial").exists()


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
    assert "is a text file (CSV or JSON), not a model" in capsys.readouterr().err
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
    assert main(["demo", "--help"]) == 0
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

        assert main([*args, "--force"]) == 0  # again: every answer is cached
        assert server.n_messages == paid
        history = json.loads((tmp_path / "m.history.json").read_text())
        assert [r["n_cached"] for r in history[1:]] == [10, 10]
        assert history[-1]["teacher_cost_total"] == 0


# -- A user's mistake is one line on stderr: the option, what it expects ----


def one_line_error(capsys, *needles):
    """stderr is exactly one line, names every needle, and has no traceback."""
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture
def tiny(tmp_path):
    """A two-class seed and an oracle pool: enough for checks that fail fast."""
    seed = write_csv(tmp_path / "seed.csv", ["text", "label"],
                     [("good movie", "a"), ("bad film", "b"), ("fine show", "a")])
    pool = write_csv(tmp_path / "pool.csv", ["text", "label"],
                     [("great", "a"), ("awful", "b")])
    return ["distill", "--seed", seed, "--pool", pool, "--budget-labels", "2",
            "--no-cache"]


def test_out_folder_is_created_for_distill_and_predict(files, tmp_path, capsys):
    out = tmp_path / "runs" / "trec" / "m.joblib"
    assert main(["distill", "--seed", files["seed"], "--pool", files["pool"],
                 "--teacher", "oracle", "--max-rounds", "1", "--quiet",
                 "--no-cache", "--out", str(out)]) == 0
    assert out.is_file() and (out.parent / "m.labels.csv").is_file()
    assert "--max-rounds 1 reached" in capsys.readouterr().out

    scores = tmp_path / "scores" / "today" / "p.csv"
    assert main(["predict", str(out), files["new"], "--out", str(scores)]) == 0
    assert len(read_csv(scores)) == 150
    capsys.readouterr()

    under_a_file = tmp_path / "scores" / "today" / "p.csv" / "q.csv"
    assert main(["predict", str(out), files["new"], "--out", str(under_a_file)]) == 2
    one_line_error(capsys, f"--out {under_a_file}: {scores} is a file, not a folder")
    assert main(["predict", str(out), files["new"], "--out", str(tmp_path)]) == 2
    one_line_error(capsys, "is a folder", "expected a file name")


def test_existing_out_needs_force_or_resume(files, model_file, capsys):
    again = distill_args(files, model_file, "--quiet", "--no-cache")
    assert main(again) == 2
    one_line_error(capsys, f"--out {model_file}", "a run is recorded there",
                   "--resume", "--force")
    assert main([*again, "--force", "--resume"]) == 2
    one_line_error(capsys, "--resume: not allowed with argument --force")

    scores = model_file.with_name("scored.csv")
    scores.write_text("precious\n")
    predict = ["predict", str(model_file), files["new"], "--out", str(scores)]
    assert main(predict) == 2
    one_line_error(capsys, f"--out {scores} already exists", "--force")
    assert scores.read_text() == "precious\n"
    assert main([*predict, "--force"]) == 0
    assert len(read_csv(scores)) == 150


def test_missing_text_extra_is_one_line_before_anything_starts(
        tiny, tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name.partition(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    for student in ("minilm-logreg", "bert"):
        out = tmp_path / "new" / "m.joblib"
        assert main([*tiny, "--teacher", "oracle", "--student", student,
                     "--out", str(out)]) == 2
        one_line_error(capsys, f"--student {student} needs the text extra",
                       "torch is not installed", 'pip install "skakd[text]"')
        assert not out.parent.exists()


def test_missing_llm_extra_is_one_line_before_the_progress_bar(
        tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)  # import anthropic fails
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    out = tmp_path / "claude" / "m.joblib"
    assert main([*tiny, "--teacher", "anthropic", "--out", str(out)]) == 2  # not --quiet
    one_line_error(capsys, "--teacher anthropic needs the llm extra",
                   "anthropic is not installed", 'pip install "skakd[llm]"')
    assert not out.parent.exists()  # nothing started, nothing written
    assert main(["estimate-cost", *tiny[1:-1], "--teacher", "anthropic"]) == 2
    one_line_error(capsys, "skakd estimate-cost: error: --teacher anthropic needs",
                   'pip install "skakd[llm]"')
    assert main(["estimate-cost", *tiny[1:], "--teacher", "anthropic"]) == 2
    one_line_error(capsys, "skakd estimate-cost: error: unrecognized arguments: "
                   "--no-cache (see 'skakd estimate-cost --help')")


def test_demo_rejects_zero_rounds_in_one_line(tmp_path, capsys):
    assert main(["demo", "--rounds", "0"]) == 2
    one_line_error(capsys, "skakd demo: error: argument --rounds",
                   "expected an integer >= 1, got '0'", "skakd demo --help")
    done = skakd("demo", "--target", "1.5", cwd=tmp_path)  # a real process
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "argument --target: expected an accuracy in (0, 1], got '1.5'" in (
        done.stderr)


@pytest.mark.parametrize("argv, needles", [
    (["--batch-size", "0"], ["argument --batch-size", "expected an integer >= 1"]),
    (["--budget-labels", "many"], ["argument --budget-labels",
                                   "expected an integer >= 1, got 'many'"]),
    (["--validation-size", "1"], ["argument --validation-size",
                                  "expected a number in [0, 1)"]),
    (["--budget-usd", "-1"], ["argument --budget-usd", "expected a number >= 0"]),
    (["--random-state", "-3"], ["argument --random-state",
                                "expected an integer from 0 to 4294967295"]),
])
def test_invalid_numbers_name_the_option_and_range(argv, needles, tiny, tmp_path,
                                                   capsys):
    assert main([*tiny, "--teacher", "oracle", "--out", str(tmp_path / "m.joblib"),
                 *argv]) == 2
    one_line_error(capsys, *needles)


def test_predict_rejects_bad_numbers(model_file, files, tmp_path, capsys):
    for option, value, expected in (("--chunk-size", "0", "an integer >= 1"),
                                    ("--n-jobs", "0", "an integer >= 1 or -1")):
        assert main(["predict", str(model_file), files["new"], "--out",
                     str(tmp_path / "p.csv"), option, value]) == 2
        one_line_error(capsys, f"argument {option}: expected {expected}")


@pytest.mark.parametrize("option, value, needles", [
    ("--teacher", "oracel", ["--teacher 'oracel' is not known",
                             "expected oracle, anthropic, openai or local (did you mean 'oracle'?)",
                             "module:attribute"]),
    ("--student", "minilm", ["--student 'minilm' is not known",
                             "expected tfidf-logreg, static-logreg, minilm-logreg or bert",
                             "did you mean 'minilm-logreg'?"]),
    ("--sampler", "mrau", ["argument --sampler: invalid choice: 'mrau'",
                           "'mraru', 'random', 'uncertainty', 'pgkd'"]),
    ("--teacher", "my_teacher.py", ["--teacher 'my_teacher.py' names no attribute",
                                    "'my_teacher.py:NAME'"]),
])
def test_unknown_names_list_the_valid_ones(option, value, needles, tiny, tmp_path,
                                           capsys):
    argv = [*tiny, "--teacher", "oracle", "--out", str(tmp_path / "m.joblib"),
            option, value]
    assert main(argv) == 2
    one_line_error(capsys, *needles)


def test_unknown_claude_model_lists_the_priced_ones(tiny, tmp_path, capsys,
                                                    monkeypatch):
    pytest.importorskip("anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    assert main([*tiny, "--teacher", "anthropic", "--model", "claude-haiku",
                 "--out", str(tmp_path / "m.joblib")]) == 2
    one_line_error(capsys, "--model 'claude-haiku' is not a Claude model with a "
                   "known price", "claude-haiku-4-5, ")


def test_help_marks_required_options_and_shows_defaults(capsys):
    assert main(["distill", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # unwrap the lines
    assert out.startswith("usage: skakd distill {--seed FILE | --classes FILE} "
                          "--pool FILE --teacher "
                          "NAME --out MODEL {--budget-labels N | --budget-usd USD "
                          "| --max-rounds N} [options]")
    listed = out.split(" required: ", 1)[1].split(" budget (at least one is required")[0]
    options = ("--seed FILE", "--pool FILE", "--teacher NAME", "--out MODEL")
    for option, following in zip(options, [*options[1:], None]):
        help_ = listed.split(f" {option} ", 1)[1]
        help_ = help_ if following is None else help_.split(f" {following} ")[0]
        # --seed is required unless --classes starts a run without one.
        assert help_.endswith("(required)") or (
            option == "--seed FILE" and "(required unless --classes" in help_
        ), (option, help_)
    for default in ("--batch-size N teacher labels per round (default: 25)",
                    "(default: mraru)", "(default: tfidf-logreg)",
                    "(default: 0.2)", "--random-state SEED seed of every random "
                    "choice (default: 0)", "(default: claude-haiku-4-5)"):
        assert default in out
    assert "(default: None)" not in out and "(default: False)" not in out
    assert main(["distill", "--budget-labels", "1"]) == 2
    one_line_error(capsys, "distill needs --seed, --pool, --teacher and --out")


def test_labels_csv_is_not_a_model(model_file, files, tmp_path, capsys):
    labels = model_file.with_name(model_file.stem + ".labels.csv")
    out = str(tmp_path / "p.csv")
    assert main(["predict", str(labels), files["new"], "--out", out]) == 2
    one_line_error(capsys, f"{labels} is a text file (CSV or JSON), not a model",
                   f"did you mean {model_file}?")
    assert main(["predict", files["new"], str(model_file), "--out", out]) == 2
    one_line_error(capsys, "the order is: skakd predict MODEL INPUT --out FILE")
    junk = tmp_path / "junk.joblib"
    junk.write_bytes(bytes(range(256)))
    assert main(["predict", str(junk), files["new"], "--out", out]) == 2
    one_line_error(capsys, f"{junk} is not a model file (joblib cannot read it")
    done = skakd("predict", str(labels), files["new"], "--out", out, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_stop_reason_names_the_label_budget(files, tmp_path, capsys):
    out = tmp_path / "m.joblib"
    assert main(["distill", "--seed", files["seed"], "--pool", files["pool"],
                 "--teacher", "oracle", "--batch-size", "30", "--budget-labels",
                 "50", "--quiet", "--no-cache", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    assert "finished after 2 rounds" in report
    assert "--budget-labels 50 reached." in report and "max_iter" not in report
    assert "--budget-labels: 50 of 50 labels used." in report
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert [r["n_queried"] for r in history] == [0, 30, 20]


GENERATING_TEACHER = '''
import csv
from collections import defaultdict

class Writer:
    """Writes real questions of the asked classes, but the first two of each
    batch copy the prompt's examples (PGKD's screening drops them)."""

    def __init__(self):
        self.texts = defaultdict(list)
        with open({reservoir!r}, encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                self.texts[row["label"]].append(row["text"])

    def label(self, items, classes):
        return [None] * len(items)

    def generate(self, request):
        samples = [tuple(example) for example in request.examples[:2]]
        for label, count in request.class_counts.items():
            samples += [(self.texts[label].pop(), label) for _ in range(count)
                        if self.texts[label]]
        return samples[:request.n_samples]
'''


def test_pgkd_explains_its_validation_split_and_budget_use(files, tmp_path, capsys):
    data = load_dataset("trec")
    reservoir = write_csv(tmp_path / "reservoir.csv", ["text", "label"],
                          zip(data.X_train[2000:3500], data.y_train[2000:3500]))
    (tmp_path / "writer.py").write_text(GENERATING_TEACHER.format(reservoir=reservoir))
    out = tmp_path / "pgkd.joblib"
    assert main(["distill", "--seed", files["seed"], "--sampler", "pgkd",
                 "--teacher", f"{tmp_path / 'writer.py'}:Writer", "--batch-size",
                 "20", "--budget-labels", "60", "--quiet", "--no-cache",
                 "--out", str(out)]) == 0
    report = capsys.readouterr().out
    model = joblib.load(out)
    pgkd = model.sampler_
    n_val = pgkd.validation_size_
    assert n_val > 0 and pgkd.n_rejected_["duplicate"] == 6  # 2 a round

    seed = read_csv(files["seed"])
    labels = read_csv(out.with_suffix(".labels.csv"))
    kept = [r for r in labels if r["source"] in ("seed", "validation")]
    pairs = sorted((r["text"], r["label"]) for r in kept)
    assert pairs == sorted((r["text"], r["label"]) for r in seed)  # all 18 rows
    validation = [r for r in labels if r["source"] == "validation"]
    assert len(validation) == n_val
    assert all(r["round"] == "0" and r["pool_row"] == "" for r in validation)
    # ...exactly the seed rows PGKD says it held out.
    assert [(r["text"], r["label"]) for r in validation] == [
        (seed[i]["text"], seed[i]["label"]) for i in pgkd.validation_indices_]

    n_used = sum(r["n_queried"] for r in
                 json.loads(out.with_suffix(".history.json").read_text()))
    assert n_used == sum(r["source"] == "generated" for r in labels) < 60
    assert "finished after 3 rounds" in report
    assert "--budget-labels 60 at --batch-size 20 allows 3 rounds." in report
    assert (f"--budget-labels: {n_used} of 60 labels used: PGKD keeps only the "
            "texts that pass its screening, and it dropped") in report
    assert "duplicates: 6" in report
    assert (f"PGKD held out {n_val} of the {len(seed)} seed texts to score each "
            "round and steer the teacher (source=validation in "
            f"{out.with_suffix('.labels.csv')})") in report


def test_pgkd_with_the_free_oracle_needs_a_label_or_round_budget(tiny, tmp_path,
                                                                 capsys):
    argv = [a for a in tiny if a not in ("--budget-labels", "2")]
    assert main([*argv, "--teacher", "oracle", "--sampler", "pgkd", "--budget-usd",
                 "1", "--out", str(tmp_path / "m.joblib")]) == 2
    one_line_error(capsys, "--budget-usd alone never stops --sampler pgkd",
                   "add --budget-labels N or --max-rounds N")


# -- Claude's own cache, Message Batches, the lock and the bill (issue 18) ---


def items_billed(server):
    """The item texts of every request the fake answered, batches included."""
    import re

    bodies = list(server.message_bodies())
    bodies += [entry["params"] for batch in server.batches.values()
               if batch["results"] for entry in batch["requests"]]
    texts = []
    for body in bodies:
        content = body["messages"][-1]["content"]
        if not isinstance(content, str):
            content = "".join(block.get("text", "") for block in content)
        texts += re.findall(r'<item id="\d+">(.*?)</item>', content, re.DOTALL)
    return texts


def claude_args(files, out, *extra):
    return ["distill", "--seed", files["seed"], "--pool", files["pool"],
            "--teacher", "anthropic", "--model", "claude-haiku-4-5",
            "--sampler", "random", "--batch-size", "10", "--quiet",
            "--out", str(out), *extra]


def test_run_json_bill_equals_the_servers_ledger(files, tmp_path, monkeypatch):
    pytest.importorskip("anthropic")
    from skakd.teachers.testing import FakeAnthropic

    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        out = tmp_path / "m.joblib"
        assert main(claude_args(files, out, "--budget-labels", "20")) == 0
        ledger = dict(server.ledger)
    bill = json.loads((tmp_path / "m.run.json").read_text())["bill"]
    assert bill["input_tokens"] == ledger["input_tokens"] > 0
    assert bill["output_tokens"] == ledger["output_tokens"] > 0
    assert bill["cache_write_tokens"] == ledger["cache_creation_input_tokens"]
    assert bill["cache_read_tokens"] == ledger["cache_read_input_tokens"]
    assert bill["n_requests"] == ledger["n_billed"] == 2
    assert bill["n_unlabeled"] == bill["n_duplicates"] == 0
    model = joblib.load(out)
    assert bill["teacher_cost_usd"] == pytest.approx(model.teacher_cost_)
    assert bill["teacher_cost_usd"] > 0
    assert (tmp_path / "m.cache.sqlite").is_file()  # Claude's own cache
    assert not (tmp_path / "m.lock").exists()


def test_killed_batch_run_resumes_without_paying_twice(files, tmp_path):
    """SIGKILL while a Message Batch is in flight; --resume collects it."""
    pytest.importorskip("anthropic")
    import signal
    import time

    from skakd.teachers.testing import FakeAnthropic

    with FakeAnthropic(latency=0.05, batch_latency=1.0) as server:
        env = {**os.environ, "PYTHONPATH": str(REPO),
               "ANTHROPIC_BASE_URL": server.base_url,
               "ANTHROPIC_API_KEY": "test-key"}
        argv = claude_args(files, "m.joblib", "--budget-labels", "30",
                           "--batch-api")
        process = subprocess.Popen([sys.executable, "-m", "skakd", *argv],
                                   cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 90
            while len(server.batches) < 2 and process.poll() is None:
                assert time.monotonic() < deadline, "no second batch in 90 s"
                time.sleep(0.02)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL
        assert (tmp_path / "m.lock").exists()  # left behind: stale
        run = json.loads((tmp_path / "m.run.json").read_text())
        assert run["status"] == "running" and run["settings"]["batch_api"]

        resumed = subprocess.run(
            [sys.executable, "-m", "skakd", "distill", "--out", "m.joblib",
             "--resume", "--quiet"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        billed = items_billed(server)
        assert server.ledger["n_billed"] == 0  # every answer came in a batch
    assert len(billed) == len(set(billed)) == 30  # nothing paid twice
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert history[-1]["n_labeled"] == 18 + 30
    assert not (tmp_path / "m.lock").exists()


@pytest.fixture
def locked(tiny, tmp_path):
    """The tiny run's --out, and a writer of its lock file."""
    import socket

    out = tmp_path / "m.joblib"

    def lock(pid, host=None):
        (tmp_path / "m.lock").write_text(json.dumps({
            "pid": pid, "host": host or socket.gethostname(),
            "started": "2026-01-02T03:04:05+0000"}))

    return [*tiny, "--teacher", "oracle", "--quiet", "--out", str(out)], lock


def test_a_live_run_on_the_same_out_is_refused(locked, capsys):
    argv, lock = locked
    lock(os.getpid())  # this test process: alive, as a running distill is
    for extra in ([], ["--force"], ["--resume"]):
        assert main([*argv, *extra]) == 2
        one_line_error(capsys, "another skakd distill (pid", str(os.getpid()),
                       "started 2026-01-02T03:04:05+0000", "is writing this run",
                       "choose another --out")


def test_a_stale_lock_is_taken_over(locked, tmp_path, capsys):
    argv, lock = locked
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock(gone.pid)  # a run killed without cleaning up
    assert main(argv) == 0
    assert not (tmp_path / "m.lock").exists()
    lock(gone.pid)
    assert main(argv) == 2  # a run is recorded: --resume or --force
    one_line_error(capsys, "a run is recorded there", "--resume")
    assert main([*argv, "--force"]) == 0
    assert not (tmp_path / "m.lock").exists()


def test_a_lock_from_another_host_needs_resume(locked, tmp_path, capsys):
    argv, lock = locked
    lock(1, host="elsewhere.example")
    assert main(argv) == 2
    one_line_error(capsys, "on elsewhere.example", "pid 1",
                   "delete the lock file", "--resume")
    assert (tmp_path / "m.lock").exists()


def test_batch_api_is_only_for_teachers_that_bill(tiny, tmp_path, capsys):
    assert main([*tiny, "--teacher", "oracle", "--batch-api",
                 "--out", str(tmp_path / "m.joblib")]) == 2
    one_line_error(capsys, "--batch-api: only --teacher anthropic and openai "
                   "have a batch API")


def test_estimate_cost_with_batches_and_a_cache(files, tmp_path, monkeypatch,
                                                capsys):
    pytest.importorskip("anthropic")
    common = ["estimate-cost", "--seed", files["seed"], "--pool", files["pool"],
              "--teacher", "anthropic", "--model", "claude-haiku-4-5",
              "--budget-labels", "20"]

    def price(*extra):
        assert main([*common, *extra]) == 0
        out = capsys.readouterr().out
        return float(out.split("cost per label: $")[1].split()[0])

    full = price()
    assert price("--batch-api") == pytest.approx(full / 2, rel=0.01)
    assert main([*common, "--cache", str(tmp_path / "none.sqlite")]) == 2
    one_line_error(capsys, "--cache", "no such file")


# -- Stop when the student stops learning; forecast a target (issue 20) -----


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    """Two classes a word apart: the student stops learning in a few rounds."""
    folder = tmp_path_factory.mktemp("easy")
    words = ["alpha", "bravo", "delta", "echo", "golf", "hotel", "kilo", "lima"]
    rng = np.random.default_rng(0)

    def rows(n, start):
        return [(f"{label} {' '.join(rng.choice(words, 3))} item{start + i}", label)
                for i, label in enumerate(rng.choice(["good", "bad"], n))]

    return {"seed": write_csv(folder / "seed.csv", ["text", "label"],
                              [("good kilo", "good"), ("bad kilo", "bad"),
                               ("good lima", "good"), ("bad echo", "bad")]),
            "pool": write_csv(folder / "pool.csv", ["text", "label"],
                              rows(500, 0))}


def test_stop_auto_ends_a_run_when_the_student_stops_learning(easy, tmp_path,
                                                             capsys):
    out = tmp_path / "m.joblib"
    argv = ["distill", "--seed", easy["seed"], "--pool", easy["pool"],
            "--teacher", "oracle", "--sampler", "random", "--batch-size", "5",
            "--budget-labels", "300", "--stop", "auto", "--quiet", "--no-cache",
            "--out", str(out)]
    assert main(argv) == 0
    report = capsys.readouterr().out
    history = json.loads(out.with_suffix(".history.json").read_text())
    assert "stop_kappa" in history[-1]
    n_used = sum(r["n_queried"] for r in history)
    assert n_used < 300
    assert "the student stopped learning (--stop auto)." in report
    assert f"stopped: the student stopped learning ({n_used} labels)." in report
    run = json.loads(out.with_suffix(".run.json").read_text())
    assert run["settings"]["stop"] == "auto"


def test_target_accuracy_forecasts_labels_and_usd_from_a_pilot(files, model_file,
                                                               capsys):
    common = ["estimate-cost", "--seed", files["seed"], "--pool", files["pool"],
              "--teacher", "oracle", "--pilot", str(model_file)]
    assert main([*common, "--target-accuracy", "0.3"]) == 0
    out = capsys.readouterr().out
    assert f"pilot: {model_file} (78 labelled texts)" in out
    line = next(x for x in out.splitlines() if x.startswith("target accuracy 0.3"))
    labels = int(line.split("about ")[1].split()[0].replace(",", ""))
    assert labels > 0 and "(90% band: " in line
    assert "cost to the target: about $0.0000" in out

    assert main([*common, "--target-accuracy", "0.999"]) == 0
    out = capsys.readouterr().out
    assert "target accuracy 0.999: accuracy=0.999 is not reachable" in out
    assert "ask for at most 0." in out and "about" not in out


def test_target_accuracy_runs_a_pilot_distillation(easy, capsys):
    assert main(["estimate-cost", "--seed", easy["seed"], "--pool", easy["pool"],
                 "--teacher", "oracle", "--batch-size", "10",
                 "--target-accuracy", "0.9", "--pilot-labels", "40"]) == 0
    out = capsys.readouterr().out
    assert "pilot: a distillation of 40 labels (44 labelled texts" in out
    assert "target accuracy 0.9: about " in out


@pytest.mark.parametrize("argv, needles", [
    (["--target-accuracy", "0"], ["argument --target-accuracy",
                                  "expected a number in (0, 1], got '0'"]),
    (["--target-accuracy", "1.5"], ["argument --target-accuracy",
                                    "expected a number in (0, 1], got '1.5'"]),
    (["--target-accuracy", "0.8"], ["--target-accuracy needs a pilot",
                                    "--pilot MODEL", "--pilot-labels N"]),
    (["--pilot-labels", "0", "--target-accuracy", "0.8"],
     ["argument --pilot-labels", "expected an integer >= 1"]),
    (["--pilot", "x.joblib", "--pilot-labels", "5"],
     ["argument --pilot-labels: not allowed with argument --pilot"]),
    (["--pilot", "missing.joblib", "--target-accuracy", "0.8"],
     ["--pilot missing.joblib: no such file"]),
    (["--stop", "soon"], ["argument --stop", "invalid choice: 'soon'"]),
])
def test_bad_forecast_and_stop_values_are_one_line(argv, needles, tiny, tmp_path,
                                                   capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["estimate-cost", *tiny[1:-1], "--teacher", "oracle", *argv]) == 2
    one_line_error(capsys, *needles)


# -- A dry run: the whole journey with Claude played by a local fake ----------


def test_dry_run_needs_no_key_and_shows_prompts_and_bill(files, tmp_path,
                                                         monkeypatch, capsys):
    pytest.importorskip("anthropic")
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "m.joblib"
    assert main(claude_args(files, out, "--budget-labels", "20", "--dry-run")) == 0
    report = capsys.readouterr().out
    assert report.startswith("skakd distill (dry run): finished after 2 rounds")
    assert "dry run: nothing was sent to Claude" in report
    assert "the label column (label) of" in report
    run = json.loads((tmp_path / "m.run.json").read_text())
    assert run["dry_run"] is True
    assert run["cache"].endswith("m.dry-run.cache.sqlite")
    assert (tmp_path / "m.dry-run.cache.sqlite").is_file()
    assert not (tmp_path / "m.cache.sqlite").exists()  # Claude's stays clean
    usd = float(report.split("for about $")[1].split(".\n")[0])
    assert usd == pytest.approx(run["bill"]["teacher_cost_usd"], abs=1e-4)
    assert usd > 0
    assert f"would have been sent {run['bill']['n_requests']} requests" in report
    prompts = [json.loads(line) for line in
               (tmp_path / "m.dry-run.prompts.jsonl").read_text().splitlines()]
    assert len(prompts) == 2 and prompts[0]["model"] == "claude-haiku-4-5"
    assert '<item id="0">' in prompts[0]["messages"][0]["content"]
    pool = {row["text"]: row["label"] for row in read_csv(files["pool"])}
    labels = [row for row in read_csv(tmp_path / "m.labels.csv")
              if row["source"] == "teacher"]
    assert len(labels) == 20
    assert all(pool[row["text"]] == row["label"] for row in labels)

    # a real --resume never continues on fake answers
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-real")
    assert main(["distill", "--out", str(out), "--resume"]) == 2
    one_line_error(capsys, "is a dry run (fake answers)", "with --dry-run",
                   "--force")


def test_dry_run_without_pool_labels_answers_with_the_nearest_seed(tmp_path,
                                                                   capsys):
    pytest.importorskip("anthropic")
    seed = write_csv(tmp_path / "seed.csv", ["text", "label"],
                     [("a wonderful movie", "pos"), ("a dreadful film", "neg"),
                      ("wonderful acting", "pos"), ("dreadful plot", "neg")])
    texts = [f"{word} {thing} {i}" for i, (word, thing) in enumerate(
        [("wonderful", "show"), ("dreadful", "story")] * 5)]
    pool = write_csv(tmp_path / "pool.csv", ["text"], [(t,) for t in texts])
    assert main(["distill", "--seed", seed, "--pool", pool, "--teacher",
                 "anthropic", "--dry-run", "--batch-size", "5",
                 "--budget-labels", "10", "--quiet",
                 "--out", str(tmp_path / "m.joblib")]) == 0
    assert "the label of the nearest seed text" in capsys.readouterr().out
    rows = [r for r in read_csv(tmp_path / "m.labels.csv") if r["source"] == "teacher"]
    assert len(rows) == 10
    assert all(r["label"] == ("pos" if "wonderful" in r["text"] else "neg")
               for r in rows)


def test_dry_run_is_for_claude(tiny, tmp_path, capsys):
    assert main([*tiny, "--teacher", "oracle", "--dry-run",
                 "--out", str(tmp_path / "m.joblib")]) == 2
    one_line_error(capsys, "--dry-run rehearses --teacher anthropic or openai")


def test_the_plot_goes_without_a_forecast_too_slow_to_make(files, tmp_path, capsys,
                                                         monkeypatch):
    # A limit of 0 s stands for a student (a fine-tuned BERT) whose ten refits
    # for the cross-validated learning curve would take longer than a minute:
    # a run without validation scores would need them.
    from skakd.cli import _summary

    monkeypatch.setattr(_summary, "_FORECAST_LIMIT_S", 0.0)
    out = tmp_path / "model.joblib"
    assert main(distill_args(files, out, "--quiet", "--no-cache",
                             "--validation-size", "0")) == 0
    assert "the plot shows no forecast: cross-validating this student" in (
        capsys.readouterr().err)
    # With validation scores the curve is fitted to them: nothing to refit.
    assert main(distill_args(files, out, "--quiet", "--no-cache", "--force")) == 0
    assert "no forecast" not in capsys.readouterr().err
    assert (tmp_path / "model.curve.png").read_bytes().startswith(b"\x89PNG")


def _pgkd_summary(budget_labels, **pgkd):
    from skakd.augmentation import PGKD, SimulatedGenerator
    from skakd.cli._inputs import Inputs
    from skakd.cli._summary import Summary

    data = load_dataset("trec")
    X, y = np.asarray(data.X_train[:300], dtype=object), np.asarray(data.y_train[:300])
    teacher = SimulatedGenerator(data.X_train[:2000], data.y_train[:2000],
                                 random_state=0)  # hands out seed copies too
    clf = ActiveDistillationClassifier(
        teacher=teacher, sampler=PGKD(batch_size=16, **pgkd), max_iter=4,
        random_state=0).fit(X, y)
    args = argparse.Namespace(budget_labels=budget_labels, budget_usd=None,
                              max_rounds=None, batch_size=16, dry_run=False)
    inputs = Inputs(seed_texts=X, seed_labels=y, classes=sorted(set(y)))
    return clf, Summary(clf, args, inputs)


def test_summary_says_why_pgkd_stopped_early_from_its_summary():
    clf, summary = _pgkd_summary(1000, min_validation_size=10, patience=1)
    assert clf.termination_condition_ == "early_stopping"
    why = "PGKD stopped early: its validation loss had not improved for 1 rounds"
    assert summary.stop_reason() == why
    assert summary.budget_use() == (
        f"--budget-labels: {summary.n_used} of 1000 labels used: {why}")


def test_summary_names_what_the_screening_dropped_in_the_vocabulary_words():
    clf, summary = _pgkd_summary(1000)
    assert clf.termination_condition_ == "max_iter"
    dropped = {r: n for r, n in clf.sampler_.summary_["n_rejected"].items() if n}
    assert dropped  # the reservoir holds copies of seed texts
    details = ", ".join(f"{REJECTION_DESCRIPTIONS[r]}: {n}" for r, n in dropped.items())
    assert summary.budget_use().endswith(
        f"PGKD keeps only the texts that pass its screening, and it dropped "
        f"{sum(dropped.values())} of the {clf.sampler_.n_generated_} texts the "
        f"teacher wrote ({details})")
