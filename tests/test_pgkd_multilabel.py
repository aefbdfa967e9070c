"""PGKD on label sets: texts generated with their labels by the simulated
generator and by fake Claude / OpenAI servers through the real SDKs, the
per-label report against scikit-learn's, hard negatives per label, the
counts that ask for rare labels, and the screen of label sets."""

import re

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier, MultiLabelStudent
from skakd.augmentation import PGKD, GenerationRequest, SimulatedGenerator
from skakd.augmentation._screen import SampleScreen
from skakd.teachers import AnthropicTeacher, OpenAITeacher
from skakd.teachers.testing import FakeAnthropic, FakeOpenAI

LABELS = ["billing", "login", "outage", "refund", "shipping"]
RATES = {"billing": 0.55, "login": 0.3, "outage": 0.04, "refund": 0.2,
         "shipping": 0.1}
CUES = {"billing": ["invoice", "charged", "bill"], "login": ["password", "locked"],
        "outage": ["down", "unreachable"], "refund": ["refund", "reimburse"],
        "shipping": ["parcel", "courier"]}
N_SEED, ITERATIONS = 150, 3


def _text(labels, rng):
    """Cue words of ``labels`` among random filler words: no two texts are
    near-duplicates."""
    filler = ["".join(rng.choice(list("bcdfghjklmnpqrstvwz"), 3)) + vowel
              for vowel in "aeiou" for _ in range(2)]
    words = [rng.choice(CUES[name]) for name in labels] + filler[:7]
    return " ".join(rng.permutation(words))


def _corpus(n, seed=0):
    rng = np.random.default_rng(seed)
    sets = [[name for name in LABELS if rng.random() < RATES[name]]
            for _ in range(n)]
    return [_text(labels, rng) for labels in sets], sets


TEXTS, SETS = _corpus(1400)
TRUTH = {text: tuple(labels) for text, labels in zip(TEXTS, SETS)}


def _student():
    return make_pipeline(TfidfVectorizer(),
                         OneVsRestClassifier(LogisticRegression(max_iter=1000)))


@pytest.fixture(scope="module")
def simulated_fit():
    teacher = SimulatedGenerator(TEXTS[N_SEED:], SETS[N_SEED:], random_state=0)
    return ActiveDistillationClassifier(
        estimator=_student(), teacher=teacher, classes=LABELS,
        sampler=PGKD(batch_size=24), max_iter=ITERATIONS, random_state=0,
    ).fit(TEXTS[:N_SEED], SETS[:N_SEED])


def _indicator(sets):
    return np.array([[int(name in labels) for name in LABELS] for labels in sets])


def test_generated_label_sets_reach_the_labelled_set(simulated_fit):
    clf = simulated_fit
    generated = np.flatnonzero(clf.label_source_ == "generated")
    assert len(generated) == sum(clf.history_[:, "n_new"][1:]) > 0
    texts = clf.labeled_X_[generated]
    np.testing.assert_array_equal(clf.labeled_y_[generated],
                                  _indicator([TRUTH[t] for t in texts]))
    assert not set(texts) & set(TEXTS[:N_SEED])  # new texts, not the seed's
    assert isinstance(clf.estimator_, MultiLabelStudent)
    assert clf.predict(TEXTS[-5:]).shape == (5, len(LABELS))
    record = clf.history_[-1]
    assert 0 < record["val_micro_f1"] <= 1 and 0 <= record["val_macro_f1"] <= 1
    assert record["val_loss"] > 0 and 0 <= record["val_accuracy"] <= 1


def _last_student(clf):
    """The student the last request was built from (round ITERATIONS - 1),
    refitted from the labelled rows, and the validation split."""
    n_val = clf.sampler_.validation_size_
    train = np.arange(len(clf.labeled_y_) - n_val)
    rows = train[clf.label_round_[train] <= ITERATIONS - 1]
    student = MultiLabelStudent(clone(_student()), LABELS).fit(
        clf.labeled_X_[rows], clf.labeled_y_[rows])
    X_val, Y_val = clf.labeled_X_[-n_val:], clf.labeled_y_[-n_val:]
    return student, X_val, Y_val


def test_report_per_label_matches_scikit_learn(simulated_fit):
    clf = simulated_fit
    student, X_val, Y_val = _last_student(clf)
    Y_pred = student.predict(X_val)
    report = clf.sampler_.last_request_.report
    precision, recall, f1, support = precision_recall_fscore_support(
        Y_val, Y_pred, zero_division=0)
    for j, label in enumerate(LABELS):
        row = report[label]
        assert row["precision"] == pytest.approx(precision[j])
        assert row["recall"] == pytest.approx(recall[j])
        assert row["f1-score"] == pytest.approx(f1[j])
        assert row["support"] == support[j]
    for average in ("micro", "macro"):
        assert report[f"{average} avg"]["f1-score"] == pytest.approx(
            f1_score(Y_val, Y_pred, average=average, zero_division=0))
    assert clf.history_[ITERATIONS - 1, "val_micro_f1"] == pytest.approx(
        report["micro avg"]["f1-score"])
    prompt = clf.sampler_.last_request_.to_prompt()
    assert "micro avg: precision" in prompt and "any number of them" in prompt


