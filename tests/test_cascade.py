"""TeacherCascade and HumanReview: one bill across the stages, no item paid
twice, provenance per item, calibrated thresholds, the review file's round
trip, and a fit through real LLM teachers on fake servers."""

import json

import numpy as np
import pytest

from skakd.teachers import (
    UNLABELED,
    CallableTeacher,
    HumanReview,
    OracleTeacher,
    TeacherCascade,
)

CLASSES = ["card_arrival", "card_delivery_estimate", "card_linking",
           "top_up_failed", "top_up_reverted", "exchange_rate",
           "exchange_charge", "request_refund"]
N = 2000
TEXTS = [f"question number {i}" for i in range(N)]
TRUTH = [CLASSES[(i * 7) % len(CLASSES)] for i in range(N)]


class Counting:
    """A teacher that records every item it is asked about."""

    def __init__(self, teacher):
        self.teacher, self.asked = teacher, []
        self.cost_per_item = teacher.cost_per_item

    def label(self, items, classes):
        self.asked.extend(items)
        return self.teacher.label(items, classes)


def stages(noise_rate=0.25, cheap_price=0.1):
    cheap = OracleTeacher(TEXTS, TRUTH, noise_rate=noise_rate, confusion="names",
                          confidence="calibrated", random_state=0,
                          cost_per_item=cheap_price)
    strong = OracleTeacher(TEXTS, TRUTH, cost_per_item=1.0)
    return Counting(cheap), Counting(strong)


def test_the_bill_is_the_sum_of_the_stages_and_each_item_has_its_source():
    cheap, strong = stages()
    cascade = TeacherCascade([("cheap", cheap), ("strong", strong)],
                             min_confidence=0.8)
    result = cascade.label(TEXTS, CLASSES)
    info = result.info
    assert result.cost == pytest.approx(0.1 * len(cheap.asked)
                                        + 1.0 * len(strong.asked))
    assert info["cost_stage_0"] == pytest.approx(0.1 * N)
    assert info["cost_stage_1"] == pytest.approx(len(strong.asked))
    assert info["n_asked_stage_0"] == N and info["n_stage_0"] + info["n_stage_1"] == N
    assert info["n_escalated"] == info["n_asked_stage_1"] == len(strong.asked)
    by_source = dict(zip(TEXTS, result.sources))
    confident = {t for t, c in zip(TEXTS, cheap.teacher.label(TEXTS, CLASSES)
                                   .confidence) if c >= 0.8}
    assert {t for t, s in by_source.items() if s == "cheap"} == confident
    assert set(strong.asked) == set(TEXTS) - confident
    # The strong teacher's answers are the truth; the cheap one's are kept
    # only where it was sure, so the cascade is right far more often.
    right = np.mean(np.array(result.labels) == np.array(TRUTH))
    assert right > 0.9
    for source, c in zip(result.sources, result.confidence):
        assert (c >= 0.8) if source == "cheap" else c is None


def test_no_item_is_paid_twice_across_stages_or_calls():
    cheap, strong = stages()
    cascade = TeacherCascade([cheap, strong], min_confidence=0.9)
    repeated = TEXTS[:300] + TEXTS[:50]  # copies in one call are asked once
    first = cascade.label(repeated, CLASSES)
    assert len(cheap.asked) == len(set(cheap.asked)) == 300
    assert len(strong.asked) == len(set(strong.asked))
    assert not set(strong.asked) & {t for t, s in zip(repeated, first.sources)
                                    if s == "Counting"}
    again = cascade.label(TEXTS[:300], CLASSES)
    assert len(cheap.asked) == 300 and again.cost == 0
    assert again.labels == first.labels[:300] and again.n_cached == 300
    assert first.labels[300:] == first.labels[:50]
    assert set(first.sources) == {"Counting", "Counting-2"}


def test_items_no_stage_can_label_stay_unlabelled_with_the_last_reason():
    cheap = OracleTeacher(TEXTS[:10], TRUTH[:10], confidence="calibrated")
    strong = CallableTeacher(lambda items: [None] * len(items))
    result = TeacherCascade([cheap, strong]).label(TEXTS[5:15], CLASSES)
    assert result.labels[:5] == TRUTH[5:10]
    assert result.labels[5:] == [UNLABELED] * 5 and result.sources[5:] == [None] * 5


