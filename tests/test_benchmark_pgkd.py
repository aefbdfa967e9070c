"""Smoke test: the PGKD benchmark runs end to end on tiny data."""

import csv
import json

import numpy as np

from benchmarks import pgkd

KEYWORDS = {
    "sports": "goal match team score coach league striker",
    "tech": "chip software code cpu server laptop kernel",
    "food": "pizza bread soup cook salad butter noodle",
}
NOISE = "the a it was very quite some more then later again".split()


def _write_texts(folder, n, rng):
    """``train.csv`` and ``test.csv``: each text mixes its class's keywords
    with noise words, varied enough for PGKD's duplicate screen."""
    folder.mkdir(parents=True)
    for split, size in (("train", n), ("test", n // 3)):
        with (folder / f"{split}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            for i in range(size):
                label = list(KEYWORDS)[i % 3]
                words = [*rng.choice(KEYWORDS[label].split(), 3),
                         *rng.choice(NOISE, 4)]
                writer.writerow([" ".join(rng.permutation(words)), label])


def test_benchmark_runs_writes_results_and_the_page(tmp_path):
    _write_texts(tmp_path / "data" / "tiny", 600, np.random.default_rng(0))
    (tmp_path / "pgkd.md").write_text("# PGKD\n\nHand-written intro.\n")
    argv = ["--datasets", "tiny", "--data-dir", str(tmp_path / "data"),
            "--per-class", "5", "--students", "tfidf", "--random-states", "0",
            "--rounds", "2", "--batch-size", "6", "--reservoir", "300",
            "--max-test", "90", "--out-dir", str(tmp_path / "res"),
            "--docs", str(tmp_path / "pgkd.md")]
    rows = pgkd.main(argv)
    expected = {("-", "seed_only")} | {
        (g, a) for g in pgkd.GENERATORS for a in pgkd.GENERATOR_ARMS[g]}
    assert {(r["generator"], r["arm"]) for r in rows} == expected
    assert len(rows) == len(expected)
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and row["version"] == pgkd.VERSION
        if row["arm"] != "seed_only":
            assert row["n_generated"] <= 12 and len(row["curve"]) == 3
            assert row["n_train"] == 15 + row["n_generated"]  # the whole seed
            assert row["counts_recorded"] and row["most_over_cap"] <= 0
    summary = json.loads((tmp_path / "res" / "pgkd.json").read_text())
    assert summary["machine"]["cpu_count"] >= 1
    assert summary["command"].startswith("python -m benchmarks.pgkd")
    assert (tmp_path / "res" / "pgkd_summary.csv").is_file()
    assert (tmp_path / "res" / "pgkd_curves.png").stat().st_size > 0
    page = (tmp_path / "pgkd.md").read_text()
    assert page.startswith("# PGKD\n\nHand-written intro.")
    assert "| tiny | tfidf | 1 |" not in page  # targets name 10 per class only
    assert "### Test accuracy" in page and "| 5 | tiny | tfidf |" in page
    assert "no class ended a round with more labelled texts than the cap: yes" in page
    # A second call resumes: nothing is run again; runs of another version
    # (an older allocation) are not read back.
    runs = tmp_path / "res" / "pgkd_runs.jsonl"
    with runs.open("a") as handle:
        handle.write(json.dumps({**rows[0], "version": pgkd.VERSION - 1,
                                 "accuracy": -1}) + "\n")
    again = pgkd.main(argv)
    assert len(again) == len(rows) and min(r["accuracy"] for r in again) >= 0
