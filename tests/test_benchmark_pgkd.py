"""Smoke test: the PGKD benchmark runs end to end on tiny data."""

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
pgkd = pytest.importorskip("pgkd")

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
                         *rng.choice(NOISE, 3)]
                writer.writerow([" ".join(rng.permutation(words)), label])


def _run(tmp_path, student, *extra):
    pgkd.main(["--datasets", "tiny", "--data-dir", str(tmp_path / "data"),
               "--student", student, "--n-seed", "60", "--steps", "2",
               "--batch-size", "6", "--out-dir", str(tmp_path / "res"),
               "--docs", str(tmp_path / "pgkd.md"), *extra])
    with (tmp_path / "res" / f"pgkd_{student}_tiny.csv").open() as handle:
        return list(csv.DictReader(handle))


def _check_results(tmp_path, rows, student, n_seeds):
    assert sorted((r["arm"], r["seed"]) for r in rows) == sorted(
        (arm, str(seed)) for arm in pgkd.ARMS for seed in range(n_seeds))
    assert all(0 <= float(r["accuracy"]) <= 1 for r in rows)
    stem = tmp_path / "res" / f"pgkd_{student}_tiny"
    summary = json.loads(stem.with_suffix(".json").read_text())["summary"]["tiny"]
    assert set(pgkd.ARMS) <= set(summary)
    assert stem.with_suffix(".png").stat().st_size > 0


def test_benchmark_writes_every_arm_and_the_docs_page(tmp_path):
    _write_texts(tmp_path / "data" / "tiny", 300, np.random.default_rng(0))
    rows = _run(tmp_path, "tfidf", "--seeds", "0", "1")
    _check_results(tmp_path, rows, "tfidf", n_seeds=2)
    # The easy task is learnt from the seed alone.
    assert min(float(r["accuracy"]) for r in rows) > 0.8
    assert all(int(r["n_generated_kept"]) > 0 for r in rows
               if r["arm"] in pgkd.PGKD_ARMS)

    page = (tmp_path / "pgkd.md").read_text()
    assert "## tiny, TF-IDF" in page
    for arm in pgkd.ARMS:
        assert f"| {arm} | " in page
    assert "Reproduce: `python benchmarks/pgkd.py --datasets tiny" in page


def test_benchmark_bert_student_keeps_other_sections(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("skorch")
    _write_texts(tmp_path / "data" / "tiny", 150, np.random.default_rng(1))
    model = tmp_path / "tiny_bert"
    model.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *NOISE,
             *" ".join(KEYWORDS.values()).split()]
    (model / "vocab.txt").write_text("\n".join(vocab))
    transformers.BertTokenizerFast(str(model / "vocab.txt")).save_pretrained(model)
    # An encoder without a head: BertClassifier adds one per class set.
    transformers.BertModel(transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32,
    )).save_pretrained(model)

    _run(tmp_path, "tfidf", "--seeds", "0")
    rows = _run(tmp_path, "bert", "--seeds", "0", "--bert-model", str(model),
                "--bert-seed-epochs", "3", "--bert-lr", "1e-3",
                "--bert-head-lr", "1e-2")
    _check_results(tmp_path, rows, "bert", n_seeds=1)
    page = (tmp_path / "pgkd.md").read_text()
    assert "## tiny, TF-IDF" in page
    assert "## tiny, BertClassifier, short CPU budget" in page
    assert "trains 3 epoch(s)" in page
