"""``skakd distill --teacher A,B``: a cascade of teachers on the command line,
each stage a fake OpenAI-compatible server through the real SDK, and a
person at its end through a review file: the bill per stage equals each
server's ledger, the round trip through the file brings the person's labels
back as ``"human"`` ones, and nothing is paid twice on ``--resume``."""

import csv
import html
import json
import re
import zlib

import joblib
import numpy as np
import pytest

from skakd.cli import _summary, main
from skakd.datasets import load_dataset
from skakd.teachers import OPENAI_PRICES

pytest.importorskip("openai")
from skakd.teachers.testing import FakeOpenAI  # noqa: E402

CHEAP, STRONG = "gpt-4.1-nano", "gpt-4.1"


@pytest.fixture(autouse=True)
def no_forecast(monkeypatch):
    # The plot's learning-curve forecast cross-validates the student: seconds
    # that test nothing here.
    monkeypatch.setattr(_summary, "_forecast", lambda clf: None)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """trec: 3 seed examples per class, a pool of 200 texts, their truth."""
    folder = tmp_path_factory.mktemp("cli_cascade")
    trec = load_dataset("trec")
    X, y = np.asarray(trec.X_train, dtype=object), np.asarray(trec.y_train)
    order = np.random.default_rng(0).permutation(len(y))
    seed = np.concatenate([order[y[order] == c][:3] for c in trec.classes])
    pool = np.setdiff1d(order[:220], seed)
    return {"seed": write_csv(folder / "seed.csv", zip(X[seed], y[seed])),
            "pool": write_csv(folder / "pool.csv", zip(X[pool], y[pool])),
            "truth": dict(zip(X.tolist(), y.tolist()))}


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


def unsure_cheap(text):
    """The cheap model is wrong, and unsure, on a quarter of the texts."""
    return zlib.crc32(text.encode()) % 4 == 0


def unsure_strong(text):
    """The strong one is right, but unsure on a third of those."""
    return unsure_cheap(text) and zlib.crc32(text.encode()) % 3 == 0


def servers(truth):
    """The cheap and the strong model's fakes."""
    def wrong(text, classes):
        return next(c for c in classes if c != truth[text])

    cheap = FakeOpenAI(
        labeler=lambda t, c: wrong(t, c) if unsure_cheap(t) else truth[t],
        confidence=lambda t, c: 0.3 if unsure_cheap(t) else 0.95)
    strong = FakeOpenAI(labeler=lambda t, c: truth[t],
                        confidence=lambda t, c: 0.4 if unsure_strong(t) else 0.97)
    return cheap, strong


def cascade_args(data, cheap, strong, out, *extra):
    return ["distill", "--seed", data["seed"], "--pool", data["pool"],
            "--teacher", "openai,openai", "--model", f"{CHEAP},{STRONG}",
            "--base-url", f"{cheap.base_url},{strong.base_url}",
            "--min-confidence", "0.8", "--sampler", "random", "--batch-size",
            "10", "--budget-labels", "40", "--quiet", "--out", str(out), *extra]


def cost(server, model):
    price_in, cached, price_out = OPENAI_PRICES[model]
    ledger = server.ledger
    return ((ledger["prompt_tokens"] - ledger["cached_tokens"]) * price_in
            + ledger["cached_tokens"] * cached
            + ledger["completion_tokens"] * price_out) / 1e6


def asked(server):
    """The texts of every item the fake was asked about, in order."""
    texts = []
    for body in server.completion_bodies():
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        texts += [html.unescape(text) for text in
                  re.findall(r'<item id="\d+">(.*?)</item>', user, re.DOTALL)]
    return texts


def read_rows(path):
    if str(path).endswith(".jsonl"):
        return [json.loads(line) for line in open(path, encoding="utf-8")]
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def stage_counts(printed):
    """``{stage: (labels, usd)}`` from the summary's ``labels by stage``."""
    line = re.search(r"labels by stage: (.*?);", printed).group(1)
    return {name: (int(n), float(usd)) for name, n, usd in
            re.findall(r"(\S+) (\d+) \(\$([0-9.]+)\)", line)}