def test_misclassified_and_hard_negatives_per_label(simulated_fit):
    clf = simulated_fit
    student, X_val, Y_val = _last_student(clf)
    proba, Y_pred = student.predict_proba(X_val), student.predict(X_val)
    row_of = {text: i for i, text in enumerate(X_val)}
    request = clf.sampler_.last_request_
    assert request.multi_label and request.misclassified
    for text, true, predicted in request.misclassified:
        i = row_of[text]
        assert true != predicted
        assert true == tuple(np.array(LABELS)[Y_val[i] == 1])
        assert predicted == tuple(np.array(LABELS)[Y_pred[i] == 1])
    hard = request.hard_negatives
    assert len(hard) == 10
    text, true, label = hard[0]
    assert (f"labels: {', '.join(true) or '(none)'}; wrongly predicted: {label}"
            in request.to_prompt())
    wrong = [label for _, _, label in hard]
    first = wrong[:len(set(wrong))]
    assert len(set(first)) == len(first)  # each label's hardest text first
    for text, true, label in hard:
        i, j = row_of[text], LABELS.index(label)
        assert label not in true
        # the label the student gives most to a text without it
        others = [k for k in range(len(LABELS)) if Y_val[i, k] == 0]
        assert proba[i, j] == pytest.approx(proba[i, others].max())
    for label in set(first):  # the hardest negative of each label comes first
        j = LABELS.index(label)
        hardest = max((proba[i, j], i) for i in range(len(Y_val))
                      if Y_val[i, j] == 0 and proba[i, j] ==
                      proba[i, Y_val[i] == 0].max())[1]
        assert (X_val[hardest], label) in [(t, w) for t, _, w in hard]


def test_counts_ask_for_texts_carrying_rare_labels(simulated_fit):
    clf = simulated_fit
    asked = clf.history_[1, "class_counts"]
    seed_share = np.mean([("outage" in labels) for labels in SETS[:N_SEED]])
    assert asked.get("outage", 0) / sum(asked.values()) > 3 * seed_share
    assert asked.get("billing", 0) < asked["outage"]  # the most frequent label
    generated = clf.label_source_ == "generated"
    column = LABELS.index("outage")
    assert clf.labeled_y_[generated, column].mean() > 3 * seed_share
    summary = clf.sampler_.summary_["per_label"]
    assert set(summary) == set(LABELS)
    assert sum(row["asked"] for row in summary.values()) == sum(
        sum(record["class_counts"].values()) for record in clf.history_[1:])
    assert summary["outage"]["kept"] == clf.labeled_y_[generated, column].sum()
    assert summary["billing"]["support"] == clf.labeled_y_[
        -clf.sampler_.validation_size_:, 0].sum()


def test_screen_reads_label_sets():
    screen = SampleScreen(LABELS, ["a validation text"], min_length=3,
                          max_length=200, near_duplicate_threshold=None,
                          multi_label=True)
    samples = [("a text about nothing", []), ("one bill only", "billing"),
               ("a made up label", ["billing", "nope"]),
               ("a bill and a refund", ["billing", "refund", "billing"]),
               ("another bill here", ["billing"]), ("a refund", np.array(["refund"]))]
    accepted, rejected = screen.screen(samples)
    assert accepted == [("a text about nothing", ()),
                        ("a bill and a refund", ("billing", "refund")),
                        ("another bill here", ("billing",)), ("a refund", ("refund",))]
    assert rejected == {"malformed": 1, "label": 1}
    # With counts: a set fills the first of its labels with room; a set
    # with none (the empty set) is surplus.
    fresh = SampleScreen(LABELS, [], min_length=3, max_length=200,
                         near_duplicate_threshold=None, multi_label=True)
    accepted, rejected = fresh.screen(
        [("one bill", ["billing"]), ("bill and refund", ["billing", "refund"]),
         ("nothing at all", []), ("refund and bill", ["refund", "billing"])],
        quotas={"billing": 1, "refund": 1})
    assert [text for text, _ in accepted] == ["one bill", "bill and refund"]
    assert rejected == {"surplus": 2}


def _obedient(written):
    """A fake model's generator that writes the asked counts, each text with
    its label first and, every other text, a second one; but the last text
    with no label."""
    def generator(classes, n_samples, prompt, counter):
        asked = re.findall(r"^- (\w+): (\d+)$", prompt.split("## Texts per class")[1]
                           .split("##")[0], flags=re.M)
        samples = []
        for label, count in asked:
            for _ in range(int(count)):
                rng = np.random.default_rng(counter + len(samples))
                labels = [label] + ([classes[(classes.index(label) + 1) % len(
                    classes)]] if (counter + len(samples)) % 2 else [])
                samples.append((_text(labels, rng), labels))
        samples[-1] = (_text([], np.random.default_rng([counter, 1])), [])
        written.update((text, tuple(labels)) for text, labels in samples)
        return samples
    return generator


