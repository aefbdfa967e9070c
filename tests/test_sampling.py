"""Samplers: M-RARU's accept/reject rule, exhaustive uncertainty, random."""

import time

import numpy as np
import pytest
from scipy.optimize import brentq
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier
from skakd.sampling import (
    MRARU,
    BaseSampler,
    RandomSampler,
    UncertaintySampler,
    uncertainty_score,
)
from skakd.sampling._mraru import _exponent_for_rate, _LazyPermutation
from skakd.teachers import OracleTeacher


class KnownUncertainty(ClassifierMixin, BaseEstimator):
    """A student whose 2-class probabilities are the item's first feature.

    Lets the tests set each item's normalised uncertainty exactly:
    ``p = (1 - u/2, u/2)`` gives ``u(x) = u``.
    """

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        u = np.asarray(X)[:, 0]
        return np.column_stack([1 - u / 2, u / 2])


# The paper's accept/reject rule: accept with probability u (least confidence).
PAPER_RULE = {"strategy": "least_confidence", "target_acceptance": None}


def pool_with_uncertainty(values):
    return np.asarray(values, dtype=float).reshape(-1, 1)


def test_uncertainty_scores():
    proba = np.array([[0.5, 0.5], [1.0, 0.0], [0.75, 0.25]])
    np.testing.assert_allclose(uncertainty_score(proba), [1, 0, 0.5])
    np.testing.assert_allclose(uncertainty_score(proba, "margin"), [1, 0, 0.5])
    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)) / np.log(2)
    np.testing.assert_allclose(uncertainty_score(proba, "entropy"), [1, 0, entropy])
    three = np.array([[1 / 3] * 3, [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(uncertainty_score(three), [1, 0.4 / (2 / 3)])
    with pytest.raises(ValueError, match="strategy"):
        uncertainty_score(proba, "biggest")


def test_temperature_softens_without_reordering():
    proba = np.array([[0.999, 0.001], [0.99, 0.01], [0.9, 0.1]])
    cold, warm = uncertainty_score(proba), uncertainty_score(proba, temperature=4)
    assert (warm > cold).all()
    np.testing.assert_array_equal(np.argsort(cold), np.argsort(warm))


def test_mraru_accepts_with_probability_equal_to_uncertainty():
    # Half the pool is certain (u=0), half has u=0.3. Visiting with
    # acceptance probability u means only u=0.3 items are ever accepted, and
    # it takes batch / (0.5 * 0.3) visits on average.
    X = pool_with_uncertainty([0.0, 0.3] * 5000)
    student = KnownUncertainty().fit(X, None)
    visited, accepted = 0, 0
    for seed in range(40):
        sampler = MRARU(batch_size=20, **PAPER_RULE)
        chosen = sampler.select(student, X, np.arange(len(X)), 20, random_state=seed)
        assert (X[chosen, 0] == 0.3).all()
        visited += sampler.last_stats_["n_visited"]
        accepted += sampler.last_stats_["n_accepted"]
    rate = accepted / visited
    # 40 * 20 = 800 acceptances: a binomial rate of 0.15 is within +-0.025.
    assert rate == pytest.approx(0.15, abs=0.025)


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_chunked_scoring_follows_one_at_a_time_visits(chunk_size):
    X = pool_with_uncertainty(np.linspace(0, 1, 2000))
    student = KnownUncertainty().fit(X, None)
    means = []
    for seed in range(60):
        chosen = MRARU(10, chunk_size=chunk_size, **PAPER_RULE).select(
            student, X, np.arange(len(X)), 10, random_state=seed)
        means.append(X[chosen, 0].mean())
    # Accepted items are drawn with density proportional to u on [0, 1]:
    # their mean uncertainty is 2/3 (sd of a 600-item mean ~ 0.01).
    assert np.mean(means) == pytest.approx(2 / 3, abs=0.03)


def test_mraru_touches_only_what_it_visits():
    X = pool_with_uncertainty(np.full(1_000_000, 0.5))
    student = KnownUncertainty().fit(X[:2], None)
    for params, most in ((PAPER_RULE, 200), ({}, 600)):  # u = 0.5; rate 0.1
        sampler = MRARU(batch_size=25, **params)
        chosen = sampler.select(student, X, np.arange(len(X)), 25, random_state=0)
        assert len(chosen) == 25
        assert sampler.last_stats_["n_visited"] < most


def test_selection_is_a_deterministic_subset_of_candidates():
    X = pool_with_uncertainty(np.random.default_rng(0).random(500))
    student = KnownUncertainty().fit(X, None)
    candidates = np.arange(0, 500, 3)
    a = MRARU(15).select(student, X, candidates, 15, random_state=5)
    b = MRARU(15).select(student, X, candidates, 15, random_state=5)
    np.testing.assert_array_equal(a, b)
    assert set(a) <= set(candidates) and len(set(a)) == 15


def test_overconfident_student_fallbacks():
    X = pool_with_uncertainty(np.r_[np.zeros(990), np.full(10, 1e-9)])
    student = KnownUncertainty().fit(X, None)
    everything = np.arange(len(X))

    sampler = MRARU(5, max_visits=100, **PAPER_RULE)
    chosen = sampler.select(student, X, everything, 5, random_state=0)
    assert sampler.last_stats_["n_visited"] == 100
    assert sampler.last_stats_["n_fallback"] == 5 and len(chosen) == 5

    sampler = MRARU(5, max_visits=1000, fallback="most_uncertain", **PAPER_RULE)
    chosen = sampler.select(student, X, everything, 5, random_state=0)
    assert (X[chosen, 0] > 0).all()  # the least certain of everything visited

    sampler = MRARU(5, max_visits=100, fallback="none", **PAPER_RULE)
    assert len(sampler.select(student, X, everything, 5, random_state=0)) == 0

    sampler = MRARU(5, max_visits=100, fallback="random", **PAPER_RULE)
    chosen = sampler.select(student, X, everything, 5, random_state=0)
    assert len(set(chosen)) == 5 and sampler.last_stats_["n_visited"] == 100


def test_default_visits_are_bounded_for_a_student_certain_of_everything():
    # LDA fitted on fewer rows than dimensions gives exact 0/1 probabilities:
    # u = 0 everywhere, so no exponent reaches the target rate.
    X = pool_with_uncertainty(np.zeros(10_000))
    student = KnownUncertainty().fit(X, None)
    everything = np.arange(len(X))

    sampler = MRARU(25)  # target_acceptance=0.1: 10 * 25 / 0.1 visits at most
    chosen = sampler.select(student, X, everything, 25, random_state=0)
    assert sampler.last_stats_["n_visited"] == 2500
    assert sampler.last_stats_["n_fallback"] == 25 and len(set(chosen)) == 25

    sampler = MRARU(25, target_acceptance=0.5)
    sampler.select(student, X, everything, 25, random_state=0)
    assert sampler.last_stats_["n_visited"] == 500

    for params in ({"max_visits": None}, PAPER_RULE):  # no bound: whole pool
        sampler = MRARU(25, **params)
        sampler.select(student, X, everything, 25, random_state=0)
        assert sampler.last_stats_["n_visited"] == len(X)


def test_auto_bound_leaves_a_reachable_rate_alone():
    # 2% of items uncertain: the 10% target is out of reach, but the batch
    # fills within the bound (25 / 0.02 = 1,250 visits on average).
    rng = np.random.default_rng(0)
    X = pool_with_uncertainty(np.where(rng.random(20_000) < 0.02, 0.5, 0.0))
    student = KnownUncertainty().fit(X, None)
    for seed in range(20):
        sampler = MRARU(25)
        chosen = sampler.select(student, X, np.arange(len(X)), 25, random_state=seed)
        assert sampler.last_stats_["n_fallback"] == 0
        assert (X[chosen, 0] == 0.5).all()


def test_temperature_raises_the_acceptance_rate_of_an_overconfident_student():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 2)) * 6
    student = LogisticRegression(C=100).fit(X, X[:, 0] > 0)
    rates = []
    for temperature in (1, 5):
        sampler = MRARU(25, temperature=temperature, **PAPER_RULE)
        sampler.select(student, X, np.arange(3000), 25, random_state=0)
        rates.append(sampler.last_stats_["acceptance_rate"])
    assert rates[1] > 2 * rates[0]


@pytest.mark.parametrize("target", [0.05, 0.2, 0.6])
def test_target_acceptance_is_reached_on_flat_and_sharp_students(target):
    # u uniform on [0, 1] (mean acceptance 0.5 under the paper's rule) and
    # u near 0 (an overconfident student): both are steered to the target.
    rng = np.random.default_rng(0)
    for u in (rng.random(20_000), rng.random(20_000) ** 8):
        X = pool_with_uncertainty(u)
        student = KnownUncertainty().fit(X, None)
        visited = accepted = 0
        for seed in range(20):
            sampler = MRARU(25, target_acceptance=target)
            sampler.select(student, X, np.arange(len(X)), 25, random_state=seed)
            visited += sampler.last_stats_["n_visited"]
            accepted += sampler.last_stats_["n_accepted"]
        assert accepted / visited == pytest.approx(target, rel=0.25)


def test_target_acceptance_keeps_the_order_by_uncertainty():
    X = pool_with_uncertainty(np.linspace(0, 1, 5000))
    student = KnownUncertainty().fit(X, None)
    means = {}
    for target in (None, 0.1):
        chosen = [MRARU(20, target_acceptance=target).select(
            student, X, np.arange(len(X)), 20, random_state=seed)
            for seed in range(30)]
        means[target] = X[np.concatenate(chosen), 0].mean()
    # u ** g with g > 1 (rate 0.1 < 0.5) favours the most uncertain more.
    assert means[0.1] > means[None] + 0.1
    sampler = MRARU(20, target_acceptance=0.1)
    sampler.select(student, X, np.arange(len(X)), 20, random_state=0)
    assert sampler.last_stats_["exponent"] > 1
    plain = MRARU(20, target_acceptance=None)
    plain.select(student, X, np.arange(len(X)), 20, random_state=0)
    assert "exponent" not in plain.last_stats_


def test_target_acceptance_out_of_reach_takes_what_it_can():
    # Only 1% of the items are uncertain at all: a 20% rate cannot be
    # reached, every uncertain item visited is accepted (unbounded visits:
    # the automatic bound, 250 here, would stop before 5 were found).
    X = pool_with_uncertainty(np.r_[np.zeros(9900), np.full(100, 0.01)])
    student = KnownUncertainty().fit(X, None)
    sampler = MRARU(5, target_acceptance=0.2, max_visits=None)
    chosen = sampler.select(student, X, np.arange(len(X)), 5, random_state=0)
    assert (X[chosen, 0] > 0).all()
    assert sampler.last_stats_["exponent"] == pytest.approx(1e-3)


@pytest.mark.parametrize("strategy", ["margin", "entropy"])
def test_mraru_accepts_by_the_chosen_uncertainty(strategy):
    # Rows (0.5, 0.5, 0) are the more uncertain by margin (1 vs 0.6), rows
    # (0.6, 0.2, 0.2) by entropy (0.86 vs 0.63). Visited equally often,
    # each kind is accepted in proportion to its score.
    proba = np.array([[0.5, 0.5, 0.0], [0.6, 0.2, 0.2]])

    class Fixed(KnownUncertainty):
        def predict_proba(self, X):
            return proba[np.asarray(X)[:, 0].astype(int)]

    X = pool_with_uncertainty(np.tile([0, 1], 2000))
    student = Fixed().fit(X, None)
    scores = uncertainty_score(proba, strategy)
    chosen = np.concatenate([
        MRARU(20, strategy=strategy, target_acceptance=None).select(student, X, np.arange(len(X)), 20,
                                            random_state=seed)
        for seed in range(20)])
    share_first = (X[chosen, 0] == 0).mean()
    assert share_first == pytest.approx(scores[0] / scores.sum(), abs=0.05)


def test_lazy_permutation_is_uniform_and_without_repeats():
    firsts = np.zeros(10)
    for seed in range(3000):
        order = _LazyPermutation(10, np.random.default_rng(seed))
        drawn = np.concatenate([order.take(3), order.take(7)])
        assert sorted(drawn) == list(range(10))
        firsts[drawn[0]] += 1
    assert firsts.min() > 240 and firsts.max() < 360  # 300 expected each


@pytest.mark.parametrize("strategy", ["least_confidence", "margin", "entropy"])
def test_exhaustive_sampler_picks_the_top_scores_in_any_chunking(strategy):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(700, 3))
    student = LogisticRegression().fit(X, rng.integers(0, 3, 700))
    candidates = np.arange(50, 700)
    scores = uncertainty_score(student.predict_proba(X[candidates]), strategy)
    expected = set(candidates[np.argsort(-scores)[:20]])
    for chunk_size in (13, 10_000):
        chosen = UncertaintySampler(20, strategy=strategy, chunk_size=chunk_size).select(
            student, X, candidates, 20, random_state=0)
        assert set(chosen) == expected


