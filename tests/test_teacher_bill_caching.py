"""Prompt caching: the static prefix is paid once, then read at a tenth."""

import pytest

from skakd.teachers import PRICES, AnthropicTeacher
from skakd.teachers.testing import FakeAnthropic, default_labeler

pytest.importorskip("anthropic")

# A taxonomy whose prompt (names, descriptions) is long enough to be cached.
CLASSES = [f"intent_{i:03d}" for i in range(150)]
DESCRIPTIONS = {c: f"questions about topic number {c[-3:]} of the bank" for c in CLASSES}
TEXTS = [f"customer question {i} on intent_{i % 150:03d}" for i in range(200)]


def make_teacher(server, **params):
    return AnthropicTeacher(**{
        "base_url": server.base_url, "api_key": "test-key", "cache": None,
        "model": "claude-opus-4-1", "class_descriptions": DESCRIPTIONS,
        "batch_size": 20, "max_concurrency": 1, **params})


def input_tokens(ledger):
    """Input tokens weighted by their price: cache writes 1.25, reads 0.1."""
    return (ledger["input_tokens"] + 1.25 * ledger["cache_creation_input_tokens"]
            + 0.1 * ledger["cache_read_input_tokens"])


def usd(server, model="claude-opus-4-1"):
    price_in, price_out = PRICES[model]
    return (input_tokens(server.ledger) * price_in
            + server.ledger["output_tokens"] * price_out) / 1e6


@pytest.mark.parametrize("caching", [True, False])
def test_the_prefix_is_written_once_then_read_and_the_bill_follows(caching):
    with FakeAnthropic() as server:
        teacher = make_teacher(server, prompt_caching=caching)
        estimate = teacher.estimate_cost(TEXTS, classes=CLASSES)
        result = teacher.label(TEXTS, CLASSES)
        ledger = dict(server.ledger)
        cost = usd(server)

    assert result.labels == [default_labeler(t, CLASSES) for t in TEXTS]
    info = result.info
    assert (info["cache_write_tokens"], info["cache_read_tokens"]) == (
        ledger["cache_creation_input_tokens"], ledger["cache_read_input_tokens"])
    assert result.input_tokens == ledger["input_tokens"]
    assert result.cost == pytest.approx(cost)
    if caching:  # one write, then nine reads of the same prefix
        assert info["cache_write_tokens"] > 1024
        assert info["cache_read_tokens"] == 9 * info["cache_write_tokens"]
    else:
        assert info["cache_write_tokens"] == info["cache_read_tokens"] == 0
    # estimate_cost knows both prices: it brackets the bill either way.
    assert estimate == pytest.approx(cost, rel=0.2)


def test_caching_halves_the_input_cost_of_a_long_prefix():
    cost = {}
    for caching in (True, False):
        with FakeAnthropic() as server:
            make_teacher(server, prompt_caching=caching).label(TEXTS, CLASSES)
            cost[caching] = input_tokens(server.ledger)
    assert cost[True] < 0.5 * cost[False]


def test_a_prefix_below_the_models_minimum_is_not_cached():
    # Haiku 4.5 caches prefixes of 4096 tokens or more only.
    with FakeAnthropic() as server:
        result = make_teacher(server, model="claude-haiku-4-5").label(TEXTS, CLASSES)
    assert result.info["cache_write_tokens"] == result.info["cache_read_tokens"] == 0
