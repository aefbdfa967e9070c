"""PGKD decides the class mix, corrects the prior and trains on the whole seed.

Everything here runs the real loop with real students; only the teachers
are scripted or simulated.
"""

import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from test_pgkd import Recorder

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD, GenerationRequest, SimulatedGenerator
from skakd.augmentation._allocation import (
    allocate,
    batch_shares,
    class_cap,
    prior_weights,
)
from skakd.datasets import load_dataset
from skakd.teachers import BaseTeacher

N_SEED = 200


@pytest.fixture(scope="module")
def trec():
    data = load_dataset("trec")
    return data.X_train, data.y_train


@pytest.fixture
def simulator(trec):
    X, y = trec
    return SimulatedGenerator(X[N_SEED:3000], y[N_SEED:3000], random_state=0)


class EveryClass(BaseTeacher):
    """Writes ``per_class`` new texts of every class, whatever it is asked."""

    def __init__(self, per_class=8):
        self.per_class = per_class
        self.calls = 0

    def generate(self, request):
        self.calls += 1
        return [
            (f"Question {self.calls}-{j} about {label} number {j * 7919 % 1000} ?",
             label)
            for label in request.classes for j in range(self.per_class)
        ]


def student():
    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))


def distil(X, y, teacher, *, estimator=None, max_iter=3, random_state=0, **params):
    clf = ActiveDistillationClassifier(
        student() if estimator is None else estimator, teacher=teacher,
        sampler=PGKD(**params), max_iter=max_iter, random_state=random_state,
    )
    return clf.fit(X[:N_SEED], y[:N_SEED])


# -- allocation: property tests ----------------------------------------------

counts_st = st.lists(st.integers(0, 60), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    counts=counts_st,
    n=st.integers(0, 300),
    ratio=st.floats(2, 6),
    errors=st.none() | st.lists(st.floats(0, 1), min_size=80, max_size=80),
    credit=st.none() | st.lists(st.floats(-50, 50), min_size=80, max_size=80),
    seed=st.integers(0, 2**32 - 1),
)
def test_allocation_sums_to_the_batch_and_respects_the_cap(counts, n, ratio, errors,
                                                           credit, seed):
    errors = None if errors is None else errors[: len(counts)]
    if credit is not None:  # any credit carried in, summing to zero
        credit = np.asarray(credit[: len(counts)]) - np.mean(credit[: len(counts)])
    allocation, left = allocate(n, counts, errors=errors, credit=credit, ratio=ratio,
                                rng=np.random.default_rng(seed))
    assert left.sum() == pytest.approx(0, abs=1e-6)
    assert allocation.dtype.kind == "i" and (allocation >= 0).all()
    assert allocation.sum() == n
    cap = class_cap(counts, n, ratio)
    counts = np.asarray(counts)
    # A class may already hold more than the cap; then it gets nothing.
    assert (counts + allocation <= np.maximum(cap, counts)).all()
    assert (allocation[counts >= cap] == 0).all()


@settings(max_examples=200, deadline=None)
@given(k=st.integers(1, 80), held=st.integers(1, 40), n=st.integers(0, 300),
       seed=st.integers(0, 2**32 - 1))
def test_uniform_allocation_is_even(k, held, n, seed):
    allocation, _ = allocate(n, [held] * k, rng=np.random.default_rng(seed))
    assert allocation.max() - allocation.min() <= 1


@settings(max_examples=200, deadline=None)
@given(errors=st.lists(st.floats(0.01, 1), min_size=2, max_size=30),
       n=st.integers(30, 300))
