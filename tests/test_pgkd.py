"""PGKD: prompts, validation report, early stopping, screening, determinism."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD, GenerationRequest, SimulatedGenerator
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import BaseTeacher

N_SEED = 200

SECTIONS = {
    "examples": "## Examples",
    "report": "## Student validation report",
    "correct": "## Validation texts the student classifies correctly",
    "misclassified": "## Validation texts the student misclassifies",
    "hard_negatives": "## Hard negatives",
}


@pytest.fixture(scope="module")
def trec():
    data = load_dataset("trec")
    return data.X_train, data.y_train


@pytest.fixture(scope="module")
def shared_simulator(trec):
    X, y = trec
    return SimulatedGenerator(X[N_SEED:3000], y[N_SEED:3000], random_state=0)


@pytest.fixture
def simulator(shared_simulator):
    """The simulator with its whole reservoir (it hands each text out once)."""
    return shared_simulator.reset()


class Recorder(BaseTeacher):
    """Passes requests on to a real generating teacher and keeps them."""

    def __init__(self, teacher):
        self.teacher = teacher
        self.requests = []

    def generate(self, request):
        self.requests.append(request)
        return self.teacher.generate(request)


class Scripted(BaseTeacher):
    """Answers each request with ``script(request, call_number)``."""

    def __init__(self, script):
        self.script = script
        self.calls = 0

    def generate(self, request):
        self.calls += 1
        return self.script(request, self.calls)


def student():
    return make_pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000))


# Unweighted fits and no final refit: the student of round r is then a plain
# refit on the rows labelled by round r (see ``student_at``), and the
# validation split stays out of ``labeled_X_``. Tests of prior correction
# and of the final refit (tests/test_pgkd_allocation.py) use the defaults.
PLAIN = {"prior_correction": None, "refit_with_validation": False}


def distil(X, y, teacher, *, max_iter=3, random_state=0, **pgkd_params):
    clf = ActiveDistillationClassifier(
        student(), teacher=teacher, sampler=PGKD(**{**PLAIN, **pgkd_params}),
        max_iter=max_iter, random_state=random_state,
    )
    return clf.fit(X[:N_SEED], y[:N_SEED])


def validation_split(clf, X, y):
    """The seed items the student never trained on (the validation split)."""
    trained = set(clf.labeled_X_[clf.label_source_ == "seed"])
    val = [i for i in range(N_SEED) if X[i] not in trained]
    return np.asarray(X[:N_SEED], dtype=object)[val], np.asarray(y[:N_SEED])[val]


def student_at(clf, round_):
    """Refit the student on what the loop had labelled by ``round_``."""
    rows = clf.label_round_ <= round_
    return clone(student()).fit(clf.labeled_X_[rows], clf.labeled_y_[rows])


@pytest.mark.parametrize("ablation, params", [
    (None, {}),
    ("report", {"include_report": False}),
    ("hard_negatives", {"n_hard_negatives": 0}),
    ("examples", {"n_examples": 0}),
    ("correct", {"n_correct": 0}),
    ("misclassified", {"n_misclassified": 0}),
])
def test_prompt_shows_each_ingredient_unless_switched_off(
    trec, simulator, ablation, params
):
    X, y = trec
    teacher = Recorder(simulator)
    distil(X, y, teacher, max_iter=1, class_descriptions={"LOC": "places"},
           **params)
    (request,) = teacher.requests
    prompt = request.to_prompt()
    for ingredient, heading in SECTIONS.items():
        assert (heading in prompt) == (ingredient != ablation), ingredient
        assert bool(getattr(request, ingredient)) == (ingredient != ablation)
    assert "- LOC: places" in prompt
    assert all(f"- {label}" in prompt for label in np.unique(y))
    assert request.n_samples == 32
    for text, _ in request.examples:  # few-shot examples come from training
        assert text in X[:N_SEED]


def test_hard_negatives_are_the_most_confidently_confused(trec, simulator):
    X, y = trec
    teacher = Recorder(simulator)
    clf = distil(X, y, teacher, max_iter=1, n_hard_negatives=5)
    X_val, y_val = validation_split(clf, X, y)
    seed_student = student_at(clf, 0)
    proba = seed_student.predict_proba(X_val)
    true_col = np.searchsorted(seed_student.classes_, y_val)
    proba[np.arange(len(y_val)), true_col] = -1
    expected = np.argsort(-proba.max(axis=1), kind="stable")[:5]
    hard = teacher.requests[0].hard_negatives
    assert [text for text, _, _ in hard] == list(X_val[expected])
    assert [c for _, _, c in hard] == list(
        seed_student.classes_[proba[expected].argmax(axis=1)]
    )
    assert all(label != confused for _, label, confused in hard)
    misclassified = teacher.requests[0].misclassified
    assert {t for t, *_ in misclassified}.isdisjoint(t for t, *_ in hard)
    assert all(true != pred for _, true, pred in misclassified)


def test_report_is_the_students_classification_report_on_validation(
    trec, simulator
):
    X, y = trec
    teacher = Recorder(simulator)
    clf = distil(X, y, teacher, max_iter=3, patience=None)
    X_val, y_val = validation_split(clf, X, y)
    assert len(y_val) == clf.sampler_.validation_size_ == 40
    assert len(teacher.requests) == 3
    for round_, request in enumerate(teacher.requests, start=1):
        y_pred = student_at(clf, round_ - 1).predict(X_val)
        expected = classification_report(
            y_val, y_pred, output_dict=True, zero_division=0
        )
        assert request.report == expected
        assert request.report["accuracy"] == pytest.approx(
            clf.sampler_.seed_scores_["val_accuracy"] if round_ == 1
            else clf.history_[round_ - 1, "val_accuracy"]
        )


def test_early_stopping_restores_the_best_student(trec):
    X, y = trec
    # A teacher whose samples are all mislabelled makes the student worse.
    noisy = SimulatedGenerator(X[N_SEED:1500], y[N_SEED:1500], noise_rate=0.99,
                               random_state=0)
    clf = distil(X, y, noisy, max_iter=10, patience=2, batch_size=64,
                 min_validation_size=1)
    losses = [clf.sampler_.seed_scores_["val_loss"], *clf.history_[1:, "val_loss"]]
    best = int(np.argmin(losses))
    assert clf.termination_condition_ == "early_stopping"
    assert clf.sampler_.best_round_ == best
    assert clf.n_iter_ == best + 2
    assert clf.n_iter_ < 10
    X_val, _ = validation_split(clf, X, y)
    np.testing.assert_allclose(
        clf.predict_proba(X_val), student_at(clf, best).predict_proba(X_val)
    )
    last = student_at(clf, clf.n_iter_)
    assert not np.allclose(clf.predict_proba(X_val), last.predict_proba(X_val))
    noisy.reset()
    kept_last = distil(X, y, noisy, max_iter=clf.n_iter_, patience=None,
                       batch_size=64, restore_best=False, min_validation_size=1)
    np.testing.assert_allclose(kept_last.predict_proba(X_val),
                               last.predict_proba(X_val))


def test_generated_samples_are_screened_and_counted(trec):
    X, y = trec
    def script(request, call):
        train_text, train_label = request.examples[0]
        val_text = request.correct[0][0]
        if call == 2:  # repeats of round 1 and one new sample
            return [("Which river is the longest in Europe ?", "LOC"),
                    ("which river is the LONGEST in europe?", "LOC"),
                    ("How tall is the tallest penguin alive today ?", "NUM")]
        return [
            ("Which river is the longest in Europe ?", "LOC"),  # kept
            ("Who painted the ceiling of the Sistine Chapel ?", "HUM"),  # kept
            ("What is the capital of Mongolia ?", "NOT_A_CLASS"),
            ("", "LOC"),
            ("   \n", "HUM"),
            ("Hi", "HUM"),
            ("Why " * 600, "DESC"),
            (train_text, train_label),
            (" " + train_text.upper(), train_label),
            ("Who painted the ceiling of the Sistine Chapel?", "HUM"),
            (val_text, request.correct[0][1]),
            (val_text.replace(" ?", "?"), request.correct[0][1]),
            ("no label",),
            (42, "LOC"),
        ]

    clf = distil(X, y, Scripted(script), max_iter=2, patience=None)
    first, second = clf.history_[1], clf.history_[2]
    assert first["n_generated"] == 14
    assert first["n_new"] == 2
    assert {reason: first[f"n_rejected_{reason}"] for reason in (
        "label", "empty", "length", "duplicate", "near_duplicate", "leak",
        "malformed")} == {
        "label": 1, "empty": 2, "length": 2, "duplicate": 2,
        "near_duplicate": 1, "leak": 2, "malformed": 2}
    assert first["n_rejected"] == 12
    assert first["acceptance_rate"] == pytest.approx(2 / 14)
    assert second["n_new"] == 1
    assert second["n_rejected_duplicate"] + second["n_rejected_near_duplicate"] == 2
    generated = clf.label_source_ == "generated"
    assert list(clf.labeled_X_[generated]) == [
        "Which river is the longest in Europe ?",
        "Who painted the ceiling of the Sistine Chapel ?",
        "How tall is the tallest penguin alive today ?",
    ]
    assert list(clf.label_round_[generated]) == [1, 1, 2]
    assert clf.sampler_.n_rejected_["leak"] == 2


def test_no_more_samples_than_asked_are_kept(trec):
    X, y = trec
    texts = [f"How many moons does planet number {i} have ?" for i in range(10)]
    teacher = Recorder(Scripted(lambda request, call: [(t, "NUM") for t in texts]))
    clf = distil(X, y, teacher, max_iter=1, batch_size=4,
                 near_duplicate_threshold=None)
    asked = teacher.requests[0].class_counts.get("NUM", 0)
    assert teacher.requests[0].n_samples == 4
    assert clf.history_[1, "n_new"] == asked < 4  # NUM's share of the batch
    assert clf.history_[1, "n_surplus"] == 10 - asked
    assert list(clf.labeled_X_[clf.label_source_ == "generated"]) == texts[:asked]


def test_same_random_state_same_student(trec, simulator):
    X, y = trec
    runs = [distil(X, y, simulator.reset(), max_iter=2, random_state=seed)
            for seed in (3, 3, 4)]
    X_test = X[4000:4200]
    np.testing.assert_array_equal(runs[0].labeled_X_, runs[1].labeled_X_)
    np.testing.assert_array_equal(
        runs[0].predict_proba(X_test), runs[1].predict_proba(X_test)
    )
    assert runs[0].history_[:, "val_loss"] == runs[1].history_[:, "val_loss"]
    assert list(runs[0].labeled_X_) != list(runs[2].labeled_X_)


def test_generation_alternates_with_pool_labelling(trec, simulator):
    X, y = trec
    clf = ActiveDistillationClassifier(
        student(), teacher=simulator,
        sampler=PGKD(batch_size=10, pool_sampler=MRARU()), max_iter=4,
        random_state=0,
    ).fit(X[:N_SEED], y[:N_SEED], X_pool=X[N_SEED:1000])
    assert clf.history_[1:, "acquisition"] == ["generated", "pool"] * 2
    from_pool = clf.label_source_ == "teacher"
    assert from_pool.sum() == 20
    assert set(clf.label_round_[from_pool]) == {2, 4}
    pool_labels = y[N_SEED:1000][clf.labeled_pool_index_[from_pool]]
    np.testing.assert_array_equal(clf.labeled_y_[from_pool], pool_labels)
    assert (clf.label_source_ == "generated").sum() > 0


def test_pool_without_pool_sampler_is_ignored_with_a_warning(trec, simulator):
    X, y = trec
    clf = ActiveDistillationClassifier(
        student(), teacher=simulator, sampler=PGKD(batch_size=5), max_iter=1,
        random_state=0,
    )
    with pytest.warns(UserWarning, match="pool_sampler"):
        clf.fit(X[:N_SEED], y[:N_SEED], X_pool=X[N_SEED:500])
    assert "teacher" not in set(clf.label_source_)


def test_setup_errors_name_the_problem(trec):
    X, y = trec
    labeller = ActiveDistillationClassifier(
        student(), teacher=lambda items: ["NUM"] * len(items), sampler=PGKD())
    with pytest.raises(NotImplementedError, match="cannot generate"):
        labeller.fit(X[:N_SEED], y[:N_SEED])
    numeric = ActiveDistillationClassifier(
        LogisticRegression(), teacher=Scripted(lambda r, c: []), sampler=PGKD())
    with pytest.raises(TypeError, match="sequence of texts"):
        numeric.fit(np.random.RandomState(0).normal(size=(20, 3)), [0, 1] * 10)
    singletons = ActiveDistillationClassifier(
        student(), teacher=Scripted(lambda r, c: []), sampler=PGKD())
    with pytest.raises(ValueError, match="at least two examples of some class"):
        singletons.fit(["a cat", "a dog", "a cow"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="min_length"):
        distil(X, y, Scripted(lambda r, c: []), min_length=10, max_length=5)


def test_simulator_follows_report_and_hard_negatives():
    texts = [f"{topic} text number {i}" for topic in ("sport", "money", "war")
             for i in range(30)]
    labels = np.repeat(["sport", "money", "war"], 30)
    teacher = SimulatedGenerator(texts, labels, random_state=0)
    report = {"sport": {"f1-score": 1.0}, "money": {"f1-score": 1.0},
              "war": {"f1-score": 0.0}}
    request = GenerationRequest(["sport", "money", "war"], 24, report=report)
    drawn = [label for _, label in teacher.generate(request)]
    counts = {c: drawn.count(c) for c in ("sport", "money", "war")}
    assert counts["war"] > 3 * max(counts["sport"], counts["money"])
    first = teacher.reset().generate(request)
    assert first == teacher.reset().generate(request)
    again = teacher.generate(request)  # texts are handed out once
    assert {t for t, _ in first}.isdisjoint(t for t, _ in again)
    untargeted = SimulatedGenerator(texts, labels, targeted=False, random_state=0)
    request.n_samples = 60
    drawn = [label for _, label in untargeted.generate(request)]
    assert all(10 <= drawn.count(c) <= 30 for c in ("sport", "money", "war"))

    hard = GenerationRequest(["sport", "money", "war"], 4,
                             hard_negatives=[("money text number 7", "money",
                                              "war")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        answer = SimulatedGenerator(
            texts, labels, hard_negative_share=1.0, hard_negative_policy="text",
            n_neighbors=1, random_state=0).generate(hard)
    assert [label for _, label in answer] == ["money", "war", "money", "war"]
    assert answer[0][0] == "money text number 7"


def test_simulator_pair_policy_draws_both_sides_of_the_boundary():
    texts = ["money bank loan", "money interest rate", "money war bonds",
             "war army tank", "war battle front", "war bonds money",
             "sport ball goal"]
    labels = ["money"] * 3 + ["war"] * 3 + ["sport"]
    request = GenerationRequest(["money", "war", "sport"], 2, hard_negatives=[
        ("a loan to buy a tank", "money", "war")])
    answer = SimulatedGenerator(texts, labels, hard_negative_share=1.0,
                                n_neighbors=1, random_state=0).generate(request)
    assert answer == [("money war bonds", "money"), ("war bonds money", "war")]


def test_prompt_renders_report_weakest_first_and_escapes_texts():
    report = classification_report(
        ["a", "a", "b", "b"], ["a", "a", "a", "b"], output_dict=True
    )
    request = GenerationRequest(
        ["a", "b"], 3, report=report,
        hard_negatives=[("<b>bold</b> claim", "b", "a"), ("plain pair", "b")],
        misclassified=[("wrong one", "b", "a")],
    )
    prompt = request.to_prompt()
    assert prompt.index("- b: precision 1.00, recall 0.50") < prompt.index(
        "- a: precision 0.67, recall 1.00")
    assert "accuracy: 0.750" in prompt
    assert "&lt;b&gt;bold&lt;/b&gt; claim</text> label: b, confused with: a" in prompt
    assert "<text>plain pair</text> label: b\n" in prompt
    assert "true: b, predicted: a" in prompt
    assert "Write 3 new" in prompt
    assert "low recall or F1" in prompt
    assert "low recall or F1" not in GenerationRequest(["a", "b"], 3).to_prompt()


def test_seed_student_is_scored_in_round_zero(trec, simulator):
    X, y = trec
    clf = distil(X, y, simulator.reset(), max_iter=1, random_state=0)
    assert all(v is not None for v in clf.history_[:, "val_loss"])
    assert 0 < clf.history_[0, "val_accuracy"] <= 1
