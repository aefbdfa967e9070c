"""One vocabulary for why: every reason is defined once and has its words."""

import re

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier, reasons
from skakd.augmentation import PGKD, SimulatedGenerator
from skakd.datasets import load_dataset


def test_every_reason_a_report_can_meet_has_its_words():
    """A reason added to the screen without words in the report fails here,
    rather than falling through to its bare name in the CLI's summary."""
    described = set(reasons.REJECTION_DESCRIPTIONS)
    assert described == {*reasons.REJECTION_REASONS, reasons.SURPLUS}


def test_the_classifier_documents_every_stop_reason():
    doc = ActiveDistillationClassifier.__doc__
    section = doc.partition("termination_condition_ : str")[2].partition("sampler_ :")[0]
    documented = re.findall(r'``"(\w+)"``', section)
    assert documented == list(reasons.STOP_REASONS)


def test_pgkd_counts_its_rejections_by_the_vocabulary():
    data = load_dataset("trec")
    X, y = data.X_train[:300], data.y_train[:300]
    teacher = SimulatedGenerator(data.X_train[:2000], data.y_train[:2000],
                                 random_state=0)  # hands out seed copies too
    clf = ActiveDistillationClassifier(
        teacher=teacher, sampler=PGKD(batch_size=32), max_iter=3,
        random_state=0).fit(X, y)
    counted = clf.sampler_.summary_["n_rejected"]
    assert set(counted) == {*reasons.REJECTION_REASONS, reasons.SURPLUS}
    assert counted == clf.sampler_.n_rejected_
    per_round = {reason: sum(record.get(f"n_rejected_{reason}", 0)
                             for record in clf.history_[1:])
                 for reason in reasons.REJECTION_REASONS}
    assert per_round == {r: counted[r] for r in reasons.REJECTION_REASONS}
    assert sum(per_round.values()) > 0  # the test sees some rejections


@pytest.mark.parametrize("max_labels, expected", [(None, reasons.MAX_ITER),
                                                  (30, reasons.MAX_LABELS)])
def test_termination_conditions_are_the_vocabulary(max_labels, expected):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] > 0).astype(int)
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=lambda items: [int(row[0] > 0) for row in items],
        max_iter=5 if max_labels else 2, max_labels=max_labels, random_state=0,
    ).fit(X[:10], y[:10], X_pool=X[10:])
    assert clf.termination_condition_ == expected
    assert type(clf.termination_condition_) is str
