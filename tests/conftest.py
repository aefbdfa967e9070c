import os

import numpy as np
import pytest
from sklearn.datasets import make_classification
from threadpoolctl import threadpool_limits

from skakd.datasets import load_dataset

# The tests fit small models: one BLAS thread is as fast, and with two on a
# busy 2-core machine OpenBLAS spins waiting for a core (a 1,000-text
# LogisticRegression fit took 6 s instead of 0.1 s). Child processes (CLI
# runs, killed fits) inherit the setting through the environment.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
threadpool_limits(1)


@pytest.fixture
def blobs():
    """A 3-class problem split into seed, pool and test parts."""
    X, y = make_classification(
        n_samples=900, n_features=6, n_informative=4, n_classes=3,
        n_clusters_per_class=1, class_sep=0.7, random_state=0,
    )
    seed = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(3)])
    rest = np.setdiff1d(np.arange(600), seed)
    return {
        "X": X, "y": y,
        "X_seed": X[seed], "y_seed": y[seed],
        "X_pool": X[rest], "y_pool": y[rest],
        "X_test": X[600:], "y_test": y[600:],
    }


@pytest.fixture
def texts():
    """A small two-topic text problem."""
    rng = np.random.default_rng(0)
    sport = ["match", "goal", "team", "score", "league", "coach", "stadium"]
    money = ["bank", "loan", "rate", "stock", "market", "price", "fund"]
    X, y = [], []
    for i in range(240):
        words, label = (sport, "sport") if i % 2 else (money, "money")
        X.append(" ".join(rng.choice(words, size=5)))
        y.append(label)
    return np.array(X, dtype=object), np.array(y)


# -- benchmark tests ------------------------------------------------------------
# The tests of benchmarks/ (a project beside the library) are marked
# "benchmark": `pytest -m "not benchmark"` runs the library's suite alone,
# `pytest -m benchmark` the benchmarks' tests. Marked by file name, so a new
# tests/test_benchmark_*.py is marked without remembering to.


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "benchmark: tests of benchmarks/ (deselect with -m 'not benchmark')")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name.startswith("test_benchmark_"):
            item.add_marker(pytest.mark.benchmark)


@pytest.fixture(scope="module")
def trec400():
    """400 trec questions: the first 4 of each class seed, the rest the pool;
    ``truth`` maps every text to its label (what a perfect teacher answers)."""
    data = load_dataset("trec")
    X = np.asarray(data.X_train[:400], dtype=object)
    y = np.asarray(data.y_train[:400])
    seed = np.zeros(len(y), bool)
    for label in np.unique(y):
        seed[np.flatnonzero(y == label)[:4]] = True
    return {"X_seed": X[seed], "y_seed": y[seed], "X_pool": X[~seed],
            "truth": dict(zip(X.tolist(), y.tolist()))}
