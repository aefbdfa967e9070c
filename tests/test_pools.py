"""Out-of-core pools: indexing, pickling, bounded memory, same selections."""

import json
import pickle
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd._items import take
from skakd.pools import NpyPool, TextFilePool
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler
from skakd.teachers import OracleTeacher


@pytest.fixture
def npy(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 4)).astype(np.float16)
    path = tmp_path / "pool.npy"
    np.save(path, X)
    return NpyPool(path), X


@pytest.fixture
def text_files(tmp_path, texts):
    X, y = texts
    # Quotes, commas and newlines inside fields, and non-ASCII text.
    X = X.copy()
    X[3] = 'a "quoted", multi\nline text'
    X[7] = "café, naïve"
    frame = pd.DataFrame({"id": np.arange(len(X)), "text": X, "label": y})
    csv_path = tmp_path / "pool.csv"
    frame.to_csv(csv_path, index=False)
    jsonl_path = tmp_path / "pool.jsonl"
    with open(jsonl_path, "w", encoding="utf-8") as handle:
        for text, label in zip(X, y):
            handle.write(json.dumps({"text": text, "label": label}) + "\n")
    return csv_path, jsonl_path, X, y


def test_npy_pool_indexes_like_the_array(npy):
    pool, X = npy
    assert pool.shape == X.shape and pool.dtype == X.dtype and len(pool) == len(X)
    rng = np.random.default_rng(1)
    idx = rng.permutation(len(X))[:50]
    np.testing.assert_array_equal(pool[idx], X[idx])
    np.testing.assert_array_equal(pool[[5, 5, -1]], X[[5, 5, -1]])
    np.testing.assert_array_equal(pool[10:40:3], X[10:40:3])
    np.testing.assert_array_equal(pool[7], X[7])
    mask = rng.random(len(X)) < 0.3
    np.testing.assert_array_equal(pool[mask], X[mask])
    np.testing.assert_array_equal(take(pool, idx), X[idx])
    assert pool[np.array([], dtype=int)].shape == (0, 4)


def test_npy_pool_rejects_bad_indices_and_files(npy, tmp_path):
    pool, _ = npy
    with pytest.raises(IndexError, match="out of range"):
        pool[[0, 500]]
    with pytest.raises(IndexError, match="1-D array of ints"):
        pool[np.array([0.5])]
    np.save(tmp_path / "flat.npy", np.arange(5))
    with pytest.raises(ValueError, match="expected a 2-D"):
        NpyPool(tmp_path / "flat.npy")
    with pytest.raises(ValueError, match="n_rows=501 is out of range"):
        NpyPool(pool.path, n_rows=501)
    assert len(NpyPool(pool.path, n_rows=20)) == 20


def test_pools_pickle_as_a_reference(npy, text_files):
    pool, X = npy
    payload = pickle.dumps(pool)
    assert len(payload) < X.nbytes / 4  # the rows do not travel
    np.testing.assert_array_equal(pickle.loads(payload)[[1, 2]], X[[1, 2]])
    csv_path, _, texts, _ = text_files
    text_pool = TextFilePool(csv_path)
    text_pool[0]  # builds the row index, which must not be pickled either
    restored = pickle.loads(pickle.dumps(text_pool))
    assert "_offsets" not in restored.__dict__
    assert restored[[3, 7]].tolist() == texts[[3, 7]].tolist()


def test_text_file_pools_read_csv_and_jsonl(text_files):
    csv_path, jsonl_path, X, _ = text_files
    for pool in (TextFilePool(csv_path), TextFilePool(jsonl_path)):
        assert len(pool) == len(X) and pool.shape == (len(X),)
        idx = np.array([7, 3, 0, len(X) - 1, 3])
        out = pool[idx]
        assert out.dtype == object and out.tolist() == X[idx].tolist()
        assert list(pool) == X.tolist()
    labels = TextFilePool(csv_path, column="label")
    assert labels[[0, 1]].tolist() == ["money", "sport"]


def test_text_file_pool_errors_name_the_problem(text_files):
    csv_path, jsonl_path, _, _ = text_files
    with pytest.raises(ValueError, match="column='body' is not in the header"):
        len(TextFilePool(csv_path, column="body"))
    with pytest.raises(ValueError, match="'body'=None; expected a string"):
        TextFilePool(jsonl_path, column="body")[0]
    with pytest.raises(ValueError, match="file_format='xml'"):
        len(TextFilePool(csv_path, file_format="xml"))