def test_a_two_stage_cascade_bills_each_stage_and_resume_pays_nothing(
        data, tmp_path, capsys):
    cheap, strong = servers(data["truth"])
    with cheap, strong:
        out = tmp_path / "m.joblib"
        assert main(cascade_args(data, cheap, strong, out)) == 0
        printed, err = capsys.readouterr()
        ledgers = dict(cheap.ledger), dict(strong.ledger)
        cheap_asked, strong_asked = asked(cheap), asked(strong)
        # Resumed (here a finished run replayed): nothing is sent again.
        assert main(["distill", "--out", str(out), "--resume", "--quiet"]) == 0
        resumed = capsys.readouterr().out
        assert (dict(cheap.ledger), dict(strong.ledger)) == ledgers
    assert "token log-probabilities (free" in err  # what the confidence costs
    run = json.loads((tmp_path / "m.run.json").read_text())
    assert run["stages"] == [CHEAP, STRONG]
    assert json.loads((tmp_path / "m.run.json").read_text())["bill"][
        "teacher_cost_usd"] == 0  # the resumed run's own bill
    # Every text went to the cheap model once; only its unsure ones went on.
    assert len(cheap_asked) == len(set(cheap_asked)) == 40
    assert sorted(strong_asked) == sorted(t for t in cheap_asked if unsure_cheap(t))
    counts = stage_counts(printed)
    assert counts[CHEAP][1] == pytest.approx(cost(cheap, CHEAP), abs=1e-4)
    assert counts[STRONG][1] == pytest.approx(cost(strong, STRONG), abs=1e-4)
    total = float(re.search(r"teacher cost \$(\d+\.\d+)", printed).group(1))
    assert total == pytest.approx(cost(cheap, CHEAP) + cost(strong, STRONG),
                                  abs=1e-4)
    assert stage_counts(resumed) == {CHEAP: (counts[CHEAP][0], 0.0),
                                     STRONG: (counts[STRONG][0], 0.0)}
    # Who gave each label: the model file and labels.csv say it alike.
    clf = joblib.load(out)
    taught = clf.label_source_ == "teacher"
    by_stage = dict(zip(*np.unique(clf.label_teacher_[taught], return_counts=True)))
    assert by_stage == {CHEAP: counts[CHEAP][0], STRONG: counts[STRONG][0]}
    assert all(label == data["truth"][text] for text, label in
               zip(clf.labeled_X_[taught], clf.labeled_y_[taught]))
    rows = [r for r in read_rows(tmp_path / "m.labels.csv")
            if r["source"] == "teacher"]
    assert {r["teacher"] for r in rows} == {CHEAP, STRONG}


def test_the_bill_of_a_first_run_is_the_sum_of_the_servers_ledgers(
        data, tmp_path, capsys):
    cheap, strong = servers(data["truth"])
    with cheap, strong:
        assert main(cascade_args(data, cheap, strong, tmp_path / "m.joblib")) == 0
    bill = json.loads((tmp_path / "m.run.json").read_text())["bill"]
    assert bill["cost_stage_0"] == pytest.approx(cost(cheap, CHEAP))
    assert bill["cost_stage_1"] == pytest.approx(cost(strong, STRONG))
    assert bill["teacher_cost_usd"] == pytest.approx(
        cost(cheap, CHEAP) + cost(strong, STRONG))
    assert bill["n_requests"] == (cheap.ledger["n_billed"]
                                  + strong.ledger["n_billed"])


def write_review(path, rows):
    """What a person saves: the review file with its labels filled in."""
    if str(path).endswith(".jsonl"):
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        write_csv(path, [(row["text"], row["label"]) for row in rows])


@pytest.mark.parametrize("name, resume, answered_by", [
    ("review.csv", [], "human"),
    # A resumed run may add --review-in: the person's labels come first.
    ("review.jsonl", ["--review-in", "REVIEW"], "review-in"),
])
def test_a_person_labels_what_no_teacher_was_sure_of_through_the_file(
        data, tmp_path, capsys, name, resume, answered_by):
    cheap, strong = servers(data["truth"])
    review = tmp_path / name
    out = tmp_path / "m.joblib"
    with cheap, strong:
        assert main(cascade_args(data, cheap, strong, out,
                                 "--review-out", str(review))) == 0
        printed = capsys.readouterr().out
        hard = [t for t in asked(cheap) if unsure_strong(t)]
        assert hard  # the fixture makes some
        rows = read_rows(review)
        assert sorted(r["text"] for r in rows) == sorted(hard)
        assert all(not r["label"] for r in rows)
        assert f"awaiting review: {len(hard)} texts" in printed
        clf = joblib.load(out)
        assert "human" not in clf.label_teacher_
        assert not set(hard) & set(clf.labeled_X_.tolist())
        # The person fills in the labels; the resumed run trains on them.
        ledgers = dict(cheap.ledger), dict(strong.ledger)
        write_review(review, [{"text": r["text"], "label": data["truth"][r["text"]]}
                              for r in rows])
        again = [str(review) if arg == "REVIEW" else arg for arg in resume]
        assert main(["distill", "--out", str(out), "--resume", "--quiet",
                     *again]) == 0
        printed = capsys.readouterr().out
        assert (dict(cheap.ledger), dict(strong.ledger)) == ledgers
    clf = joblib.load(out)
    human = clf.label_teacher_ == "human"
    assert sorted(clf.labeled_X_[human]) == sorted(hard)
    assert (clf.label_source_[human] == "teacher").all()
    assert [data["truth"][t] for t in clf.labeled_X_[human]] == \
        clf.labeled_y_[human].tolist()
    assert stage_counts(printed)[answered_by] == (len(hard), 0.0)
    assert "awaiting review: none" in printed


