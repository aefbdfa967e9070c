"""LLM teachers answer label sets: fake Claude and OpenAI servers through the
real SDKs, the cache, malformed sets, and a multi-label fit."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU
from skakd.teachers import AnthropicTeacher, OpenAITeacher, TeacherCache
from skakd.teachers.testing import FakeAnthropic, FakeOpenAI, Fault

pytest.importorskip("anthropic")
pytest.importorskip("openai")

CLASSES = ["billing", "login", "refund"]
WORDS = {"billing": "invoice", "login": "password", "refund": "money back"}
TEXTS, SETS = [], []
for i in range(120):
    labels = [c for j, c in enumerate(CLASSES) if (i >> j) & 1]
    TEXTS.append(" ".join(WORDS[c] for c in labels) + f" message {i}")
    SETS.append(labels)
TRUTH = dict(zip(TEXTS, SETS))


def truth_labeler(text, classes):
    return TRUTH[text]


SERVERS = {
    "anthropic": (FakeAnthropic, lambda server, **kw: AnthropicTeacher(
        base_url=server.base_url, api_key="test-key", timeout=5,
        **{"cache": None, "batch_size": 10, **kw})),
    "openai": (FakeOpenAI, lambda server, **kw: OpenAITeacher(
        model="gpt-4.1-mini", base_url=server.base_url, api_key="test-key",
        timeout=5, **{"cache": None, "batch_size": 10, **kw})),
}


@pytest.fixture(params=sorted(SERVERS))
def provider(request):
    return SERVERS[request.param]


def test_label_sets_come_back_empty_sets_included(provider):
    fake, make = provider
    with fake(labeler=truth_labeler) as server:
        result = make(server).label(TEXTS[:8], CLASSES, multi_label=True)
    assert result.labels == [tuple(s) for s in SETS[:8]]
    assert result.labels[0] == () and result.n_unlabeled == 0
    assert result.cost > 0


def test_the_default_fake_names_the_classes_a_text_mentions(provider):
    fake, make = provider
    with fake() as server:
        result = make(server).label(["billing and refund please", "hello"],
                                    CLASSES, multi_label=True)
    assert result.labels == [("billing", "refund"), ()]


def test_a_label_outside_the_set_is_malformed(provider):
    fake, make = provider
    with fake(labeler=truth_labeler) as server:
        # The first answer and its correction both name a label outside.
        server.script(Fault(answer="unknown_label"), Fault(answer="unknown_label"))
        result = make(server).label(TEXTS[1:4], CLASSES, multi_label=True)
    assert result.labels[0] is None
    assert result.reasons[0] == "unknown_label"


def test_the_cache_keys_label_sets_apart_from_single_labels(tmp_path):
    with FakeAnthropic(labeler=lambda text, classes: "billing") as server:
        teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
                                   cache=TeacherCache(tmp_path / "c.sqlite"))
        single = teacher.label(TEXTS[:3], CLASSES).labels
        sets = teacher.label(TEXTS[:3], CLASSES, multi_label=True).labels
        again = teacher.label(TEXTS[:3], CLASSES, multi_label=True)
        assert server.n_messages == 2
    assert single == ["billing"] * 3 and sets == [("billing",)] * 3
    assert again.labels == sets and again.n_cached == 3


def test_estimate_cost_prices_label_sets():
    teacher = AnthropicTeacher(api_key="k", cache=None)
    single = teacher.estimate_cost(100, classes=CLASSES)
    multi = teacher.estimate_cost(100, classes=CLASSES, multi_label=True)
    assert multi > single > 0


def test_a_multi_label_fit_with_fake_claude_and_openai(provider):
    fake, make = provider
    with fake(labeler=truth_labeler) as server:
        clf = ActiveDistillationClassifier(
            make_pipeline(TfidfVectorizer(),
                          OneVsRestClassifier(LogisticRegression())),
            teacher=make(server), sampler=MRARU(batch_size=10), max_iter=3,
            classes=CLASSES, random_state=0,
        ).fit(np.array(TEXTS[:20], dtype=object), SETS[:20],
              X_pool=np.array(TEXTS[20:], dtype=object))
    taught = clf.label_source_ == "teacher"
    assert taught.sum() == 30
    expected = [[int(c in TRUTH[t]) for c in CLASSES] for t in clf.labeled_X_[taught]]
    assert clf.labeled_y_[taught].tolist() == expected
    assert clf.predict(TEXTS[:2]).shape == (2, 3)


@pytest.mark.parametrize("mode", ["json_object", "text"])
def test_label_sets_through_json_mode_and_plain_text_lines(mode):
    """A server with no structured outputs answers label sets as lines
    ``<id>: a | b`` or ``<id>: none``; the teacher reads them back."""
    supports = ("json_object",) if mode == "json_object" else ()
    with FakeOpenAI(labeler=truth_labeler, supports=supports) as server:
        teacher = OpenAITeacher(model="gpt-4.1-mini", base_url=server.base_url,
                                api_key="test-key", timeout=5, cache=None,
                                batch_size=8, structured_output=mode)
        result = teacher.label(TEXTS[:8], CLASSES, multi_label=True)
        body = server.completion_bodies()[-1]
    assert result.labels == [tuple(s) for s in SETS[:8]]
    assert result.n_unlabeled == 0
    if mode == "text":
        assert "`<id>: none`" in body["messages"][0]["content"]