def test_calibration_sets_the_threshold_that_meets_the_agreement():
    cheap, strong = stages()
    cascade = TeacherCascade([cheap, strong])
    sample = TEXTS[:400]
    cascade.calibrate(sample, CLASSES, target_agreement=0.95)
    report, = cascade.calibration_
    threshold = cascade.thresholds_[0]
    assert report["agreement"] >= 0.95 and report["threshold"] == threshold
    assert 0.5 < report["kept_share"] < 0.9
    assert report["agreement_all"] == pytest.approx(0.75, abs=0.06)
    assert report["cost"] == pytest.approx(400 * 1.0 + 400 * 0.1)
    # What it measured holds on items it never saw.
    result = cascade.label(TEXTS[400:], CLASSES)
    kept = np.array(result.sources) == "Counting"
    right = np.array(result.labels) == np.array(TRUTH[400:])
    assert right[kept].mean() > 0.93
    # The calibration items are known: the strong teacher's answer, free.
    replay = cascade.label(sample, CLASSES)
    assert replay.cost == 0 and replay.labels == TRUTH[:400]
    assert set(replay.sources) == {"Counting-2"}


def test_estimate_cost_uses_the_given_or_the_measured_escalation_share():
    cheap, strong = stages()
    assumed = TeacherCascade([cheap, strong], escalation_share=0.2)
    assert assumed.estimate_cost(1000, CLASSES) == pytest.approx(100 + 200)
    measured = TeacherCascade([cheap, strong])
    assert measured.estimate_cost(1000) == pytest.approx(1100)  # nothing seen yet
    result = measured.label(TEXTS, CLASSES)
    share, = measured.escalation_shares_
    assert share == pytest.approx(result.info["n_escalated"] / N)
    assert measured.estimate_cost(TEXTS[:1000], CLASSES) == pytest.approx(
        100 + 1000 * share)


def test_estimate_cost_prices_llm_stages_by_their_own_estimates():
    pytest.importorskip("openai")
    from skakd.teachers import OpenAITeacher

    nano = OpenAITeacher("gpt-4.1-nano", api_key="k", cache=None,
                         confidence="logprobs")
    full = OpenAITeacher("gpt-4.1", api_key="k", cache=None)
    cascade = TeacherCascade([nano, full], escalation_share=0.3)
    expected = (nano.estimate_cost(1000, CLASSES)
                + full.estimate_cost(300, CLASSES))
    assert cascade.estimate_cost(1000, CLASSES) == pytest.approx(expected)
    assert expected < full.estimate_cost(1000, CLASSES) / 2
    # Given texts, each stage is priced on them, not on an average text.
    long = [text + " with many more words" * 40 for text in TEXTS[:100]]
    assert cascade.estimate_cost(long, CLASSES) == pytest.approx(
        nano.estimate_cost(long, CLASSES) + 0.3 * full.estimate_cost(long, CLASSES))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_person_labels_what_no_teacher_was_sure_of_through_the_file(
        tmp_path, suffix):
    path = tmp_path / f"review{suffix}"
    cheap, _ = stages()
    cascade = TeacherCascade([("cheap", cheap), HumanReview(path)],
                             min_confidence=0.95)
    first = cascade.label(TEXTS[:200], CLASSES)
    waiting = [t for t, s in zip(TEXTS[:200], first.sources) if s is None]
    assert waiting and set(first.reasons) == {None, "awaiting_review"}
    assert first.info["n_written"] == len(waiting)
    rows = _read(path)
    assert [r["text"] for r in rows] == waiting
    # The person labels all but the first, in the file.
    truth = dict(zip(TEXTS, TRUTH))
    _write(path, [{"text": r["text"], "label": truth[r["text"]] if i else ""}
                  for i, r in enumerate(rows)])
    second = cascade.label(TEXTS[:200], CLASSES)
    human = [t for t, s in zip(TEXTS[:200], second.sources) if s == "human"]
    assert human == waiting[1:]
    assert all(second.labels[TEXTS.index(t)] == truth[t] for t in human)
    assert second.info["n_written"] == 0 and len(_read(path)) == len(rows)
    assert second.cost == 0  # the cheap answers were kept