def test_random_sampler_is_uniform_and_deterministic():
    counts = np.zeros(20)
    for seed in range(2000):
        chosen = RandomSampler(5).select(None, None, np.arange(20), 5, random_state=seed)
        assert len(set(chosen)) == 5
        counts[chosen] += 1
    assert counts.min() > 420 and counts.max() < 580  # 500 expected each
    a = RandomSampler().select(None, None, np.arange(100), 5, random_state=3)
    np.testing.assert_array_equal(
        a, RandomSampler().select(None, None, np.arange(100), 5, random_state=3))


def test_asking_for_more_than_the_candidates():
    X = pool_with_uncertainty([0.5, 0.9, 0.1])
    student = KnownUncertainty().fit(X, None)
    for sampler in (MRARU(10), RandomSampler(10), UncertaintySampler(10)):
        assert sorted(sampler.select(student, X, np.arange(3), 10, 0)) == [0, 1, 2]


def test_exhaustive_ties_are_broken_at_random_whatever_the_chunking():
    X = pool_with_uncertainty(np.full(300, 0.5))
    student = KnownUncertainty().fit(X, None)
    picks = [set(UncertaintySampler(10, chunk_size=size).select(
        student, X, np.arange(300), 10, random_state=4)) for size in (7, 10_000)]
    assert picks[0] == picks[1]
    assert max(picks[0]) > 100  # not simply the first rows of the pool


