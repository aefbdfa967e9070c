"""benchmarks.multilabel's arithmetic: labels to the target, the summary and
the verdict on the page."""

import pytest

multilabel = pytest.importorskip("benchmarks.multilabel")


def _run(strategy, seed, scores):
    return {"strategy": strategy, "seed": seed, "seconds": 1.0,
            "n_labels": [0, 50, 100, 150], "micro_f1": scores,
            "macro_f1": scores, "hamming": [0.1] * 4}


def test_labels_to_reach_and_summary():
    runs = [_run("random", 0, [0.1, 0.2, 0.3, 0.4]),
            _run("random", 1, [0.1, 0.2, 0.2, 0.2]),
            _run("mraru_mean", 0, [0.1, 0.4, 0.4, 0.4]),
            _run("uncertainty_mean", 0, [0.1, 0.2, 0.4, 0.4])]
    assert multilabel.labels_to_reach(runs[0], 0.35) == 150
    assert multilabel.labels_to_reach(runs[1], 0.35) is None
    rows = {r["strategy"]: r for r in multilabel.summarise(runs, 0.35, 200)}
    assert rows["random"]["labels_per_seed"] == [150, None]
    assert rows["random"]["mean_labels"] == 175 and rows["random"]["n_reached"] == 1
    verdict = multilabel.verdict(list(rows.values()))[0]
    assert "71% fewer" in verdict and "(uncertainty_mean) needs 100 against its 50" in verdict
    rows["mraru_mean"]["mean_labels"] = 210
    assert "20% more teacher labels" in multilabel.verdict(list(rows.values()))[0]


def test_students_have_their_own_results_and_page_section():
    assert multilabel.stem_for("tfidf") == "multilabel"
    assert multilabel.stem_for("minilm", quick=True) == "multilabel_minilm_quick"
    data = (["a text"], [["joy"]], ["another"], [[1]], ["joy"])
    assert multilabel.featurize(data, "tfidf") is data
