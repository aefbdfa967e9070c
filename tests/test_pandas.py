"""pandas in: Series and DataFrames (any index) wherever a user passes items."""

import numpy as np
import pytest
from sklearn.compose import make_column_transformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skakd import ActiveDistillationClassifier, Pool
from skakd.sampling import RandomSampler

pd = pytest.importorskip("pandas")

POSITIVE = ("good", "great", "nice", "fine")
WORDS = ["good", "great", "nice", "fine", "bad", "awful", "poor", "dull"]


def _texts(n, rng):
    return [" ".join(rng.choice(WORDS, 3)) + f" {i}" for i in range(n)]


def _sentiment(items):
    return ["pos" if sum(w in POSITIVE for w in t.split()) >= 2 else "neg"
            for t in items]


@pytest.fixture
def corpus():
    rng = np.random.default_rng(0)
    seed = ["good great nice", "bad awful poor", "fine nice good", "dull poor bad"]
    return seed, _sentiment(seed), _texts(120, rng), _texts(60, rng)


def _distiller(teacher=_sentiment, **params):
    return ActiveDistillationClassifier(
        teacher=teacher, sampler=RandomSampler(batch_size=10), max_iter=3,
        random_state=0, **params)


def test_series_with_misaligned_indices_equal_lists(corpus):
    seed, labels, pool, test = corpus
    reference = _distiller().fit(seed, labels, X_pool=pool)
    clf = _distiller().fit(
        pd.Series(seed, index=[10, 11, 12, 13]),
        pd.Series(labels, index=[3, 2, 1, 0]),  # not aligned with X: by position
        X_pool=pd.Series(pool, index=np.arange(1000, 1000 + len(pool))),
    )
    np.testing.assert_array_equal(clf.labeled_y_, reference.labeled_y_)
    assert clf.labeled_X_.tolist() == reference.labeled_X_.tolist()
    series = pd.Series(test, index=np.arange(len(test))[::-1])
    np.testing.assert_array_equal(clf.predict(series), reference.predict(test))


def test_one_column_frame_of_texts_and_wrapped_pool(corpus):
    seed, labels, pool, test = corpus
    reference = _distiller().fit(seed, labels, X_pool=pool)
    clf = _distiller().fit(pd.DataFrame({"text": seed}), labels,
                           X_pool=Pool(pd.DataFrame({"text": pool})))
    assert clf.labeled_X_.tolist() == reference.labeled_X_.tolist()
    np.testing.assert_array_equal(clf.predict_proba(pd.DataFrame({"text": test})),
                                  reference.predict_proba(test))


def test_numeric_frame_teacher_receives_rows():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(200, 3))
    frame = pd.DataFrame(values, columns=["a", "b", "c"],
                         index=rng.permutation(200) + 500)
    received = []

    def teacher(rows):
        received.extend(rows)
        return [int(row[0] + row[1] > 0) for row in rows]

    seed = frame.iloc[:6]
    y_seed = teacher(seed.to_numpy())
    received.clear()
    clf = _distiller(teacher, estimator=LogisticRegression()).fit(
        seed, y_seed, X_pool=frame.iloc[6:])
    assert len(received) == 30
    assert all(isinstance(row, np.ndarray) and row.shape == (3,) for row in received)
    # rows sent are the rows labelled, by position in the pool
    np.testing.assert_array_equal(
        np.array(received), values[6:][clf.labeled_pool_index_[6:]])
    assert list(clf.labeled_X_.columns) == ["a", "b", "c"]
    assert clf.n_features_in_ == 3
    assert clf.score(frame, (values[:, 0] + values[:, 1] > 0).astype(int)) > 0.8


def test_mixed_frame_with_a_column_transformer_student():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"text": _texts(100, rng), "length": rng.integers(1, 9, 100)},
                         index=rng.permutation(100))
    received = []

    def teacher(rows):
        received.extend(rows)
        return _sentiment([row["text"] for row in rows])

    student = make_pipeline(
        make_column_transformer((TfidfVectorizer(), "text"),
                                (StandardScaler(), ["length"])),
        LogisticRegression(),
    )
    seed = pd.DataFrame({"text": ["good great nice", "bad awful poor"],
                         "length": [3, 3]})
    clf = _distiller(teacher, estimator=student).fit(
        seed, ["pos", "neg"], X_pool=frame)
    assert len(received) == 30 and set(received[0]) == {"text", "length"}
    assert clf.predict(frame.iloc[:5]).shape == (5,)


def test_mixed_frame_without_a_student_is_a_clear_error():
    frame = pd.DataFrame({"text": ["a b", "c d"], "n": [1, 2]})
    with pytest.raises(TypeError, match="X is a DataFrame with non-numeric columns"):
        _distiller().fit(frame, ["x", "y"], X_pool=Pool(frame))


def test_pool_columns_must_match_the_seed():
    seed = pd.DataFrame({"a": [0.0, 1.0], "b": [1.0, 0.0]})
    pool = pd.DataFrame({"b": [0.5], "a": [0.5]})
    with pytest.raises(ValueError, match="X_pool has columns"):
        _distiller(estimator=LogisticRegression()).fit(seed, [0, 1], X_pool=pool)


def test_nan_in_a_numeric_pool_frame_names_it():
    seed = pd.DataFrame({"a": [0.0, 1.0]})
    pool = pd.DataFrame({"a": [0.5, np.nan]})
    with pytest.raises(ValueError, match="X_pool"):
        _distiller(estimator=LogisticRegression()).fit(seed, [0, 1], X_pool=pool)


def test_pipeline_with_pandas_output_before_the_distiller():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(150, 2))
    frame = pd.DataFrame(values, columns=["u", "v"])
    y = (values[:, 0] > 0).astype(int)
    pipe = make_pipeline(
        # X_pool reaches the distiller untransformed (see its Notes): an
        # identity step keeps the seed and the pool on the same scale.
        FunctionTransformer(feature_names_out="one-to-one").set_output(
            transform="pandas"),
        _distiller(lambda rows: [int(r[0] > 0) for r in rows],
                   estimator=LogisticRegression()),
    )
    pipe.fit(frame.iloc[:6], y[:6],
             activedistillationclassifier__X_pool=frame.iloc[6:])
    distiller = pipe[-1]
    assert list(distiller.labeled_X_.columns) == ["u", "v"]
    assert pipe.score(frame, y) > 0.9
