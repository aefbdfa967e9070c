import numpy as np
import pytest

from skakd.datasets import list_datasets, load_dataset
from skakd.demo import labels_to_reach, main, one_per_class


def test_bundled_datasets():
    trec = load_dataset("trec")
    assert len(trec.X_train) == 5452 and len(trec.X_test) == 500
    assert set(trec.classes) == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    assert trec.y_train_fine[0].startswith(trec.y_train[0])
    assert "License" in load_dataset("banking77").license
    assert list_datasets() == ["banking77", "trec"]
    with pytest.raises(ValueError, match="'imdb' is not a bundled dataset"):
        load_dataset("imdb")


def test_one_per_class():
    y = np.array(list("aabbbcc"))
    assert sorted(y[one_per_class(y, 0)]) == ["a", "b", "c"]


def test_demo_runs_both_samplers_and_reports(capsys):
    histories = main(["--rounds", "2", "--target", "0.2"])
    for history, _ in histories.values():
        assert history[:, "n_labeled"] == [77, 102, 127]
        assert all(0 < acc < 1 for acc in history[:, "accuracy"])
    assert labels_to_reach(histories["mraru"][0], 0.0) == 0
    assert labels_to_reach(histories["mraru"][0], 1.01) is None
    out = capsys.readouterr().out
    assert "M-RARU acc" in out and "teacher labels" in out
