"""The scripts in examples/ run, offline, with small settings."""

import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib").use("Agg")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, monkeypatch, *argv):
    """Run ``examples/<name>`` as a script; return what its ``main`` returned."""
    monkeypatch.setattr(sys, "argv", [name, *argv])
    namespace = runpy.run_path(str(EXAMPLES / name), run_name="example")
    return namespace["main"](list(argv))


def test_every_example_is_tested():
    tested = {"oracle_banking77.py", "grid_search_samplers.py",
              "score_large_csv.py", "claude_teacher.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_oracle_banking77(monkeypatch, tmp_path, capsys):
    out = tmp_path / "curve.png"
    runs = run_example("oracle_banking77.py", monkeypatch, "--rounds", "1",
                       "--test-size", "200", "--pool-size", "1000",
                       "--out", str(out))
    assert runs["M-RARU"].history_[:, "n_labeled"] == [77, 102]
    assert runs["random"].history_[:, "n_labeled"] == [77, 102]
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "M-RARU" in capsys.readouterr().out


def test_grid_search_samplers(monkeypatch, capsys):
    search, asked = run_example("grid_search_samplers.py", monkeypatch, "--quick",
                                "--rounds", "1", "--seed-per-class", "6",
                                "--pool-size", "800")
    assert len(search.cv_results_["params"]) == 3
    assert len(asked) == len(set(asked)) > 0  # the cache paid for each text once
    assert "best:" in capsys.readouterr().out


def test_score_large_csv(monkeypatch, tmp_path, capsys):
    target = run_example("score_large_csv.py", monkeypatch, "--rows", "2500",
                         "--chunk-size", "1000", "--workdir", str(tmp_path))
    lines = Path(target).read_text().splitlines()
    assert len(lines) == 2501
    confidence = np.array([float(line.split(",")[-1]) for line in lines[1:]])
    assert ((confidence > 0) & (confidence <= 1)).all()
    assert "rows/s" in capsys.readouterr().out


def test_claude_teacher_against_the_fake_server(monkeypatch, tmp_path, capsys):
    pytest.importorskip("anthropic")
    from skakd.teachers.testing import FakeAnthropic

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.chdir(tmp_path)
    with FakeAnthropic() as server:
        args = ("--rounds", "2", "--batch-size", "10", "--pool-size", "300",
                "--base-url", server.base_url)
        clf = run_example("claude_teacher.py", monkeypatch, *args)
        paid = server.n_messages
        assert clf.history_[-1, "teacher_cost_total"] > 0
        assert (tmp_path / "trec_claude.joblib").is_file()
        again = run_example("claude_teacher.py", monkeypatch, *args)
        assert server.n_messages == paid  # replayed from the cache
    assert again.history_[:, "n_labeled"] == clf.history_[:, "n_labeled"]
    assert "about $" in capsys.readouterr().out


def test_claude_teacher_without_a_key_runs_offline(monkeypatch, tmp_path, capsys):
    """It prints exactly what docs/examples.md shows, from a local fake API."""
    pytest.importorskip("anthropic")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    page = (EXAMPLES.parent / "docs" / "examples.md").read_text(encoding="utf-8")
    shown = re.search(r"claude_teacher\.py --rounds 3` without a key prints\n\n"
                      r"```text\n(.*?)```", page, re.S).group(1)
    clf = run_example("claude_teacher.py", monkeypatch, "--rounds", "3")
    assert capsys.readouterr().out == shown
    assert clf.history_[-1, "teacher_cost_total"] > 0
    assert (tmp_path / "claude_answers.fake.sqlite").is_file()
    assert not (tmp_path / "claude_answers.sqlite").exists()
