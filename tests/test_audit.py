"""What is known about a label, used: confidence weights the student's rows,
and an audit asks a stronger teacher again about the labels the student
doubts, inside the fit's budget."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier, Pool
from skakd.audit import LabelAudit, find_label_issues
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler
from skakd.teachers import OracleTeacher, TeacherResult


def _centres(n_per_class=150, n_classes=4, seed=0):
    """Well separated classes in 2-D: a student finds wrong labels here."""
    rng = np.random.RandomState(seed)
    centres = np.array([[-4, -4], [-4, 4], [4, -4], [4, 4]])[:n_classes]
    X = np.vstack([rng.normal(c, 1.0, (n_per_class, 2)) for c in centres])
    y = np.repeat(np.array(["a", "b", "c", "d"][:n_classes]), n_per_class)
    order = rng.permutation(len(y))
    return X[order], y[order]


def _flip(y, rows):
    noisy = y.copy()
    for r in rows:
        noisy[r] = "b" if y[r] == "a" else "a"
    return noisy


class RecordingLR(LogisticRegression):
    """A student that keeps the sample_weight of its last fit."""

    def fit(self, X, y, sample_weight=None):
        self.seen_weight_ = None if sample_weight is None else np.array(sample_weight)
        return super().fit(X, y, sample_weight=sample_weight)


class CountingTeacher(OracleTeacher):
    """An oracle that remembers every item it was asked about."""

    def label(self, items, classes, multi_label=False):
        self.asked_ = getattr(self, "asked_", []) + [tuple(row) for row in items]
        return super().label(items, classes, multi_label)


# -- find_label_issues ---------------------------------------------------------


def test_find_label_issues_finds_the_flipped_labels_first():
    X, y = _centres()
    flipped = np.flatnonzero(np.isin(y, ["a", "b"]))[:12]
    found = find_label_issues(LogisticRegression(), X, _flip(y, flipped),
                              random_state=0)
    # One flipped point sits where its true class is less probable than that
    # class's threshold: confident learning does not count it.
    assert len(set(flipped) & set(found.indices)) >= 11
    assert len(found.indices) <= len(flipped) + 2  # few false alarms
    ranked = found.self_confidence[found.indices]
    assert np.all(np.diff(ranked) >= 0)  # most implausible first
    assert found.proba.shape == (len(y), 4)
    assert found.classes.tolist() == ["a", "b", "c", "d"]
    assert (found.predicted[flipped] == y[flipped]).all()


def test_predicted_neq_given_flags_more_than_confident_learning():
    X, y = _centres(n_per_class=40, seed=1)
    noisy = _flip(y, np.flatnonzero(y == "a")[:8])
    confident = find_label_issues(LogisticRegression(), X, noisy, random_state=0)
    loose = find_label_issues(LogisticRegression(), X, noisy,
                              filter_by="predicted_neq_given", random_state=0)
    assert set(confident.indices) <= set(loose.indices)


def test_texts_frames_and_splitters_are_accepted(texts):
    X, y = texts
    noisy = y.copy()
    noisy[:6] = np.where(y[:6] == "sport", "money", "sport")
    student = make_pipeline(TfidfVectorizer(), LogisticRegression())
    found = find_label_issues(student, pd.Series(X, index=np.arange(len(X)) + 500),
                              noisy, cv=KFold(4, shuffle=True, random_state=0),
                              filter_by="predicted_neq_given")
    assert set(range(6)) <= set(found.indices)


def test_a_class_of_one_row_is_not_judged():
    X, y = _centres(n_per_class=30)
    X, y = np.vstack([X, [[0.0, 0.0]]]), np.append(y, "lonely")
    found = find_label_issues(LogisticRegression(), X, y, random_state=0)
    assert np.isnan(found.self_confidence[-1])
    assert len(y) - 1 not in found.indices


@pytest.mark.parametrize("kwargs, message", [
    ({"cv": 1}, "cv must be"), ({"filter_by": "both"}, "filter_by must be"),
])
def test_bad_arguments_are_named(kwargs, message):
    X, y = _centres(n_per_class=10)
    with pytest.raises(ValueError, match=message):
        find_label_issues(LogisticRegression(), X, y, **kwargs)


def test_label_sets_are_refused():
    X, _ = _centres(n_per_class=10)
    with pytest.raises(ValueError, match="multi-label"):
        find_label_issues(LogisticRegression(), X, np.zeros((len(X), 3)))


# -- confidence weighting ------------------------------------------------------


def _calibrated(X, y):
    return OracleTeacher(X, y, noise_rate=0.3, confidence="calibrated",
                         random_state=0)


@pytest.mark.parametrize("sampler", [MRARU, RandomSampler, UncertaintySampler])
def test_the_student_is_fitted_with_the_teachers_confidence(sampler):
    X, y = _centres()
    seed = [np.flatnonzero(y == c)[0] for c in "abcd"]
    clf = ActiveDistillationClassifier(
        RecordingLR(), teacher=_calibrated(X, y),
        sampler=sampler(batch_size=20, weight_by_confidence=True),
        max_iter=3, random_state=0).fit(X[seed], y[seed], X_pool=X)
    weights = clf.estimator_.seen_weight_
    taught = clf.label_source_ == "teacher"
    assert len(weights) == len(clf.labeled_y_) == 64
    assert np.all(weights[~taught] == 1.0)  # the seed: confidence unknown
    np.testing.assert_allclose(weights[taught], clf.labeled_confidence_[taught])
    assert weights[taught].std() > 0.05


def test_unweighted_by_default_and_weights_change_the_student():
    X, y = _centres()
    seed = [np.flatnonzero(y == c)[0] for c in "abcd"]

    def fit(weighted):
        return ActiveDistillationClassifier(
            RecordingLR(), teacher=_calibrated(X, y),
            sampler=RandomSampler(20, weight_by_confidence=weighted),
            max_iter=3, random_state=0).fit(X[seed], y[seed], X_pool=X)

    plain, weighted = fit(False), fit(True)
    assert plain.estimator_.seen_weight_ is None
    assert not np.allclose(plain.estimator_.coef_, weighted.estimator_.coef_)


def test_a_student_without_sample_weight_is_refused_before_the_teacher():
    X, y = _centres(n_per_class=20)
    teacher = CountingTeacher(X, y)
    clf = ActiveDistillationClassifier(
        KNeighborsClassifier(3), teacher=teacher,
        sampler=MRARU(weight_by_confidence=True), max_iter=2)
    with pytest.raises(TypeError, match="weight_by_confidence=True.*sample_weight"):
        clf.fit(X[:8], y[:8], X_pool=X)
    assert not hasattr(teacher, "asked_")


def test_weight_by_confidence_clones_and_grid_searches():
    X, y = _centres(n_per_class=60)
    assert clone(MRARU(weight_by_confidence=True)).weight_by_confidence is True
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=_calibrated(X, y),
        sampler=RandomSampler(10), max_iter=2, random_state=0)
    search = GridSearchCV(clf, {"sampler__weight_by_confidence": [False, True]},
                          cv=2).fit(X[:40], y[:40], X_pool=Pool(X[40:]))
    assert search.cv_results_["param_sampler__weight_by_confidence"].tolist() == [
        False, True]
    with pytest.raises(ValueError, match="weight_by_confidence"):
        clf.set_params(sampler=RandomSampler(weight_by_confidence="yes")).fit(
            X[:40], y[:40], X_pool=X[40:])


# -- the audit during a fit ----------------------------------------------------


def _noisy_fit(X, y, audit, *, max_labels=200, noisy_price=0.0, batch_size=20,
               **kwargs):
    noisy = OracleTeacher(X, y, noise_rate=0.25, random_state=0,
                          cost_per_item=noisy_price)
    seed = [np.flatnonzero(y == c)[0] for c in np.unique(y)]
    return ActiveDistillationClassifier(
        LogisticRegression(), teacher=noisy, sampler=RandomSampler(batch_size),
        max_labels=max_labels, random_state=0,
        callbacks=[] if audit is None else [audit], **kwargs,
    ).fit(X[seed], y[seed], X_pool=X)


def _right(clf, X, y):
    truth = {tuple(row): label for row, label in zip(X.tolist(), y)}
    return np.array([truth[tuple(row)] == label
                     for row, label in zip(clf.labeled_X_.tolist(), clf.labeled_y_)])


def test_the_audit_fixes_labels_inside_the_label_budget():
    X, y = _centres()
    strong = CountingTeacher(X, y)
    plain = _noisy_fit(X, y, None)
    clf = _noisy_fit(X, y, LabelAudit(strong, budget_share=0.2))
    audit = clf.callbacks_[0]
    summary = audit.summary_
    asked = summary["n_asked"]
    assert 0 < asked <= 0.2 * 200
    # Re-asks are bought from the same 200 items: fewer new rows.
    n_seed = 4
    assert len(clf.labeled_y_) - n_seed + asked == 200
    assert len(plain.labeled_y_) - n_seed == 200
    assert len(strong.asked_) == asked == audit.audited_.sum()
    assert summary["n_changed"] >= 0.6 * asked  # mostly real errors
    assert _right(clf, X, y).mean() > _right(plain, X, y).mean() + 0.05
    assert _right(clf, X, y)[audit.audited_].all()
    assert set(clf.label_teacher_[audit.audited_]) == {"CountingTeacher"}
    assert set(clf.label_teacher_[~audit.audited_]) == {""}
    history = clf.history_
    assert sum(history[1:, "n_audit_asked"]) == asked
    assert sum(history[1:, "n_audit_changed"]) == summary["n_changed"]
    # The end audit spent the share left: the budget ran out with it.
    assert audit.audits_[-1]["round"] == history[-1, "round"]
    assert clf.termination_condition_ == "max_labels"


def test_the_audit_pays_from_the_money_budget_and_says_what_it_cost():
    X, y = _centres()
    strong = OracleTeacher(X, y, cost_per_item=5.0)
    clf = _noisy_fit(X, y, LabelAudit(strong, budget_share=0.1), max_labels=None,
                     noisy_price=1.0, max_cost=300.0)
    summary = clf.callbacks_[0].summary_
    assert summary["n_asked"] > 0
    assert summary["cost"] == pytest.approx(5.0 * summary["n_asked"])
    n_taught = int((clf.label_source_ == "teacher").sum())
    assert clf.teacher_cost_ == pytest.approx(n_taught + summary["cost"])
    assert clf.teacher_cost_ <= 300.0
    assert clf.history_[-1, "teacher_cost_total"] == pytest.approx(clf.teacher_cost_)
    assert sum(clf.history_[1:, "teacher_cost"]) == pytest.approx(clf.teacher_cost_)
    assert sum(clf.history_[1:, "audit_cost"]) == pytest.approx(summary["cost"])


def test_every_row_is_asked_at_most_once_and_copies_of_a_text_once(texts):
    X, y = texts
    X = np.concatenate([X, X[:40]])  # copies in the pool
    y = np.concatenate([y, y[:40]])
    strong = CountingTeacher(X, y)
    noisy = OracleTeacher(X, y, noise_rate=0.3, random_state=1)
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(), LogisticRegression()), teacher=noisy,
        sampler=RandomSampler(30), max_iter=6, random_state=0,
        callbacks=[LabelAudit(strong, budget_share=0.3, every=1, cv=3)])
    with pytest.warns(UserWarning, match="the pool repeats texts"):
        clf.fit(X[:4], y[:4], X_pool=X[4:])
    assert len(strong.asked_) == len(set(strong.asked_)) > 0
    assert clf.callbacks_[0].summary_["n_audits"] == 6


def test_report_only_changes_nothing():
    X, y = _centres()
    plain = _noisy_fit(X, y, None)
    clf = _noisy_fit(X, y, LabelAudit(every=2))
    audit = clf.callbacks_[0]
    assert audit.summary_["n_asked"] == 0 and audit.summary_["n_flagged"] > 0
    assert not audit.audited_.any()
    assert clf.labeled_y_.tolist() == plain.labeled_y_.tolist()
    wrong = ~_right(clf, X, y)
    assert wrong[audit.flagged_].mean() > 0.6  # what it reports is mostly wrong


def test_a_function_teacher_and_unanswered_items():
    X, y = _centres()

    def shy(items):  # answers "a" for the first half, nothing for the rest
        return ["a" if i < len(items) // 2 else None for i in range(len(items))]

    clf = _noisy_fit(X, y, LabelAudit(shy, budget_share=0.2))
    summary = clf.callbacks_[0].summary_
    assert summary["n_unanswered"] == summary["n_asked"] - summary["n_asked"] // 2
    assert set(clf.label_teacher_[clf.callbacks_[0].audited_]) == {"CallableTeacher"}


def test_a_failed_re_ask_still_bills_what_it_paid():
    X, y = _centres()

    class Broke(OracleTeacher):
        def label(self, items, classes, multi_label=False):
            exc = RuntimeError("server went away")
            exc.teacher_result = TeacherResult(labels=[], cost=7.0)
            raise exc

    noisy = OracleTeacher(X, y, noise_rate=0.25, random_state=0, cost_per_item=1.0)
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=noisy, sampler=RandomSampler(20),
        max_labels=200, random_state=0, callbacks=[LabelAudit(Broke(X, y))])
    seed = [np.flatnonzero(y == c)[0] for c in "abcd"]
    with pytest.raises(RuntimeError, match="went away"):
        clf.fit(X[seed], y[seed], X_pool=X)
    assert clf.termination_condition_ == "error"
    n_taught = int((clf.label_source_ == "teacher").sum())
    assert clf.teacher_cost_ == pytest.approx(n_taught + 7.0)


def test_multi_label_fits_are_refused():
    X, _ = _centres(n_per_class=20)
    sets = [("a",), ("b",), ("a", "b"), ()] * 20
    teacher = OracleTeacher(X, sets)
    clf = ActiveDistillationClassifier(
        teacher=teacher, sampler=RandomSampler(5),
        max_iter=1, classes=["a", "b"], callbacks=[LabelAudit(teacher)])
    with pytest.raises(ValueError, match="single-label"):
        clf.fit(X[:8], sets[:8], X_pool=X[8:])


def test_the_audit_clones_with_its_teacher():
    X, y = _centres(n_per_class=10)
    strong = OracleTeacher(X, y)
    audit = clone(LabelAudit(strong, budget_share=0.3, every=4))
    assert audit.teacher is strong and audit.get_params()["every"] == 4
    with pytest.raises(ValueError, match="budget_share"):
        _noisy_fit(X, y, LabelAudit(strong, budget_share=1.0))


def test_relabel_keeps_provenance_aligned_through_later_rows_and_removal():
    from skakd.strategy import LabeledSet

    labeled = LabeledSet()
    labeled.add(np.array(["s1", "s2"], dtype=object), ["a", "b"], "seed", 0)
    labeled.add(np.array(["t1", "t2"], dtype=object), ["a", "a"], "teacher", 1,
                teacher=["cheap", "cheap"], confidence=[0.4, 0.9])
    changed = labeled.relabel([3, 2], ["b", "a"], teacher="strong",
                              confidence=[None, 0.8])
    assert changed.tolist() == [True, False]
    labeled.add(np.array(["t3"], dtype=object), ["b"], "teacher", 2)
    assert labeled.y.tolist() == ["a", "b", "a", "b", "b"]
    assert labeled.teacher.tolist() == ["", "", "strong", "strong", ""]
    np.testing.assert_array_equal(labeled.confidence,
                                  [np.nan, np.nan, 0.8, np.nan, np.nan])
    labeled.remove(labeled.source == "seed")
    assert labeled.audited.tolist() == [True, True, False]
    assert labeled.X.tolist() == ["t1", "t2", "t3"]