def test_a_label_outside_the_classes_in_the_review_file_names_the_line(tmp_path):
    path = tmp_path / "review.csv"
    path.write_text("text,label\na,card_linking\nb,carrd_linking\n")
    with pytest.raises(ValueError, match=r"line 3: label 'carrd_linking'"):
        HumanReview(path).label(["a", "b"], CLASSES)


@pytest.mark.parametrize("params, message", [
    ({"teachers": []}, "teachers is empty"),
    ({"teachers": [object()]}, r"teachers\[0\] is object"),
    ({"min_confidence": [0.5, 0.5]}, "one threshold in"),
    ({"min_confidence": 1.5}, "min_confidence"),
])
def test_bad_parameters_are_named(params, message):
    cheap, strong = stages()
    cascade = TeacherCascade(**{"teachers": [cheap, strong], **params})
    with pytest.raises((ValueError, TypeError), match=message):
        cascade.label(TEXTS[:3], CLASSES)


# -- real LLM teachers on fake servers -----------------------------------------

def llm_truth():
    from skakd.datasets import load_dataset

    data = load_dataset("trec")
    X = np.asarray(data.X_train[:400], dtype=object)
    y = np.asarray(data.y_train[:400])
    return X, y, dict(zip(X.tolist(), y.tolist()))


def server_cost(server, model):
    from skakd.teachers import OPENAI_PRICES

    price_in, cached, price_out = OPENAI_PRICES[model]
    ledger = server.ledger
    fresh = ledger["prompt_tokens"] - ledger["cached_tokens"]
    return (fresh * price_in + ledger["cached_tokens"] * cached
            + ledger["completion_tokens"] * price_out) / 1e6


def asked_texts(server):
    from skakd.teachers.testing._faults import items_of

    return [text for body in server.completion_bodies()
            for text in (t for _, t in items_of(body["messages"][1]["content"]))]


def llm_cascade(cheap_server, strong_server, tmp_path):
    from skakd.teachers import OpenAITeacher, TeacherCache

    def teacher(model, server, **params):
        return OpenAITeacher(model, base_url=server.base_url, api_key="test-key",
                             batch_size=10, max_concurrency=2,
                             cache=TeacherCache(tmp_path / f"{model}.sqlite"),
                             **params)

    return TeacherCascade([teacher("gpt-4.1-nano", cheap_server,
                                   confidence="logprobs"),
                           teacher("gpt-4.1", strong_server)], min_confidence=0.8)


def cheap_fakes(truth, classes):
    """A cheap model wrong on one text in four, and unsure where it is."""
    def wrong(text):
        return sum(map(ord, text)) % 4 == 0

    def labeler(text, asked):
        return ([c for c in asked if c != truth[text]][0] if wrong(text)
                else truth[text])

    return labeler, lambda text, asked: 0.3 if wrong(text) else 0.95


def test_a_cascade_of_llm_teachers_bills_its_servers_and_sends_each_item_once(
        tmp_path):
    pytest.importorskip("openai")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skakd import ActiveDistillationClassifier
    from skakd.sampling import MRARU
    from skakd.teachers.testing import FakeOpenAI

    X, y, truth = llm_truth()
    classes = sorted(set(y.tolist()))
    labeler, confidence = cheap_fakes(truth, classes)
    seed = np.zeros(len(y), bool)
    for label in classes:
        seed[np.flatnonzero(y == label)[:4]] = True
    with FakeOpenAI(labeler=labeler, confidence=confidence) as cheap_server, \
            FakeOpenAI(labeler=lambda text, asked: truth[text]) as strong_server:
        cascade = llm_cascade(cheap_server, strong_server, tmp_path)
        student = make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=300))
        clf = ActiveDistillationClassifier(
            student, teacher=cascade, sampler=MRARU(batch_size=20), max_iter=4,
            random_state=0).fit(X[seed], y[seed], X_pool=X[~seed])
        bill = server_cost(cheap_server, "gpt-4.1-nano") + server_cost(
            strong_server, "gpt-4.1")
        cheap_asked, strong_asked = asked_texts(cheap_server), asked_texts(
            strong_server)
        taught = clf.labeled_X_[seed.sum():].tolist()
        # Asking again, even through a new cascade on the same caches, sends
        # nothing to either server.
        sent = cheap_server.n_completions, strong_server.n_completions
        again = llm_cascade(cheap_server, strong_server, tmp_path).label(
            taught, classes)
        assert (cheap_server.n_completions, strong_server.n_completions) == sent
    assert clf.teacher_cost_ == pytest.approx(bill)
    history = clf.history_[1:]
    assert sum(r["cost_stage_0"] for r in history) == pytest.approx(
        server_cost(cheap_server, "gpt-4.1-nano"))
    assert len(cheap_asked) == len(set(cheap_asked)) == len(taught)
    assert len(strong_asked) == len(set(strong_asked))
    unsure = {t for t in taught if confidence(t, classes) < 0.8}
    assert set(strong_asked) == unsure and unsure
    assert sum(r["n_stage_1"] for r in history) == len(unsure)
    # Every label is right: the cheap model's wrong ones were escalated.
    assert clf.labeled_y_[seed.sum():].tolist() == [truth[t] for t in taught]
    assert again.cost == 0 and again.n_cached == len(taught)
    assert [s == "gpt-4.1" for s in again.sources] == [t in unsure for t in taught]


