"""A cascade of teachers answering label sets: confident sets kept from the
cheap stage, the rest escalated once, answers to sets kept apart from single
labels, and a multi-label fit whose rows name the stage that labelled them."""

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU
from skakd.teachers import HumanReview, OracleTeacher, TeacherCascade, TeacherResult

CLASSES = ["billing", "login", "refund"]
WORDS = {"billing": "invoice", "login": "password", "refund": "money back"}
TEXTS, SETS = [], []
for i in range(400):
    labels = [c for j, c in enumerate(CLASSES) if (i >> j) & 1]
    TEXTS.append(" ".join(WORDS[c] for c in labels) + f" message {i}")
    SETS.append(labels)


class Counting:
    """An oracle stage that records the items it is asked about, and how."""

    def __init__(self, **kwargs):
        self.teacher = OracleTeacher(TEXTS, SETS, **kwargs)
        self.cost_per_item = self.teacher.cost_per_item
        self.asked = []

    def label(self, items, classes, multi_label=False):
        self.asked.extend((item, multi_label) for item in items)
        return self.teacher.label(items, classes, multi_label=multi_label)


def cascade(threshold=0.8):
    cheap = Counting(noise_rate=0.3, confidence="calibrated",
                     confidence_concentration=0.5, cost_per_item=0.1,
                     random_state=0)
    strong = Counting(cost_per_item=1.0)
    return TeacherCascade([("cheap", cheap), ("strong", strong)],
                          min_confidence=threshold), cheap, strong


def test_confident_sets_stay_with_the_cheap_stage_the_rest_go_on_once():
    teachers, cheap, strong = cascade()
    result = teachers.label(TEXTS, CLASSES, multi_label=True)
    truth = [tuple(s) for s in SETS]
    by_cheap = [s == "cheap" for s in result.sources]
    confident = [c >= 0.8 for c in cheap.teacher.label(
        TEXTS, CLASSES, multi_label=True).confidence]
    assert by_cheap == confident
    assert 0 < sum(by_cheap) < len(TEXTS)
    # Escalated sets are the strong stage's, and right; each asked once.
    assert all(label == t for label, t, c in zip(result.labels, truth, by_cheap)
               if not c)
    assert sorted(item for item, _ in strong.asked) == sorted(
        t for t, c in zip(TEXTS, by_cheap) if not c)
    assert all(how for _, how in cheap.asked + strong.asked)
    assert result.cost == pytest.approx(0.1 * len(TEXTS) + 1.0 * len(strong.asked))
    # The calibrated cheap stage is right about as often as it says.
    kept = [(label, t) for label, t, c in zip(result.labels, truth, by_cheap) if c]
    assert np.mean([a == b for a, b in kept]) > 0.8


class BothWays:
    """A sure stage answering a set, or the set's first label."""

    def __init__(self):
        self.asked = []

    def label(self, items, classes, multi_label=False):
        self.asked.extend((item, multi_label) for item in items)
        sets = [tuple(SETS[TEXTS.index(item)]) for item in items]
        labels = sets if multi_label else [s[0] if s else "none" for s in sets]
        return TeacherResult(labels=labels, confidence=[1.0] * len(items))


def test_label_sets_and_single_labels_are_remembered_apart():
    cheap = BothWays()
    teachers = TeacherCascade([("cheap", cheap), ("strong", BothWays())])
    first = teachers.label(TEXTS[1:6], CLASSES, multi_label=True)
    again = teachers.label(TEXTS[1:6], CLASSES, multi_label=True)
    assert again.labels == first.labels == [tuple(s) for s in SETS[1:6]]
    assert again.n_cached == 5 and len(cheap.asked) == 5
    single = teachers.label(TEXTS[1:6], CLASSES)
    assert single.labels == [s[0] for s in SETS[1:6]]
    assert cheap.asked[5:] == [(text, False) for text in TEXTS[1:6]]


class SingleLabelOnly:
    cost_per_item = 1.0

    def label(self, items, classes):
        raise AssertionError("asked about label sets")


def test_a_stage_that_cannot_answer_label_sets_is_refused_before_any_call():
    teachers = TeacherCascade([("cheap", cascade()[1]),
                               ("single", SingleLabelOnly())])
    with pytest.raises(TypeError, match="teacher single cannot answer label sets"):
        teachers.label(TEXTS[:5], CLASSES, multi_label=True)
    assert teachers.teachers[0][1].asked == []


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_person_reviews_label_sets_the_empty_set_included(tmp_path, suffix):
    path = tmp_path / f"review{suffix}"
    cheap = cascade()[1]
    teachers = TeacherCascade([("cheap", cheap), ("person", HumanReview(path))],
                              min_confidence=0.8)
    first = teachers.label(TEXTS[:40], CLASSES, multi_label=True)
    waiting = [t for t, why in zip(TEXTS[:40], first.reasons or [])
               if why == "awaiting_review"]
    assert waiting and all(first.labels[TEXTS.index(t)] is None for t in waiting)
    # The person fills in every waiting text: its true set, [] for none.
    truth = {t: SETS[TEXTS.index(t)] for t in waiting}
    if suffix == ".csv":
        rows = ["text,label"] + [f"{t},{'|'.join(truth[t]) or '[]'}" for t in waiting]
        path.write_text("\n".join(rows) + "\n")
    else:
        path.write_text("".join(json.dumps({"text": t, "label": truth[t]}) + "\n"
                                for t in waiting))
    second = teachers.label(TEXTS[:40], CLASSES, multi_label=True)
    for t in waiting:
        i = TEXTS.index(t)
        assert second.labels[i] == tuple(truth[t]) and second.sources[i] == "human"
    assert () in [second.labels[TEXTS.index(t)] for t in waiting]
    assert len(cheap.asked) == 40  # the cheap stage was not asked again


def test_a_reviewed_label_outside_the_classes_names_its_line(tmp_path):
    path = tmp_path / "review.csv"
    path.write_text("text,label\nsome text,billing|refnud\n")
    with pytest.raises(ValueError, match="line 2: label 'refnud' is not one"):
        HumanReview(path).label(["some text"], CLASSES, multi_label=True)


def test_estimate_cost_prices_label_sets_through_the_stages():
    teachers = cascade()[0].set_params(escalation_share=0.25)
    assert teachers.estimate_cost(100, CLASSES, multi_label=True) == pytest.approx(
        0.1 * 100 + 1.0 * 25)


def test_a_multi_label_fit_records_which_stage_labelled_each_row():
    teachers = cascade()[0]
    seed = [0, 1, 2, 4, 7]
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(),
                      OneVsRestClassifier(LogisticRegression())),
        teacher=teachers, sampler=MRARU(batch_size=20), max_iter=4,
        random_state=0)
    clf.fit([TEXTS[i] for i in seed], [SETS[i] for i in seed],
            X_pool=TEXTS[8:300])
    asked = clf.label_source_ == "teacher"
    assert asked.sum() == 80
    assert set(clf.label_teacher_[asked]) == {"cheap", "strong"}
    assert np.isnan(clf.labeled_confidence_[~asked]).all()
    stages = clf.history_[-1]
    assert stages["n_stage_0"] + stages["n_stage_1"] == 20
    assert clf.score(TEXTS[300:], [SETS[i] for i in range(300, 400)]) > 0.5