@pytest.mark.parametrize("sampler", [
    MRARU(batch_size=10, chunk_size=64),
    UncertaintySampler(batch_size=10, chunk_size=64),
    RandomSampler(batch_size=10),
])
def test_numeric_out_of_core_pool_gives_same_selection(npy, sampler):
    pool, X = npy
    student = LogisticRegression().fit(X[:40].astype(float), X[:40, 0] > 0)
    candidates = np.arange(40, len(X), 2)
    for seed in range(3):
        expected = sampler.select(student, X, candidates, 10, random_state=seed)
        chosen = sampler.select(student, pool, candidates, 10, random_state=seed)
        np.testing.assert_array_equal(chosen, expected)


@pytest.mark.parametrize("sampler", [
    MRARU(batch_size=8, chunk_size=32),
    UncertaintySampler(batch_size=8, chunk_size=32, strategy="entropy"),
])
def test_text_file_pool_gives_same_selection(text_files, sampler):
    csv_path, jsonl_path, X, y = text_files
    student = make_pipeline(TfidfVectorizer(), LogisticRegression())
    student.fit(X[:30], y[:30])
    candidates = np.arange(30, len(X))
    expected = sampler.select(student, X, candidates, 8, random_state=0)
    for path in (csv_path, jsonl_path):
        chosen = sampler.select(student, TextFilePool(path), candidates, 8,
                                random_state=0)
        np.testing.assert_array_equal(chosen, expected)


def test_exhaustive_scoring_memory_is_bounded_by_the_chunk(tmp_path):
    # 80,000 x 64 float32 is 20 MB; scoring it in chunks of 2,000 rows must
    # allocate about one chunk (0.5 MB) at a time, never a quarter of the pool.
    rng = np.random.default_rng(0)
    path = tmp_path / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(80_000, 64))
    for begin in range(0, len(big), 20_000):
        big[begin : begin + 20_000] = rng.normal(size=(20_000, 64))
    big.flush()
    del big
    pool = NpyPool(path)
    seed = pool[:200]
    student = LogisticRegression().fit(seed, seed[:, 0] > 0)
    sampler = UncertaintySampler(batch_size=25, chunk_size=2_000)
    tracemalloc.start()
    chosen = sampler.select(student, pool, np.arange(200, len(pool)), 25, 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(chosen) == 25
    print(f"peak traced memory {peak / 1e6:.2f} MB")
    assert peak < len(pool) * 64 * 4 / 4


def test_fit_with_out_of_core_pools_matches_in_memory(npy, text_files):
    pool, X = npy
    X = X.astype(np.float64)

    def rule(items):
        return (np.asarray(items, dtype=float)[:, 0] > 0).astype(int)

    seed = np.concatenate([np.flatnonzero(X[:, 0] > 0)[:3],
                           np.flatnonzero(X[:, 0] <= 0)[:3]])
    chosen = []
    for data in (pool[:].astype(np.float64), pool):
        clf = ActiveDistillationClassifier(
            LogisticRegression(), teacher=rule, sampler=MRARU(batch_size=8),
            max_iter=3, random_state=0,
        ).fit(X[seed], rule(X[seed]), X_pool=data)
        chosen.append(clf.labeled_pool_index_)
    np.testing.assert_array_equal(chosen[0], chosen[1])

    csv_path, _, texts, y = text_files
    oracle = OracleTeacher(texts, y)
    chosen = []
    for data in (texts, TextFilePool(csv_path)):
        clf = ActiveDistillationClassifier(
            make_pipeline(TfidfVectorizer(), LogisticRegression()), teacher=oracle,
            sampler=UncertaintySampler(batch_size=8), max_iter=3, random_state=0,
        ).fit(texts[:10], y[:10], X_pool=data)
        chosen.append(clf.labeled_pool_index_)
    np.testing.assert_array_equal(chosen[0], chosen[1])


def test_validation_passes_out_of_core_pools_through_unread(npy, text_files):
    from skakd._items import check_items

    pool, _ = npy
    assert check_items(pool, "X_pool", n_features=4) is pool
    with pytest.raises(ValueError, match="X_pool has 4 features.*expecting 3"):
        check_items(pool, "X_pool", n_features=3)
    text_pool = TextFilePool(text_files[0])
    assert check_items(text_pool, "X_pool") is text_pool
