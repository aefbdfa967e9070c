"""Fits from no seed (issue 30): the teacher labels the first rounds, chosen
without a student, until two classes are labelled."""

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD, SimulatedGenerator
from skakd.sampling import MRARU, RandomSampler, class_texts, cold_select
from skakd.teachers import AnthropicTeacher, OpenAITeacher, OracleTeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic, FakeOpenAI


def cold(blobs, X_seed=(), y_seed=(), **params):
    params.setdefault("teacher", OracleTeacher(blobs["X"], blobs["y"]))
    params.setdefault("sampler", MRARU(batch_size=10))
    params.setdefault("classes", [0, 1, 2])
    clf = ActiveDistillationClassifier(LogisticRegression(), random_state=0, **params)
    return clf.fit(np.asarray(X_seed).reshape(-1, 6), list(y_seed),
                   X_pool=blobs["X_pool"])


@pytest.mark.parametrize("cold_start", ["diverse", "random", "coverage"])
def test_a_fit_from_no_seed_labels_round_zero_with_the_teacher(blobs, cold_start):
    clf = cold(blobs, max_iter=3, sampler=MRARU(batch_size=10, cold_start=cold_start))
    first = clf.history_[0]
    # The cold round asks about one item per class at least: max(10, 3).
    assert first["n_cold_labels"] == first["n_labeled"] == 10
    assert first["n_cold_rounds"] == 1
    assert clf.history_[:, "n_labeled"] == [10, 20, 30, 40]
    assert set(clf.label_source_) == {"teacher"}
    assert (clf.label_round_ == 0).sum() == 10
    np.testing.assert_array_equal(
        clf.labeled_y_, blobs["y_pool"][clf.labeled_pool_index_])
    assert clf.score(blobs["X_test"], blobs["y_test"]) > 0.6


def test_a_seeded_fit_is_unchanged_by_the_cold_start_setting(blobs):
    fits = [ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(blobs["X"], blobs["y"]),
        sampler=MRARU(batch_size=10, cold_start=cold_start), max_iter=3,
        random_state=0).fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
        for cold_start in ("diverse", "random")]
    np.testing.assert_array_equal(fits[0].labeled_pool_index_,
                                  fits[1].labeled_pool_index_)
    assert "n_cold_labels" not in fits[0].history_[0]


def test_a_seed_of_one_class_starts_cold_too(blobs):
    one = blobs["y_seed"] == 0
    clf = cold(blobs, blobs["X_seed"][one], blobs["y_seed"][one], max_iter=2)
    assert (clf.label_source_ == "seed").sum() == one.sum()
    assert clf.history_[0]["n_cold_labels"] == 10
    assert len(clf.classes_) == 3


def test_cold_rounds_go_on_until_two_classes_are_labelled(blobs):
    # The teacher answers class 0 for everything but every 25th item.
    calls = []

    def teacher(items):
        calls.append(len(items))
        return [0] * len(items) if len(calls) < 3 else [0, 1] * (len(items) // 2)

    clf = cold(blobs, teacher=teacher, max_iter=5, sampler=RandomSampler(batch_size=4))
    assert clf.history_[0]["n_cold_rounds"] == 3
    assert calls[:3] == [4, 4, 4]  # max(batch_size=4, 3 classes) a round
    assert clf.history_[0]["n_cold_labels"] == 12
    assert clf.n_iter_ == 5


def test_a_teacher_of_one_class_ends_with_a_clear_error(blobs):
    with pytest.raises(ValueError, match=r"before two classes.*labels \[0\] only"):
        cold(blobs, teacher=lambda items: [0] * len(items), max_iter=3)


def test_a_pool_with_fewer_classes_than_classes_is_fine(blobs):
    keep = blobs["y_pool"] != 2
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(blobs["X"], blobs["y"]),
        sampler=MRARU(batch_size=10), classes=[0, 1, 2], max_iter=2, random_state=0,
    ).fit(np.empty((0, 6)), [], X_pool=blobs["X_pool"][keep])
    assert set(clf.labeled_y_) <= {0, 1}
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_the_budget_bounds_the_cold_start(blobs):
    with pytest.raises(ValueError, match=r"cold start ended \(max_labels\)"):
        cold(blobs, teacher=lambda items: [1] * len(items), max_labels=25)


@pytest.mark.parametrize(("X", "y", "params", "match"), [
    ([], [], {}, "labelled seed\\) are empty"),
    (np.empty((0, 6)), [], {"classes": [0, 1, 2], "X_pool": None}, "needs a pool"),
    ([], [], {"classes": [0]}, "fewer than two classes"),
])
def test_what_cannot_start_cold_is_refused_clearly(blobs, X, y, params, match):
    X_pool = params.pop("X_pool", blobs["X_pool"])
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(blobs["X"], blobs["y"]), **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y, X_pool=X_pool)


