"""One bad answer or one bad text never ends a run (issue 31).

A teacher whose labels differ from the classes in case or spaces is matched;
one whose answers are all outside the classes stops the fit after one round,
saying what to do; blank pool texts are never sent; warnings point at the
user's line, never inside skakd.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest

import skakd
import skakd.callbacks
import skakd.teachers
from skakd import ActiveDistillationClassifier, reasons
from skakd.sampling import MRARU
from skakd.teachers import OracleTeacher

PACKAGE = str(Path(skakd.__file__).parent)

SEED = ["what's the weather", "play some jazz", "is it raining", "put on a song"]
SEED_Y = ["GetWeather", "PlayMusic", "GetWeather", "PlayMusic"]
POOL = [f"weather tomorrow in town {i}" if i % 2 else f"play track number {i}"
        for i in range(100)]


def intent(text):
    return "GetWeather" if "weather" in text else "PlayMusic"


def label_all(items):
    return [intent(text) for text in items]


def fit(teacher, pool=POOL, **params):
    params = {"max_labels": 30, "random_state": 0, **params}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = ActiveDistillationClassifier(teacher=teacher, **params).fit(
            SEED, SEED_Y, X_pool=pool)
    return clf, caught


def test_labels_differing_in_case_or_spaces_are_matched_and_counted():
    clf, caught = fit(lambda items: [f" {intent(t).lower()} " for t in items])
    assert clf.termination_condition_ == reasons.MAX_LABELS
    assert sum(clf.history_[1:, "n_new"]) == 30
    assert sum(clf.history_[1:, "n_loose_labels"]) == 30
    assert sum(clf.history_[:, "n_rejected"]) == 0
    assert set(clf.labeled_y_) == {"GetWeather", "PlayMusic"}
    assert not caught


def test_a_round_of_rejected_answers_stops_the_fit_and_says_what_to_do():
    clf, caught = fit(lambda items: ["Weather"] * len(items), max_labels=300)
    assert clf.termination_condition_ == reasons.LABELS_REJECTED
    assert clf.n_iter_ == 1  # one round of wasted spend, not the budget
    assert clf.history_[-1, "n_rejected"] == clf.history_[-1, "n_queried"]
    (warning,) = caught
    message = str(warning.message)
    assert "'Weather'" in message and "['GetWeather', 'PlayMusic']" in message
    assert "np.str_" not in message
    assert "classes=" in message
    assert "case" in message
    assert warning.filename == __file__


def test_some_rejected_answers_are_warned_about_once_and_the_fit_goes_on():
    def teacher(items):
        return [intent(t) if i % 2 else "Weather" for i, t in enumerate(items)]

    clf, caught = fit(teacher, max_labels=60)
    assert clf.termination_condition_ == reasons.MAX_LABELS
    rejected, new = sum(clf.history_[1:, "n_rejected"]), sum(clf.history_[1:, "n_new"])
    assert rejected > 0 and rejected + new == 60
    assert len(caught) == 1 and caught[0].filename == __file__


def test_blank_pool_texts_are_never_sent_counted_and_warned_once():
    pool = POOL + ["", "   ", "\n\t"] * 10
    asked = []

    def teacher(items):
        asked.extend(items)
        return [intent(t) for t in items]

    clf, caught = fit(teacher, pool=pool, max_labels=None, max_iter=None,
                      sampler=MRARU(batch_size=25))
    assert clf.termination_condition_ == reasons.POOL_EXHAUSTED
    assert len(asked) == len(POOL) and all(t.strip() for t in asked)
    assert clf.history_[0, f"n_unlabeled_{reasons.BLANK}"] == 30
    (warning,) = caught
    assert "30 blank" in str(warning.message)
    assert warning.filename == __file__


def test_a_pool_without_blanks_records_no_blank_count():
    clf, _ = fit(label_all)
    assert "n_unlabeled_blank" not in clf.history_[0]


@pytest.mark.parametrize("blanks", [5, 20])
def test_mraru_never_picks_blanks_whatever_their_scores(blanks):
    X, y = np.array(POOL, dtype=object), np.array([intent(t) for t in POOL])
    pool = np.concatenate([X, np.array([" "] * blanks, dtype=object)])
    clf, _ = fit(OracleTeacher(pool, np.concatenate([y, ["PlayMusic"] * blanks])),
                 pool=pool, max_labels=50)
    assert all(text.strip() for text in clf.labeled_X_)


class InterruptAt(skakd.callbacks.Callback):
    """Ctrl-C in round ``round_``, in the hook ``when``."""

    def __init__(self, round_=3, when="on_round_end"):
        self.round_ = round_
        self.when = when

    def on_acquisition(self, clf, state, acquisition):
        if self.when == "on_acquisition" and state.round == self.round_:
            raise KeyboardInterrupt

    def on_round_end(self, clf, record):
        if self.when == "on_round_end" and record["round"] == self.round_:
            raise KeyboardInterrupt


@pytest.mark.parametrize("when", ["on_acquisition", "on_round_end"])
def test_ctrl_c_after_a_round_was_absorbed_tells_one_story(when):
    """Labels, history_ and the budget used agree: the round cut short is
    taken back out, its bill recorded, and the student refitted without it."""
    teacher = skakd.teachers.CallableTeacher(lambda items: [intent(t) for t in items],
                                             cost_per_item=0.01)
    clf, caught = fit(teacher, max_labels=None, sampler=MRARU(batch_size=10),
                      callbacks=[InterruptAt(3, when)])
    assert clf.termination_condition_ == reasons.INTERRUPTED
    assert "interrupted" in str(caught[0].message) and caught[0].filename == __file__
    n_teacher = int((clf.label_source_ == "teacher").sum())
    assert n_teacher == sum(clf.history_[:, "n_queried"]) == 20
    assert clf.history_[-1, "n_labeled"] == len(clf.labeled_y_) == 4 + 20
    assert clf.history_[-1, "error"] == "KeyboardInterrupt"
    assert clf.history_[-1, "teacher_cost_total"] == pytest.approx(clf.teacher_cost_)
    assert clf.teacher_cost_ == pytest.approx(0.30)  # round 3 was paid for
    assert clf.n_iter_ == 2
    refitted = ActiveDistillationClassifier(
        teacher=teacher, max_iter=2, random_state=0, sampler=MRARU(batch_size=10),
    ).fit(SEED, SEED_Y, X_pool=POOL)
    np.testing.assert_array_equal(clf.predict_proba(POOL), refitted.predict_proba(POOL))


def test_ctrl_c_while_the_teacher_answers_records_no_extra_round():
    def teacher(items):
        if len(asked) == 20:
            raise KeyboardInterrupt
        asked.extend(items)
        return [intent(t) for t in items]

    asked = []
    clf, _ = fit(teacher, max_labels=None, sampler=MRARU(batch_size=10))
    assert clf.termination_condition_ == reasons.INTERRUPTED
    assert clf.history_[:, "round"] == [0, 1, 2]
    assert len(clf.labeled_y_) == 24


def test_a_table_of_several_columns_for_a_text_student_names_x():
    pd = pytest.importorskip("pandas")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    frame = pd.DataFrame({"text": SEED, "id": range(4)})
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(), LogisticRegression()), teacher=label_all)
    with pytest.raises(ValueError, match=r"X has 2 columns \(\['text', 'id'\]\).*"
                       r"expected one text column, e.g. X=df\['text'\]"):
        clf.fit(frame, SEED_Y, X_pool=pd.DataFrame({"text": POOL, "id": 0}))


def test_a_bad_sampler_parameter_is_refused_before_the_student_is_fitted():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.utils._param_validation import InvalidParameterError

    fitted = []

    class CountingTfidf(TfidfVectorizer):
        def fit_transform(self, raw_documents, y=None):
            fitted.append(len(raw_documents))
            return super().fit_transform(raw_documents, y)

    clf = ActiveDistillationClassifier(
        make_pipeline(CountingTfidf(), LogisticRegression()), teacher=label_all,
        sampler=MRARU(batch_size=0))
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter of MRARU"):
        clf.fit(SEED, SEED_Y, X_pool=POOL)
    assert fitted == []


def test_getting_started_installs_from_the_repository():
    """skakd is not on PyPI: ``pip install skakd`` would fail."""
    page = (Path(PACKAGE).parent / "docs" / "getting_started.md").read_text()
    assert "pip install skakd" not in page
    assert 'pip install -e ".[llm]"' in page


def test_every_warning_of_a_fit_points_at_the_users_line():
    """Repeated pool texts, a teacher that leaves items out, answers outside
    the classes: each warning names this file, not a line of skakd."""
    def teacher(items):
        return [None if i == 0 else "Weather" if i == 1 else intent(t)
                for i, t in enumerate(items)]

    clf, caught = fit(teacher, pool=POOL + POOL[:20], max_labels=100,
                      sampler=MRARU(batch_size=40))
    assert len(caught) == 3
    assert [w.filename for w in caught] == [__file__] * 3
    assert not [w for w in caught if w.filename.startswith(PACKAGE)]
