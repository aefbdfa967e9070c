"""M-RARU on a multi-label student accepts by the rank of an item's
uncertainty: a score averaged over many labels varies little from item to
item, and accepting with a power of the score itself was close to random."""

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.datasets import make_multilabel_classification
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from skakd import MultiLabelStudent
from skakd.sampling import MRARU, multilabel_uncertainty


@pytest.fixture(scope="module")
def tagged():
    """A 28-label student fitted on 200 rows, and the 2,800 rows left."""
    X, Y = make_multilabel_classification(n_samples=3000, n_features=20,
                                          n_classes=28, random_state=0)
    student = MultiLabelStudent(
        OneVsRestClassifier(LogisticRegression(class_weight="balanced",
                                               solver="liblinear")),
        np.arange(28)).fit(X[:200], Y[:200])
    return student, X, np.arange(200, 3000)


def _chosen_percentile(sampler, student, X, candidates, n_draws=5):
    """Mean percentile, by multi-label uncertainty, of what ``sampler`` picks."""
    u = multilabel_uncertainty(student.predict_proba(X[candidates]))
    percentile = rankdata(u) / len(u)
    chosen = [sampler.select(student, X, candidates, 25, random_state=seed)
              for seed in range(n_draws)]
    return percentile[np.searchsorted(candidates, np.concatenate(chosen))].mean()


def test_rank_acceptance_selects_where_the_mean_score_is_flat(tagged):
    student, X, candidates = tagged
    by_rank = _chosen_percentile(MRARU(25), student, X, candidates)
    by_score = _chosen_percentile(MRARU(25, acceptance="score"), student, X,
                                  candidates)
    # u ** g with g fitted to a 10% rate: chosen items average the 91st
    # percentile by rank; the flat score leaves them near random (50th).
    assert by_rank > 0.85
    assert by_score < 0.75


def test_rank_acceptance_keeps_the_target_rate_and_o_batch_visits(tagged):
    student, X, candidates = tagged
    sampler = MRARU(25)
    sampler.select(student, X, candidates, 25, random_state=0)
    stats = sampler.last_stats_
    # Ranks of the calibration chunk are uniform: mean(r ** g) = 1 / (g + 1).
    assert stats["exponent"] == pytest.approx(1 / 0.1 - 1, rel=0.05)
    assert stats["n_fallback"] == 0 and stats["n_visited"] < 400


def test_auto_is_rank_for_label_sets_and_score_for_one_label(tagged):
    student, X, candidates = tagged

    def chosen(sampler, estimator):
        return sampler.select(estimator, X, candidates, 25, random_state=3).tolist()

    assert chosen(MRARU(25), student) == chosen(MRARU(25, acceptance="rank"), student)
    single = LogisticRegression().fit(X[:200], X[:200, 0] > np.median(X[:, 0]))
    default = chosen(MRARU(25), single)
    assert default == chosen(MRARU(25, acceptance="score"), single)
    assert default != chosen(MRARU(25, acceptance="rank"), single)


class _CertainStudent(MultiLabelStudent):
    """Answers exactly 0 or 1 for every label: every item has u = 0."""

    def predict_proba(self, X):
        return (super().predict_proba(X) > 0.5).astype(float)


def test_items_the_student_is_certain_of_are_never_accepted(tagged):
    _, X, candidates = tagged
    Y = make_multilabel_classification(n_samples=3000, n_features=20, n_classes=28,
                                       random_state=0)[1]
    certain = _CertainStudent(OneVsRestClassifier(LogisticRegression()),
                              np.arange(28)).fit(X[:200], Y[:200])
    sampler = MRARU(25, max_visits=300, fallback="random")
    assert len(sampler.select(certain, X, candidates, 25, random_state=0)) == 25
    assert sampler.last_stats_["n_accepted"] == 0
    assert sampler.last_stats_["n_fallback"] == 25


def test_acceptance_is_validated(tagged):
    student, X, candidates = tagged
    with pytest.raises(ValueError, match="acceptance"):
        MRARU(25, acceptance="ranked").select(student, X, candidates, 25,
                                              random_state=0)