def test_diverse_covers_more_classes_than_random():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10, size=(20, 5))
    y = np.repeat(np.arange(20), 50)
    X = centres[y] + rng.normal(size=(1000, 5))
    hit = {method: np.mean([len(set(y[cold_select(
        method, None, X, np.arange(1000), 20, np.random.default_rng(seed))])) / 20
        for seed in range(5)]) for method in ("diverse", "random")}
    assert hit["diverse"] >= 0.9 > hit["random"]


def test_coverage_takes_the_item_nearest_each_class_text_first(texts):
    X, _ = texts
    missing = class_texts(["sport"], {"sport": "match goal team"})
    chosen = cold_select("coverage", None, X, np.arange(len(X)), 5,
                         np.random.default_rng(0), missing=missing)
    assert len(np.unique(chosen)) == 5  # the rest is a diverse batch
    assert {"match", "goal", "team"} <= set(X[chosen[0]].split())


@pytest.mark.parametrize(("fake", "teacher_class", "model"), [
    (FakeOpenAI, OpenAITeacher, "gpt-4.1-mini"),
    (FakeAnthropic, AnthropicTeacher, "claude-haiku-4-5"),
])
def test_a_cold_text_fit_through_an_llm_teacher_pays_once(
        tmp_path, fake, teacher_class, model):
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    rng = np.random.default_rng(0)
    words = {"refund": ["money", "back", "refund"], "delivery": ["parcel", "late"],
             "account": ["login", "password"]}
    pool = [f"my {' '.join(rng.choice(words[c], 2))} {c} question {i}"
            for i, c in enumerate(rng.choice(list(words), 120))]
    with fake() as server:
        teacher = teacher_class(model=model, base_url=server.base_url,
                                api_key="test-key",
                                cache=TeacherCache(tmp_path / "c.sqlite"),
                                class_descriptions={"refund": "money back"})
        make = lambda: ActiveDistillationClassifier(  # noqa: E731
            make_pipeline(TfidfVectorizer(), LogisticRegression()), teacher=teacher,
            sampler=MRARU(batch_size=10, cold_start="coverage"),
            classes=list(words), max_iter=2, random_state=0)
        clf = make().fit([], [], X_pool=pool)
        sent = len(server.requests)
        assert clf.history_[0]["n_cold_labels"] >= 10
        assert clf.teacher_cost_ > 0
        assert set(clf.label_source_) == {"teacher"}
        again = make().fit([], [], X_pool=pool)
        assert len(server.requests) == sent  # the cache answers a refit
        np.testing.assert_array_equal(again.labeled_y_, clf.labeled_y_)


def test_pgkd_starts_from_the_class_names_alone(texts):
    X, y = texts
    generator = SimulatedGenerator(list(X), list(y), random_state=0)
    clf = ActiveDistillationClassifier(
        teacher=generator, sampler=PGKD(batch_size=16), classes=["money", "sport"],
        max_iter=2, random_state=0).fit([], [])
    assert clf.history_[0]["n_cold_labels"] == 16
    assert set(clf.label_source_) == {"generated"}  # validation rows included
    assert clf.sampler_.summary_["validation_size"] > 0
    assert clf.score(X, y) > 0.8


@pytest.mark.parametrize(("fake", "teacher_class", "model"), [
    (FakeOpenAI, OpenAITeacher, "gpt-4.1-mini"),
    (FakeAnthropic, AnthropicTeacher, "claude-haiku-4-5"),
])
def test_pgkd_from_a_taxonomy_through_an_llm_teacher(fake, teacher_class, model):
    pytest.importorskip("openai")
    pytest.importorskip("anthropic")
    with fake() as server:
        teacher = teacher_class(model=model, base_url=server.base_url,
                                api_key="test-key", cache=None)
        clf = ActiveDistillationClassifier(
            teacher=teacher, sampler=PGKD(
                batch_size=12, class_descriptions={"refund": "money back"}),
            classes=["account", "delivery", "refund"], max_iter=1, random_state=0,
        ).fit([], [])
        prompt = json.dumps(server.answered_bodies()[0])
    assert "money back" in prompt  # the description reached the first request
    assert clf.history_[0]["n_cold_labels"] == 12 and clf.teacher_cost_ > 0
    assert set(clf.classes_) == {"account", "delivery", "refund"}
