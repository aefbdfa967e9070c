import re

import numpy as np
import pytest

from skakd import demo
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


def test_demo_explains_talks_every_round_and_plots(tmp_path, capsys):
    plot = tmp_path / "plots" / "curve.png"
    histories = main(["--rounds", "2", "--target", "0.2", "--plot", str(plot)])
    for history, _ in histories.values():
        assert history[:, "n_labeled"] == [77, 102, 127]
        assert all(0 < acc < 1 for acc in history[:, "accuracy"])
    assert labels_to_reach(histories["mraru"][0], 0.0) == 0
    assert labels_to_reach(histories["mraru"][0], 1.01) is None
    out = capsys.readouterr().out
    # The explanation comes first, acceptance rate included.
    assert out.index("Acceptance rate = texts accepted / texts visited") < out.index(
        "round  1/2")
    assert "2 rounds of 25 teacher labels (50 in all)" in out
    # One line per round and sampler, as it happens.
    for name in ("M-RARU", "random"):
        rounds = re.findall(rf"^{name:>6} round +(\d)/2 +(\d+) labels  accuracy "
                            r"0\.\d{3}  acceptance rate +[\d.]+% \(25 of (\d+) "
                            "visited\\)", out, re.M)
        assert [r[:2] for r in rounds] == [("1", "102"), ("2", "127")], out
    assert re.search(r"^random round  1/2 .* 100\.0% \(25 of 25 visited\)", out, re.M)
    # The table, the answer, the plot.
    assert "M-RARU acc" in out and "teacher labels" in out
    assert re.search(r"^M-RARU: accuracy 0\.20 -> \d+ teacher labels", out, re.M)
    assert f"Learning curves: {plot}" in out
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_demo_without_matplotlib_says_how_to_get_the_plot(tmp_path, monkeypatch,
                                                        capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "has_matplotlib", lambda: False)
    main(["--rounds", "1"])
    out = capsys.readouterr().out
    assert 'matplotlib is not installed (pip install "skakd[plot]")' in out
    assert list(tmp_path.iterdir()) == []


def test_demo_summary_says_which_sampler_needed_fewer_labels():
    def run(*accuracies):
        history = [{"n_labeled": 77 + 25 * i, "accuracy": a, "acceptance_rate": 0.1}
                   for i, a in enumerate(accuracies)]
        return history, 1.0

    lines = demo.summarize({"mraru": run(0.3, 0.7), "random": run(0.3, 0.5, 0.7)},
                           0.7, 50)
    assert lines[-1] == ("M-RARU needed 25 fewer teacher labels than random "
                         "(50% fewer) for the same accuracy.")
    lines = demo.summarize({"mraru": run(0.3, 0.5), "random": run(0.3, 0.7)}, 0.7, 25)
    assert lines[0].endswith("not reached within 25 labels; mean acceptance rate "
                             "10.0%; 1.0 s")
    assert lines[-1] == "Random sampling got there first in this run."
