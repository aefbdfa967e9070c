"""CallableTeacher and OracleTeacher."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from skakd.teachers import CallableTeacher, OracleTeacher, TeacherResult


def test_callable_teacher_batches_calls_and_passes_classes():
    calls = []

    def label(items, classes):
        calls.append((list(items), list(classes)))
        return [classes[len(t) % 2] for t in items]

    teacher = CallableTeacher(label, batch_size=2, cost_per_item=0.5)
    result = teacher.label(["a", "bb", "ccc"], classes=["even", "odd"])
    assert result.labels == ["odd", "even", "odd"]
    assert [batch for batch, _ in calls] == [["a", "bb"], ["ccc"]]
    assert calls[0][1] == ["even", "odd"]
    assert result.cost == 1.5


def test_callable_teacher_errors_name_the_function():
    def short(items):
        return ["x"]

    with pytest.raises(ValueError, match="teacher short returned 1 labels for 2"):
        CallableTeacher(short).label(["a", "b"], ["x"])
    with pytest.raises(TypeError, match="expects a callable"):
        CallableTeacher("not callable").label(["a"], ["x"])


def test_teacher_is_shared_by_clones_and_shows_its_parameters():
    teacher = OracleTeacher({"a": 1}, noise_rate=0.1, random_state=3)
    assert clone(teacher) is teacher
    # Only the parameters that differ from their defaults, as in scikit-learn.
    assert repr(teacher) == "OracleTeacher(X={'a': 1}, noise_rate=0.1, random_state=3)"
    assert repr(CallableTeacher(len, batch_size=4)) == (
        "CallableTeacher(batch_size=4, func=<built-in function len>)")


def test_teacher_result_counts_abstentions():
    assert TeacherResult(labels=["a", None, None]).n_unlabeled == 2


def test_oracle_from_mapping_and_from_arrays():
    assert OracleTeacher({"hi": "greet"}).label(["hi", "bye"], None).labels == [
        "greet", None]
    X = np.array([[0.0, 1.0], [2.0, 3.0]])
    oracle = OracleTeacher(X, ["a", "b"])
    assert oracle.label(X[::-1], ["a", "b"]).labels == ["b", "a"]
    assert oracle.label(np.array([[9.0, 9.0]]), ["a", "b"]).labels == [None]


def test_oracle_on_sparse_rows():
    X = sp.csr_matrix(np.array([[0, 1.0, 0], [2.0, 0, 0], [0, 0, 3.0]]))
    oracle = OracleTeacher(X, [0, 1, 2])
    assert oracle.label(X[[2, 0]], [0, 1, 2]).labels == [2, 0]


def test_oracle_noise_is_at_the_rate_asked_and_consistent():
    items = [f"text {i}" for i in range(4000)]
    truth = [i % 4 for i in range(4000)]
    oracle = OracleTeacher(items, truth, noise_rate=0.2, random_state=7)
    labels = np.array(oracle.label(items, [0, 1, 2, 3]).labels)
    wrong = labels != np.array(truth)
    assert wrong.mean() == pytest.approx(0.2, abs=0.02)
    assert set(labels) <= {0, 1, 2, 3}
    again = oracle.label(items[::-1], [0, 1, 2, 3]).labels[::-1]
    np.testing.assert_array_equal(labels, again)
    other = OracleTeacher(items, truth, noise_rate=0.2, random_state=8)
    assert (np.array(other.label(items, [0, 1, 2, 3]).labels) != labels).any()


@pytest.mark.parametrize("kwargs, message", [
    ({"X": ["a"], "y": None}, "y is None"),
    ({"X": {"a": 1}, "y": [1]}, "either a mapping"),
    ({"X": ["a", "b"], "y": [1]}, "2 items but y has 1"),
    ({"X": ["a"], "y": [1], "noise_rate": 1.0}, "noise_rate"),
])
def test_oracle_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OracleTeacher(**kwargs).label(["a"], [1])


def test_oracle_pickle_drops_its_lookup():
    import pickle

    oracle = OracleTeacher(["a"], [1])
    oracle.label(["a"], [1])
    restored = pickle.loads(pickle.dumps(oracle))
    assert "_lookup" not in restored.__dict__
    assert restored.label(["a"], [1]).labels == [1]
