"""``skakd distill`` and ``estimate-cost`` without ``--seed``: a classes file
(or a comma list) and a pool are enough (issue 30)."""

import csv
import json

import numpy as np
import pytest

from skakd.cli import main
from skakd.datasets import load_dataset

DESCRIPTIONS = {"ABBR": "abbreviation: what an acronym stands for",
                "HUM": "a person or a group of people"}


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """trec: a labelled pool and classes files (CSV and JSONL)."""
    folder = tmp_path_factory.mktemp("cold")
    data = load_dataset("trec")
    order = np.random.default_rng(0).permutation(len(data.y_train))[:300]
    X = np.asarray(data.X_train, dtype=object)[order]
    y = np.asarray(data.y_train)[order]
    rows = [(c, DESCRIPTIONS.get(c, ""), "") for c in data.classes]
    rows.append(("ABBR", "", "What does NASA stand for?"))
    jsonl = folder / "classes.jsonl"
    jsonl.write_text("".join(json.dumps({"name": c, "description": DESCRIPTIONS.get(c),
                                         "examples": ["Who wrote Hamlet?"] * (c == "HUM")})
                             + "\n" for c in data.classes), encoding="utf-8")
    return {
        "classes": list(data.classes),
        "pool": write_csv(folder / "pool.csv", ["text", "label"], zip(X, y)),
        "classes_csv": write_csv(folder / "classes.csv",
                                 ["name", "description", "example"], rows),
        "classes_jsonl": str(jsonl),
    }


@pytest.mark.parametrize("classes", ["classes_csv", "classes_jsonl", "comma list"])
def test_distill_without_a_seed(files, tmp_path, capsys, classes):
    given = ",".join(files["classes"]) if classes == "comma list" else files[classes]
    out = tmp_path / "m.joblib"
    status = main(["distill", "--classes", given, "--pool", files["pool"],
                   "--teacher", "oracle", "--batch-size", "10",
                   "--budget-labels", "40", "--quiet", "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert history[0]["n_cold_labels"] == 10  # max(10, 6 classes)
    assert "cold start: 10 teacher labels in 1 round before the first student" in printed
    assert "--budget-labels: 40 of 40 labels used" in printed
    with open(tmp_path / "m.labels.csv", encoding="utf-8") as handle:
        sources = {row["source"] for row in csv.DictReader(handle)}
    assert sources == {"teacher"}


def test_estimate_cost_without_a_seed(files, tmp_path, capsys):
    teacher = tmp_path / "priced.py"
    teacher.write_text("from skakd.teachers import OracleTeacher\n"
                       "teacher = OracleTeacher({}, cost_per_item=0.001)\n")
    status = main(["estimate-cost", "--classes", files["classes_csv"], "--pool",
                   files["pool"], "--teacher", f"{teacher}:teacher",
                   "--batch-size", "4", "--max-rounds", "3"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "seed: 0 labelled texts, 6 classes" in printed
    # The cold round asks about one text per class: 6 + 2 rounds of 4.
    assert "labels to buy: 14 in" in printed
    assert "cold start: no seed; the first round asks about 6 texts" in printed


def test_a_classes_file_reaches_claudes_prompt(files, tmp_path, monkeypatch, capsys):
    pytest.importorskip("anthropic")
    from skakd.teachers.testing import FakeAnthropic

    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        status = main(["distill", "--classes", files["classes_csv"], "--pool",
                       files["pool"], "--teacher", "anthropic", "--batch-size", "10",
                       "--budget-labels", "20", "--quiet",
                       "--out", str(tmp_path / "m.joblib")])
        assert status == 0
        prompt = json.dumps(server.message_bodies()[0])
        ledger = dict(server.ledger)
    assert DESCRIPTIONS["ABBR"] in prompt and "What does NASA stand for?" in prompt
    # The bill counts the cold start's requests (round 0) with the others.
    bill = json.loads((tmp_path / "m.run.json").read_text())["bill"]
    assert bill["input_tokens"] == ledger["input_tokens"] > 0
    assert bill["n_requests"] == ledger["n_billed"] >= 2
    assert "cold start:" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "needle"), [
    ("name,description\n,no name\n", "line 2: no 'name'"),
    ("name\nonly\n", "names 1 class"),
])
def test_a_bad_classes_file_is_a_one_line_error(files, tmp_path, capsys, content,
                                                needle):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    status = main(["distill", "--classes", str(path), "--pool", files["pool"],
                   "--teacher", "oracle", "--budget-labels", "20",
                   "--out", str(tmp_path / "m.joblib")])
    err = capsys.readouterr().err
    assert status != 0
    assert len(err.strip().splitlines()) == 1 and needle in err, err


def test_pgkd_from_a_classes_file_alone(tmp_path, monkeypatch, capsys):
    pytest.importorskip("anthropic")
    from skakd.teachers.testing import FakeAnthropic

    classes = write_csv(tmp_path / "classes.csv", ["name", "description"],
                        [("refund", "money back"), ("delivery", "a late parcel"),
                         ("account", "login and password")])
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        status = main(["distill", "--sampler", "pgkd", "--classes", classes,
                       "--teacher", "anthropic", "--batch-size", "12",
                       "--budget-labels", "24", "--quiet",
                       "--out", str(tmp_path / "m.joblib")])
        first = json.dumps(server.answered_bodies()[0])
    printed = capsys.readouterr().out
    assert status == 0
    assert "a late parcel" in first  # the description wrote the first texts
    assert "cold start: 12 teacher labels in 1 round" in printed
    assert "held out 3 of the first texts the teacher wrote" in printed