def test_error_allocation_floors_every_class_and_follows_the_error(errors, n):
    k = len(errors)
    allocation, _ = allocate(n, [100] * k, errors=errors)  # the cap cannot bind
    assert (allocation >= n // (2 * k)).all()  # the floor: half spread evenly
    worst, best = int(np.argmax(errors)), int(np.argmin(errors))
    if errors[worst] - errors[best] > 1e-6:  # else a tie, broken at random
        assert allocation[worst] >= allocation[best]


def test_batch_smaller_than_the_classes_goes_to_the_classes_holding_fewest():
    allocation, _ = allocate(3, [5, 2, 5, 1, 2, 5])
    assert allocation.tolist() == [0, 1, 0, 1, 1, 0]


@settings(max_examples=150, deadline=None)
@given(
    k=st.integers(2, 80),
    n=st.integers(1, 40),
    rounds=st.integers(1, 60),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_small_batches_rotate_over_the_classes_by_their_shares(k, n, rounds, data,
                                                               seed):
    """Errors change every round; what each class is asked for in all stays
    within one sample of its cumulative share, so every class is served."""
    rng = np.random.default_rng(seed)
    counts = np.full(k, 1000)  # the cap cannot bind
    received, owed, credit = np.zeros(k), np.zeros(k), None
    for _ in range(rounds):
        errors = data.draw(st.none() | st.lists(st.floats(0, 1), min_size=k,
                                                max_size=k))
        allocation, credit = allocate(n, counts, errors=errors, credit=credit,
                                      rng=rng)
        received += allocation
        owed += n * batch_shares(k, errors)
        assert np.abs(received - owed).max() <= 1 + 1e-6
    # Any class whose cumulative share reached one sample was served.
    assert (received[owed >= 1 + 1e-6] > 0).all()


def test_error_allocation_reaches_every_class_when_the_batch_is_small():
    """77 classes, 32 a batch, fixed errors: round after round the largest
    shares alone would win; carrying the credit serves all of them."""
    errors = np.linspace(0.05, 1, 77)
    credit, received = None, np.zeros(77, dtype=int)
    for _ in range(20):
        allocation, credit = allocate(32, [8] * 77, errors=errors, credit=credit)
        received += allocation
    assert (received > 0).all() and received.sum() == 640
    shares = 640 * batch_shares(77, errors)
    assert np.abs(received - shares).max() <= 1
    assert received[-1] > received[0]  # and still follows the error


def test_prior_weights_give_each_class_its_share():
    y = np.array(["a"] * 6 + ["b"] * 2 + ["c"] * 2)
    weights = prior_weights(y, {"a": 0.2, "b": 0.4, "c": 0.4})
    totals = {label: weights[y == label].sum() for label in "abc"}
    assert totals == pytest.approx({"a": 2, "b": 4, "c": 4})
    assert weights.mean() == pytest.approx(1)
    balanced = prior_weights(y, "balanced")
    assert {label: balanced[y == label].sum() for label in "abc"} == pytest.approx(
        dict.fromkeys("abc", 10 / 3))


# -- the request ----------------------------------------------------------------

def test_prompt_states_the_count_of_each_class():
    request = GenerationRequest(
        classes=["billing", "delivery", "refund"], n_samples=5,
        report={"accuracy": 0.5, "billing": {"f1-score": 0.2}},
        class_counts={"billing": 3, "delivery": 2, "refund": 0},
    )
    prompt = request.to_prompt()
    assert "Write exactly this many texts of each class (5 in all):" in prompt
    assert "- billing: 3\n- delivery: 2" in prompt
    assert "- refund: 0" not in prompt
    assert "Write exactly the number of texts per class" in prompt
    assert "Write more texts for the classes with low recall" not in prompt
    assert "## Texts per class" not in GenerationRequest(["a", "b"], 2).to_prompt()


@pytest.mark.parametrize("class_counts, message", [
    ({"billing": 2, "shipping": 1}, "class_counts has labels outside classes"),
    ({"billing": 2, "delivery": 2}, "class_counts sums to 4 but n_samples=3"),
    ({"billing": 4, "delivery": -1}, "class_counts must hold non-negative"),
    ({"billing": 1.5, "delivery": 1.5}, "class_counts must hold non-negative"),
])
def test_bad_class_counts_name_the_argument(class_counts, message):
    with pytest.raises(ValueError, match=message):
        GenerationRequest(["billing", "delivery"], 3, class_counts=class_counts)


def test_unknown_allocation_names_the_parameter(trec, simulator):
    X, y = trec
    with pytest.raises(InvalidParameterError, match="'allocation' parameter"):
        distil(X, y, simulator, allocation="largest_error")
    with pytest.raises(InvalidParameterError, match="'prior_correction' parameter"):
        distil(X, y, simulator, prior_correction="uniform")


# -- the loop asks for counts and keeps no more ----------------------------------

def test_screening_drops_what_exceeds_a_class_count(trec):
    X, y = trec
    teacher = Recorder(EveryClass(per_class=8))
    clf = distil(X, y, teacher, max_iter=3, batch_size=12,
                 near_duplicate_threshold=None)  # the texts look alike
    for round_, request in enumerate(teacher.requests, start=1):
        record = clf.history_[round_]
        assert sum(request.class_counts.values()) == request.n_samples == 12
        assert record["class_counts"] == request.class_counts
        assert record["class_counts_kept"] == request.class_counts
        assert record["n_new"] == 12
        assert record["n_surplus"] == 6 * 8 - 12
        kept = Counter(clf.labeled_y_[clf.label_round_ == round_].tolist())
        assert dict(kept) == request.class_counts
    assert clf.sampler_.n_rejected_["surplus"] == 3 * (48 - 12)


class OnlyDesc(BaseTeacher):
    """Writes 40 new DESC texts (trec's largest class) every call."""

    calls = 0

    def generate(self, request):
        self.calls += 1
        return [(f"What does the word q{self.calls}x{j} mean ?", "DESC")
                for j in range(40)]


def test_no_class_grows_beyond_the_cap(trec):
    X, y = trec
    clf = distil(X, y, OnlyDesc(), max_iter=12, batch_size=32, class_cap=2.0,
                 refit_with_validation=False, near_duplicate_threshold=None)
    classes, capped = clf.classes_.tolist(), False
    for round_ in range(1, 13):
        before = Counter(clf.labeled_y_[clf.label_round_ < round_].tolist())
        after = Counter(clf.labeled_y_[clf.label_round_ <= round_].tolist())
        asked = clf.history_[round_, "class_counts"]
        counts = [before[c] for c in classes]
        cap = class_cap(counts, 32, 2.0)
        assert clf.history_[round_, "class_cap"] == cap
        assert sum(asked.values()) == 32
        assert all(before[c] + asked.get(c, 0) <= max(cap, before[c]) for c in classes)
        assert all(after[c] <= max(cap, before[c]) for c in classes)
        assert clf.history_[round_, "class_counts_kept"] == {
            c: (k if c == "DESC" else 0) for c, k in asked.items()}
        capped |= before["DESC"] + asked.get("DESC", 0) == cap
    assert capped  # the cap bound in some round
    assert clf.history_[1, "class_counts"]["DESC"] < 32  # the floor goes to all


def test_batches_smaller_than_the_classes_rotate_in_the_loop(trec, simulator):
    """4 texts a round, 6 classes: the credit carried in the fit's state
    spreads 24 texts over all six, each within one of its share."""
    X, y = trec
    clf = distil(X, y, simulator, max_iter=6, batch_size=4)
    asked = Counter()
    for counts in clf.history_[1:, "class_counts"]:
        assert sum(counts.values()) == 4
        asked.update(counts)
    assert set(asked) == set(clf.classes_.tolist())
    assert not hasattr(clf.sampler_, "credit")  # fit state, not the estimator's


def test_simulated_generator_follows_class_counts(trec):
    X, y = trec
    request = GenerationRequest(
        classes=sorted(set(y[:100])), n_samples=9,
        hard_negatives=[(X[0], y[0], "NUM")],
        report={"ABBR": {"f1-score": 0.0}},
        class_counts={"ABBR": 1, "NUM": 5, "LOC": 3},
    )
    for targeted in (True, False):
        teacher = SimulatedGenerator(X[N_SEED:3000], y[N_SEED:3000],
                                     targeted=targeted, random_state=0)
        answer = teacher.generate(request)
        assert Counter(label for _, label in answer) == Counter(
            request.class_counts)


# -- prior correction ----------------------------------------------------------

def test_prior_correction_weights_the_last_step_to_the_seed_prior(trec, simulator):
    X, y = trec
    clf = distil(X, y, simulator, max_iter=2, refit_with_validation=False)
    seed_prior = Counter(y[:N_SEED].tolist())
    prior = {label: count / N_SEED for label, count in seed_prior.items()}
    expected = prior_weights(clf.labeled_y_, prior)
    refit = student().fit(clf.labeled_X_, clf.labeled_y_,
                          logisticregression__sample_weight=expected)
    X_test = X[4000:4300]
    np.testing.assert_allclose(clf.predict_proba(X_test), refit.predict_proba(X_test))
    unweighted = student().fit(clf.labeled_X_, clf.labeled_y_)
    assert not np.allclose(clf.predict_proba(X_test), unweighted.predict_proba(X_test))
    # The weighted class totals are the seed's shares.
    totals = {c: expected[clf.labeled_y_ == c].sum() / len(expected) for c in prior}
    assert totals == pytest.approx(prior)


def test_balanced_prior_correction_on_a_plain_student(trec, simulator):
    X, y = trec
    vectorizer = TfidfVectorizer().fit(X[:N_SEED])

    class Vectorized(LogisticRegression):
        """A LogisticRegression on texts: vectorises inside fit/predict."""

        def fit(self, X, y, sample_weight=None):
            return super().fit(vectorizer.transform(X), y, sample_weight)

        def predict_proba(self, X):
            return super().predict_proba(vectorizer.transform(X))

    clf = distil(X, y, simulator, estimator=Vectorized(max_iter=1000), max_iter=1,
                 prior_correction="balanced", refit_with_validation=False)
    weights = prior_weights(clf.labeled_y_, "balanced")
    refit = LogisticRegression(max_iter=1000).fit(
        vectorizer.transform(clf.labeled_X_), clf.labeled_y_, sample_weight=weights)
    np.testing.assert_allclose(clf.estimator_.coef_, refit.coef_, rtol=1e-6)


def test_a_student_without_sample_weight_is_fitted_unweighted_with_a_warning(
    trec, simulator
):
    X, y = trec
    knn = make_pipeline(TfidfVectorizer(), KNeighborsClassifier(5))
    with pytest.warns(UserWarning, match=r"prior_correction='seed' needs a student"):
        clf = distil(X, y, simulator, estimator=knn, max_iter=1)
    assert clf.n_iter_ == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        distil(X, y, simulator.reset(), estimator=knn, max_iter=1,
               prior_correction=None)


# -- the final refit and the small-seed rule --------------------------------------

def test_final_refit_trains_on_the_validation_split_too(trec, simulator):
    X, y = trec
    clf = distil(X, y, simulator, max_iter=3, batch_size=16)
    pgkd = clf.sampler_
    held_out = pgkd.validation_indices_
    assert len(held_out) == pgkd.validation_size_ == 40
    assert (np.diff(held_out) > 0).all()
    # The held-out rows are the ones missing from the loop's first training rows.
    first = clf.labeled_X_[: N_SEED - len(held_out)]
    assert sorted(first) == sorted(np.delete(X[:N_SEED], held_out))
    seed_rows = clf.label_source_ == "seed"
    assert sorted(clf.labeled_X_[seed_rows]) == sorted(X[:N_SEED])
    assert (clf.label_round_[seed_rows] == 0).all()
    assert len(clf.labeled_y_) == clf.history_[-1, "n_labeled"] + pgkd.validation_size_
    assert not pgkd.select_by_validation_ and pgkd.chosen_round_ == 3
    prior = {c: n / N_SEED for c, n in Counter(y[:N_SEED].tolist()).items()}
    refit = student().fit(
        clf.labeled_X_, clf.labeled_y_,
        logisticregression__sample_weight=prior_weights(clf.labeled_y_, prior))
    X_test = X[4000:4300]
    np.testing.assert_allclose(clf.predict_proba(X_test), refit.predict_proba(X_test))


def test_small_validation_split_runs_every_round(trec):
    X, y = trec
    noisy = SimulatedGenerator(X[N_SEED:1500], y[N_SEED:1500], noise_rate=0.99,
                               random_state=0)
    # 40 validation texts < min_validation_size: no early stop, the last round.
    clf = distil(X, y, noisy, max_iter=6, patience=2, batch_size=64)
    assert clf.termination_condition_ == "max_iter"
    assert not clf.sampler_.select_by_validation_
    assert clf.sampler_.chosen_round_ == 6
    # With a large enough split, the loss stops the loop and picks the round;
    # the refit then uses that round's rows plus the validation split.
    noisy.reset()
    clf = distil(X, y, noisy, max_iter=6, patience=2, batch_size=64,
                 min_validation_size=40)
    pgkd = clf.sampler_
    assert pgkd.select_by_validation_ and clf.termination_condition_ == "early_stopping"
    assert pgkd.chosen_round_ == pgkd.best_round_ < clf.n_iter_
    rows = clf.label_round_ <= pgkd.best_round_
    prior = {c: n / N_SEED for c, n in Counter(y[:N_SEED].tolist()).items()}
    refit = student().fit(
        clf.labeled_X_[rows], clf.labeled_y_[rows],
        logisticregression__sample_weight=prior_weights(clf.labeled_y_[rows], prior))
    X_test = X[4000:4300]
    np.testing.assert_allclose(clf.predict_proba(X_test), refit.predict_proba(X_test))


def test_same_seed_answers_and_random_state_same_student(trec, simulator):
    X, y = trec
    runs = [distil(X, y, simulator.reset(), max_iter=2, random_state=seed)
            for seed in (5, 5)]
    np.testing.assert_array_equal(runs[0].labeled_X_, runs[1].labeled_X_)
    assert runs[0].history_[:, "class_counts"] == runs[1].history_[:, "class_counts"]
    X_test = X[4000:4200]
    np.testing.assert_array_equal(runs[0].predict_proba(X_test),
                                  runs[1].predict_proba(X_test))


def test_untargeted_arm_asks_an_even_mix_without_report_or_hard_negatives(
    trec, simulator
):
    X, y = trec
    teacher = Recorder(simulator)
    distil(X, y, teacher, max_iter=2, batch_size=12, allocation="uniform",
           include_report=False, n_hard_negatives=0)
    for request in teacher.requests:
        assert request.class_counts == dict.fromkeys(sorted(set(y[:N_SEED])), 2)
        assert request.report is None and request.hard_negatives == []