@pytest.mark.parametrize("n_classes", [2, 3, 77])
def test_margin_is_one_minus_the_gap_between_the_top_two(n_classes):
    proba = np.random.default_rng(0).dirichlet(np.full(n_classes, 0.3), 500)
    proba[::7, 1] = proba[::7, 0]  # ties for the top
    top2 = -np.sort(-proba, axis=1)[:, :2]
    np.testing.assert_array_equal(uncertainty_score(proba, "margin"),
                                  np.clip(1.0 - (top2[:, 0] - top2[:, 1]), 0, 1))


def test_exponent_fit_matches_scipy_brentq_to_the_last_bit():
    rng = np.random.default_rng(0)
    for u in (rng.random(300), rng.random(300) ** 8, 1 - rng.random(300) ** 8,
              np.where(rng.random(300) < 0.5, 0.0, rng.random(300))):
        for rate in (0.05, 0.1, 0.6):
            with np.errstate(divide="ignore"):
                log_u = np.log(u)

            def excess(log_g, log_u=log_u, rate=rate):
                return np.exp(np.exp(log_g) * log_u).mean() - rate

            low, high = np.log([1e-3, 1e3])
            if excess(low) > 0 > excess(high):
                expected = float(np.exp(brentq(excess, low, high, xtol=1e-3)))
                assert _exponent_for_rate(u, rate) == expected