SERVERS = {
    "anthropic": (FakeAnthropic, lambda server: AnthropicTeacher(
        base_url=server.base_url, api_key="test-key", timeout=5, cache=None)),
    "openai": (FakeOpenAI, lambda server: OpenAITeacher(
        model="gpt-4.1-mini", base_url=server.base_url, api_key="test-key",
        timeout=5, cache=None)),
}


@pytest.mark.parametrize("provider", sorted(SERVERS))
def test_pgkd_with_a_fake_llm_through_the_sdk(provider):
    pytest.importorskip(provider)
    fake, make = SERVERS[provider]
    written = {}
    with fake(generator=_obedient(written)) as server:
        clf = ActiveDistillationClassifier(
            estimator=_student(), teacher=make(server), classes=LABELS,
            sampler=PGKD(batch_size=10), max_iter=2, random_state=0,
        ).fit(TEXTS[:N_SEED], SETS[:N_SEED])
        bodies = server.answered_bodies()
    generated = np.flatnonzero(clf.label_source_ == "generated")
    assert clf.history_[1:, "n_new"] == [9, 9] and len(generated) == 18
    for i in generated:
        labels = written[clf.labeled_X_[i]]
        np.testing.assert_array_equal(clf.labeled_y_[i], _indicator([labels])[0])
    # The text with no label was not asked for.
    assert clf.history_[1:, "n_surplus"] == [1, 1]
    assert clf.teacher_cost_ > 0
    assert _labels_enum(bodies[0]) == LABELS  # the schema names the classes


def _labels_enum(body):
    """The ``enum`` of a ``labels`` array anywhere in a request body."""
    if isinstance(body, dict):
        labels = body.get("labels")
        if isinstance(labels, dict) and labels.get("type") == "array":
            return labels["items"]["enum"]
        body = list(body.values())
    if isinstance(body, list):
        return next((found for found in map(_labels_enum, body) if found), None)
    return None


@pytest.mark.parametrize("provider", sorted(SERVERS))
def test_llm_generate_returns_label_sets_and_drops_unknown_labels(provider):
    pytest.importorskip(provider)
    fake, make = SERVERS[provider]

    def generator(classes, n_samples, prompt, counter):
        return [("a bill and a refund", ["billing", "refund"]),
                ("nothing here", []), ("bad one", ["billing", "HACKED"])]

    request = GenerationRequest(LABELS, n_samples=3, multi_label=True)
    with fake(generator=generator) as server:
        result = make(server).generate(request)
    assert list(result) == [("a bill and a refund", ("billing", "refund")),
                            ("nothing here", ())]
    assert result.info["n_invalid"] == 1 and result.info["n_corrections"] == 1


def test_a_teacher_answering_a_label_where_a_set_is_due():
    class OneLabel:
        def label(self, items, classes, multi_label=False):
            raise AssertionError("PGKD without a pool labels nothing")

        def generate(self, request):
            return [(f"a bill number {i} {'q' * i}", "billing")
                    for i in range(request.n_samples)]

    clf = ActiveDistillationClassifier(
        teacher=OneLabel(), classes=LABELS, sampler=PGKD(batch_size=5),
        max_iter=1, random_state=0).fit(TEXTS[:N_SEED], SETS[:N_SEED])
    assert clf.history_[1, "n_rejected_malformed"] == 5
    assert clf.history_[1, "n_new"] == 0
    reservoir = SimulatedGenerator(TEXTS, ["billing"] * len(TEXTS))
    with pytest.raises(ValueError, match="asks for label sets but the reservoir"):
        ActiveDistillationClassifier(
            teacher=reservoir, classes=LABELS, sampler=PGKD(batch_size=5),
            max_iter=1, random_state=0).fit(TEXTS[:N_SEED], SETS[:N_SEED])


def test_a_cached_generation_replays_label_sets(tmp_path):
    from skakd.teachers import CachedTeacher

    teacher = CachedTeacher(
        SimulatedGenerator(TEXTS[:300], SETS[:300], random_state=0),
        path=tmp_path / "cache.sqlite")
    request = GenerationRequest(LABELS, n_samples=4, multi_label=True,
                                class_counts={"outage": 2, "refund": 2})
    first = list(teacher.generate(request))
    replay = teacher.generate(request)
    assert list(replay) == first and replay.n_cached == 4
    assert all(isinstance(labels, tuple) for _, labels in first)
    assert sum("outage" in labels for _, labels in first) >= 2


def test_a_seed_too_small_to_validate_is_refused():
    teacher = SimulatedGenerator(TEXTS[:300], SETS[:300], random_state=0)
    with pytest.raises(ValueError, match="no row of the 2-row seed can go"):
        ActiveDistillationClassifier(
            teacher=teacher, classes=LABELS, sampler=PGKD(batch_size=4),
            max_iter=1).fit(["an invoice", "a password"], [["billing"], ["login"]])