def test_review_in_answers_a_persons_labels_before_any_teacher(data, tmp_path,
                                                               capsys):
    truth = data["truth"]
    pool = [r["text"] for r in read_rows(data["pool"])]
    reviewed = tmp_path / "reviewed.jsonl"
    labelled = pool[:150]  # a person labelled most of the pool
    reviewed.write_text("".join(json.dumps({"text": t, "label": truth[t]}) + "\n"
                                for t in labelled)
                        + json.dumps({"text": pool[150], "label": None}) + "\n")
    cheap, strong = servers(truth)
    with cheap, strong:
        assert main(cascade_args(data, cheap, strong, tmp_path / "m.joblib",
                                 "--review-in", str(reviewed))) == 0
        sent = set(asked(cheap)) | set(asked(strong))
    printed = capsys.readouterr().out
    clf = joblib.load(tmp_path / "m.joblib")
    human = clf.label_teacher_ == "human"
    assert human.sum() == stage_counts(printed)["review-in"][0] > 0
    assert set(clf.labeled_X_[human]) <= set(labelled)
    assert not sent & set(labelled)  # never sent to a teacher
    assert sent  # the others were


def test_a_dry_run_fakes_each_paid_stage_of_a_cascade(data, tmp_path, capsys,
                                                      monkeypatch):
    pytest.importorskip("anthropic")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["distill", "--seed", data["seed"], "--pool", data["pool"],
                 "--teacher", "openai,anthropic", "--model",
                 f"{CHEAP},claude-haiku-4-5", "--budget-labels", "20",
                 "--dry-run", "--quiet", "--out", str(tmp_path / "m.joblib")]) == 0
    printed, err = capsys.readouterr()
    assert "a confidence stated with each label (paid" not in err  # last stage
    usd = [float(x) for x in re.findall(
        r"dry run: (?:gpt-4.1-nano|claude-haiku-4-5) would have been sent .*? "
        r"for about \$(\d+\.\d+)", printed)]
    run = json.loads((tmp_path / "m.run.json").read_text())
    assert len(usd) == 2 and run["dry_run"]
    assert sum(usd) == pytest.approx(run["bill"]["teacher_cost_usd"], abs=2e-4)
    assert len(read_rows(tmp_path / "m.dry-run.prompts.jsonl")) > 0


def estimate(data, capsys, *extra):
    assert main(["estimate-cost", "--seed", data["seed"], "--pool", data["pool"],
                 "--budget-labels", "1000", *extra]) == 0
    printed = capsys.readouterr().out
    return float(re.search(r"estimated cost: \$(\d+\.\d+)", printed).group(1)), printed


def test_estimate_cost_prices_each_stage_for_the_share_that_reaches_it(
        data, capsys):
    stages = ["--teacher", "anthropic,openai", "--model",
              f"claude-haiku-4-5,{STRONG}"]
    upper, printed = estimate(data, capsys, *stages)
    assert "--escalation-share 1, an upper bound" in printed
    assert "note: claude-haiku-4-5 states a confidence" in printed
    first_only, _ = estimate(data, capsys, *stages, "--escalation-share", "0")
    quarter, printed = estimate(data, capsys, *stages, "--escalation-share", "0.25")
    assert "assumed: 25% of the texts" in printed
    haiku, _ = estimate(data, capsys, "--teacher", "anthropic", "--model",
                        "claude-haiku-4-5")
    assert 0 < first_only < quarter < upper
    assert quarter - first_only == pytest.approx(0.25 * (upper - first_only),
                                                 rel=0.01)
    # The first stage is priced as Claude alone, plus the confidence's
    # sentence and field in its prompt.
    assert haiku < first_only < 1.1 * haiku


@pytest.mark.parametrize("extra, needle", [
    (["--teacher", "openai,anthropic", "--model", "a,b,c"],
     "--model 'a,b,c': expected one entry per stage"),
    (["--teacher", "oracle,anthropic"], "it can only be the last stage"),
    (["--teacher", "openai,anthropic", "--min-confidence", "0.8,0.9"],
     "one per stage but the last (1: gpt-4.1-mini)"),
    (["--teacher", "openai", "--min-confidence", "0.8"],
     "--min-confidence is for a cascade"),
    (["--teacher", "openai,anthropic", "--sampler", "pgkd"],
     "--sampler pgkd has one teacher write texts"),
    (["--teacher", "openai,openai", "--price", "1,2"],
     "--price: expected one IN,OUT pair per openai stage"),
    (["--teacher", "openai,anthropic", "--review-in", "missing.csv"],
     "--review-in missing.csv: no such file"),
    (["--teacher", "openai,", "--min-confidence", "0.8"], "has an empty stage"),
])
def test_bad_cascade_options_are_one_line_before_anything_runs(
        data, tmp_path, capsys, extra, needle):
    assert main(["distill", "--seed", data["seed"], "--pool", data["pool"],
                 "--budget-labels", "10", "--dry-run",
                 "--out", str(tmp_path / "m.joblib"), *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "m.run.json").exists()