def test_nan_probabilities_are_an_error_not_a_silent_selection():
    X = pool_with_uncertainty([np.nan, 0.5, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        MRARU(2).select(KnownUncertainty(), X, np.arange(3), 2, random_state=0)


def test_non_finite_rows_raise_the_students_own_error():
    X = np.random.default_rng(0).normal(size=(200, 3))
    student = LogisticRegression().fit(X, X[:, 0] > 0)
    X[7, 1] = np.inf  # a finite probability for a binary LogisticRegression
    for sampler in (MRARU(1), UncertaintySampler(1)):
        with pytest.raises(ValueError, match="infinity"):
            sampler.select(student, X, np.arange(5, 10), 1, random_state=0)


# The template: BaseSampler.select does the opening, subclasses write _select.


class Recording(BaseSampler):
    """Takes the first candidates and records what ``_select`` received."""

    def _select(self, estimator, X_pool, candidates, n_samples, rng):
        self.received_ = (candidates, n_samples, rng)
        return candidates[:n_samples], {"n_visited": n_samples}


def test_template_checks_parameters_and_arguments_naming_them():
    X = pool_with_uncertainty([0.5] * 10)
    student = KnownUncertainty().fit(X, None)
    for sampler, name in ((MRARU(0), "batch_size"), (MRARU(temperature=-1), "temperature"),
                          (UncertaintySampler(strategy="most"), "strategy"),
                          (Recording(batch_size=2.5), "batch_size")):
        with pytest.raises(ValueError, match=f"'{name}' parameter"):
            sampler.select(student, X, np.arange(10), 2, random_state=0)
    for candidates, n_samples, name in ((np.ones((2, 2)), 2, "candidates"),
                                        (np.arange(10), -1, "n_samples"),
                                        (np.arange(10), 2.5, "n_samples"),
                                        (np.arange(10), None, "n_samples")):
        with pytest.raises(ValueError, match=name):
            Recording().select(student, X, candidates, n_samples, random_state=0)


def test_a_parameter_set_after_a_selection_is_checked_again():
    sampler = Recording(batch_size=3)
    sampler.select(None, None, np.arange(5), 3, random_state=0)
    sampler.batch_size = 0
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        sampler.select(None, None, np.arange(5), 3, random_state=0)
    sampler.set_params(batch_size=2)
    assert len(sampler.select(None, None, np.arange(5), 2, random_state=0)) == 2


def test_template_clamps_to_the_candidates_and_passes_an_index_array():
    sampler = Recording()
    chosen = sampler.select(None, None, [4, 1, 7], 10, random_state=0)
    candidates, n_samples, _ = sampler.received_
    assert n_samples == 3 and candidates.dtype == np.intp
    np.testing.assert_array_equal(chosen, [4, 1, 7])
    sampler.select(None, None, np.arange(9), np.int64(4), random_state=0)
    assert sampler.received_[1] == 4 and type(sampler.received_[1]) is int


def test_template_makes_the_generator_from_int_generator_or_none():
    sampler = Recording()
    sampler.select(None, None, np.arange(5), 2, random_state=3)
    assert sampler.received_[2].random() == np.random.default_rng(3).random()
    generator = np.random.default_rng(0)
    sampler.select(None, None, np.arange(5), 2, random_state=generator)
    assert sampler.received_[2] is generator
    sampler.select(None, None, np.arange(5), 2, random_state=None)
    assert isinstance(sampler.received_[2], np.random.Generator)


class Slow(Recording):
    def _select(self, estimator, X_pool, candidates, n_samples, rng):
        time.sleep(0.02)
        return super()._select(estimator, X_pool, candidates, n_samples, rng)


@pytest.mark.parametrize("sampler", [Slow(), MRARU(), RandomSampler(), UncertaintySampler()])
def test_template_times_the_selection_and_adds_seconds_to_the_stats(sampler):
    X = pool_with_uncertainty(np.linspace(0, 1, 50))
    sampler.select(KnownUncertainty().fit(X, None), X, np.arange(50), 5, random_state=0)
    assert list(sampler.last_stats_)[-1] == "seconds"
    assert sampler.last_stats_["seconds"] >= (0.02 if isinstance(sampler, Slow) else 0)
    assert "n_visited" in sampler.last_stats_


def test_a_subclass_writing_only_select_runs_the_distillation_loop(blobs):
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(blobs["X"], blobs["y"]),
        sampler=Slow(batch_size=10), max_iter=3, random_state=0,
    ).fit(blobs["X_seed"], blobs["y_seed"], X_pool=blobs["X_pool"])
    assert clf.history_[:, "n_labeled"] == [9, 19, 29, 39]
    # The first ten candidates each round: pool rows 0-9, 10-19, 20-29.
    np.testing.assert_array_equal(
        clf.labeled_pool_index_[clf.label_source_ == "teacher"], np.arange(30))
    # Timed once, by the template: the loop reports the sampler's own seconds.
    assert clf.history_[-1]["select_seconds"] == clf.sampler_.last_stats_["seconds"]
    assert all(s >= 0.02 for s in clf.history_[1:, "select_seconds"])
