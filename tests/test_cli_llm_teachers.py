"""``skakd distill`` and ``estimate-cost`` with ``--teacher openai`` against a
fake OpenAI-compatible server through the real SDK: the bill, the dry run,
and SIGKILLs at random moments of a ``--batch-api`` run that ``--resume``
continues without paying for any item twice."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skakd.cli import main
from skakd.datasets import load_dataset
from skakd.teachers.openai import OPENAI_PRICES

pytest.importorskip("openai")
from skakd.teachers.testing import FakeOpenAI  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """trec: 3 seed examples per class and a pool of 200 labelled texts."""
    folder = tmp_path_factory.mktemp("cli_llm")
    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    order = np.random.default_rng(0).permutation(len(y))
    seed = np.concatenate([order[y[order] == c][:3] for c in data.classes])
    pool = np.setdiff1d(order[:220], seed)
    return {"seed": write_csv(folder / "seed.csv", zip(X[seed], y[seed])),
            "pool": write_csv(folder / "pool.csv", zip(X[pool], y[pool]))}


def openai_args(files, server, out, *extra):
    return ["distill", "--seed", files["seed"], "--pool", files["pool"],
            "--teacher", "openai", "--base-url", server.base_url,
            "--sampler", "random", "--batch-size", "10", "--quiet",
            "--out", str(out), *extra]


def items_billed(server):
    """The texts of every item the fake billed, batches included."""
    bodies = server.completion_bodies()
    bodies += [json.loads(line)["body"] for batch in server.batches.values()
               if batch["output_file_id"]
               for line in server.files[batch["input_file_id"]].splitlines()]
    texts = []
    for body in bodies:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        texts += re.findall(r'<item id="\d+">(.*?)</item>', user, re.DOTALL)
    return texts


def test_the_run_bill_equals_the_servers_ledger(files, tmp_path, monkeypatch,
                                                capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with FakeOpenAI() as server:
        out = tmp_path / "m.joblib"
        assert main(openai_args(files, server, out, "--budget-labels", "30")) == 0
        ledger = dict(server.ledger)
    price_in, cached, price_out = OPENAI_PRICES["gpt-4.1-mini"]
    expected = ((ledger["prompt_tokens"] - ledger["cached_tokens"]) * price_in
                + ledger["cached_tokens"] * cached
                + ledger["completion_tokens"] * price_out) / 1e6
    bill = json.loads((tmp_path / "m.run.json").read_text())["bill"]
    assert bill["teacher_cost_usd"] == pytest.approx(expected)
    assert bill["n_requests"] == ledger["n_billed"] > 0


def test_a_dry_run_rehearses_openai_with_no_key(files, tmp_path, monkeypatch,
                                                capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "m.joblib"
    assert main(["distill", "--seed", files["seed"], "--pool", files["pool"],
                 "--teacher", "openai", "--model", "gpt-4.1-nano",
                 "--budget-labels", "20", "--dry-run", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "nothing was sent to gpt-4.1-nano" in printed
    usd = float(re.search(r"for about \$(\d+\.\d+)", printed).group(1))
    run = json.loads((tmp_path / "m.run.json").read_text())
    assert run["dry_run"] and usd == pytest.approx(
        run["bill"]["teacher_cost_usd"], abs=1e-4)


def test_estimate_cost_prices_openai_and_a_local_model(files, capsys):
    common = ["estimate-cost", "--seed", files["seed"], "--pool", files["pool"],
              "--budget-labels", "100"]
    assert main([*common, "--teacher", "openai"]) == 0
    paid = float(re.search(r"estimated cost: \$([0-9.]+)",
                           capsys.readouterr().out).group(1))
    assert paid > 0
    assert main([*common, "--teacher", "openai", "--base-url",
                 "http://127.0.0.1:9/v1", "--model", "my-model"]) == 0
    assert "estimated cost: $0.0000" in capsys.readouterr().out


def test_a_model_with_no_price_is_refused_before_anything_runs(files, tmp_path,
                                                               capsys):
    assert main(["distill", "--seed", files["seed"], "--pool", files["pool"],
                 "--teacher", "openai", "--model", "my-model", "--base-url",
                 "https://llm.example.com/v1", "--budget-labels", "10",
                 "--out", str(tmp_path / "m.joblib")]) == 2
    err = capsys.readouterr().err
    assert "--price INPUT,OUTPUT" in err and "Traceback" not in err


def test_sigkill_at_ten_random_moments_of_a_batch_run_pays_nothing_twice(
        files, tmp_path):
    rng = np.random.default_rng(0)
    with FakeOpenAI(latency=0.02, batch_latency=0.4) as server:
        env = {**os.environ, "PYTHONPATH": str(REPO),
               "OPENAI_API_KEY": "test-key"}
        first = openai_args(files, server, "m.joblib", "--budget-labels", "60",
                            "--batch-api")
        resume = ["distill", "--out", "m.joblib", "--resume", "--quiet"]
        kills = 0
        for moment in rng.uniform(0.0, 1.5, size=10):
            argv = resume if (tmp_path / "m.run.json").exists() else first
            sent = len(server.requests)
            process = subprocess.Popen([sys.executable, "-m", "skakd", *argv],
                                       cwd=tmp_path, env=env,
                                       stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            # A random moment once the run talks to the server (start-up
            # takes seconds on a busy machine), or at its end.
            deadline = time.monotonic() + 120
            while (len(server.requests) == sent and process.poll() is None
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            time.sleep(moment)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            kills += process.returncode == -signal.SIGKILL
        argv = resume if (tmp_path / "m.run.json").exists() else first
        finished = subprocess.run([sys.executable, "-m", "skakd", *argv],
                                  cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        billed = items_billed(server)
        assert server.ledger["n_billed"] == 0  # every answer came in a batch
    assert kills >= 5  # most runs were killed mid-way, not finished
    assert len(billed) == len(set(billed)) == 60  # nothing paid twice
    history = json.loads((tmp_path / "m.history.json").read_text())
    assert history[-1]["n_labeled"] == 18 + 60


def test_a_resumed_run_says_how_many_items_a_kill_made_it_pay_twice(files,
                                                                     tmp_path):
    with FakeOpenAI(latency=1.0) as server:
        env = {**os.environ, "PYTHONPATH": str(REPO),
               "OPENAI_API_KEY": "test-key"}
        argv = openai_args(files, server, "m.joblib", "--budget-labels", "20")
        process = subprocess.Popen([sys.executable, "-m", "skakd", *argv],
                                   cwd=tmp_path, env=env,
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:  # killed while its first round's request is out
            server.wait_for_requests(lambda r: not r["answered"], timeout=120)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        server.latency = 0.0
        resumed = subprocess.run(
            [sys.executable, "-m", "skakd", "distill", "--out", "m.joblib",
             "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "paid twice: 10 items whose requests were in flight" in resumed.stdout