def _read(path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    import csv
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path, rows):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return
    import csv
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)


def test_a_fit_records_who_gave_each_label_and_how_sure_it_was():
    from sklearn.linear_model import LogisticRegression

    from skakd import ActiveDistillationClassifier
    from skakd.sampling import RandomSampler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    cheap = OracleTeacher(X, y, noise_rate=0.2, random_state=0,
                          confidence="calibrated", cost_per_item=0.1)
    strong = OracleTeacher(X, y, cost_per_item=1.0)
    cascade = TeacherCascade([("cheap", cheap), ("strong", strong)],
                             min_confidence=0.9)
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=cascade, sampler=RandomSampler(batch_size=20),
        max_iter=3, random_state=0).fit(X[:10], y[:10], X_pool=X[10:])
    taught = clf.label_source_ == "teacher"
    assert set(clf.label_teacher_[taught]) == {"cheap", "strong"}
    assert set(clf.label_teacher_[~taught]) == {""}  # the seed
    assert np.isnan(clf.labeled_confidence_[~taught]).all()
    from_cheap = clf.label_teacher_ == "cheap"
    assert (clf.labeled_confidence_[from_cheap] >= 0.9).all()
    history = clf.history_
    assert sum(history[1:, "n_stage_0"]) == from_cheap.sum()
    assert sum(history[1:, "n_stage_1"]) == (clf.label_teacher_ == "strong").sum()
    assert clf.teacher_cost_ == pytest.approx(
        sum(history[1:, "cost_stage_0"]) + sum(history[1:, "cost_stage_1"]))
    # Each round's record has the mean confidence stated for its labels.
    for r in range(1, clf.n_iter_ + 1):
        stated = clf.labeled_confidence_[clf.label_round_ == r]
        assert history[r, "teacher_confidence"] == pytest.approx(
            np.nanmean(stated))
    assert "teacher_confidence" not in history[0]


@pytest.mark.parametrize("max_cost", [5.0, 20.0, 33.3])
def test_max_cost_holds_however_many_items_a_round_escalates(max_cost):
    from sklearn.linear_model import LogisticRegression

    from skakd import ActiveDistillationClassifier
    from skakd.sampling import RandomSampler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 5))
    y = np.where(X[:, 0] > 0, "pos", "neg")
    cheap = OracleTeacher(X, y, noise_rate=0.2, random_state=0,
                          confidence="calibrated", cost_per_item=0.1)
    strong = OracleTeacher(X, y, cost_per_item=1.0)
    cascade = TeacherCascade([("cheap", cheap), ("strong", strong)],
                             min_confidence=0.9)
    assert cascade.estimate_max_cost(10, ["neg", "pos"]) == pytest.approx(11.0)
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=cascade, sampler=RandomSampler(batch_size=20),
        max_iter=100, max_cost=max_cost, random_state=0).fit(
            X[:10], y[:10], X_pool=X[10:])
    assert clf.termination_condition_ == "max_cost"
    assert clf.teacher_cost_ <= max_cost
    # It stops only once not even one item can be paid at every stage.
    assert max_cost - clf.teacher_cost_ < 1.1
