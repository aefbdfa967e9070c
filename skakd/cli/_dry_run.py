"""``skakd distill --teacher anthropic --dry-run``: the whole run, no key.

A :class:`~skakd.teachers.testing.FakeAnthropic` server is started on
127.0.0.1 and the Claude teacher is pointed at it (``base_url`` and a
placeholder key), so every request goes through the real client, cache,
retries and batches exactly as it would to the API. The stand-in answers:

* the pool file's own label of the text, when the pool has a label column;
* else the label of the seed text nearest to it (TF-IDF cosine similarity).

The requests are written to ``<stem>.dry-run.prompts.jsonl`` (the first
:data:`N_PROMPTS`), and the bill the API would charge for them is the fake's
ledger at the model's real prices. Its answers are kept apart, in
``<stem>.dry-run.cache.sqlite``, so that no stand-in answer is ever replayed
as Claude's.
"""

import json
from pathlib import Path

import numpy as np

from ._io import InputError, read_table
from ._options import default_model

__all__ = ["DryRun", "N_PROMPTS", "cache_path"]

N_PROMPTS = 20
API_KEY = "dry-run-placeholder-key"


def cache_path(cache):
    """The dry run's cache, next to (never the same as) the real one."""
    cache = Path(cache)
    stem = cache.name.removesuffix(".sqlite").removesuffix(".cache")
    return cache.with_name(f"{stem}.dry-run.cache.sqlite")


class DryRun:
    """The fake Messages API of a dry run, answering with the stand-in."""

    def __init__(self, args, inputs):
        from ..teachers.testing import FakeAnthropic

        self.model = args.model
        self.how, self.labeler = _stand_in(args, inputs)
        self.server = FakeAnthropic(labeler=self.labeler, api_key=API_KEY)
        self.base_url = self.api_key = None

    def __enter__(self):
        self.server.start()
        self.base_url, self.api_key = self.server.base_url, API_KEY
        return self

    def __exit__(self, *exc_info):
        self.server.stop()

    def requests(self):
        """Every request body the teacher sent, batched ones included."""
        bodies = self.server.message_bodies()
        for batch in self.server.batches.values():
            bodies += [entry["params"] for entry in batch["requests"]]
        return bodies

    def write_prompts(self, path):
        """The first :data:`N_PROMPTS` request bodies, one JSON a line."""
        bodies = self.requests()
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(body, ensure_ascii=False) + "\n"
                           for body in bodies[:N_PROMPTS])
        return len(bodies)

    def bill(self):
        """What the API would charge for the fake's ledger, in USD."""
        from ..teachers import BATCH_DISCOUNT, cost_of_usage, model_price

        model = self.model or default_model()
        price, ledger = model_price(model), self.server.ledger
        keys = ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                "cache_read_input_tokens")
        direct = cost_of_usage(price, *(ledger[k] for k in keys))
        batched = cost_of_usage(price, *(ledger[f"batch_{k}"] for k in keys))
        tokens = {k: ledger[k] + ledger[f"batch_{k}"] for k in keys}
        requests = ledger["n_billed"] + ledger["batch_n_billed"]
        return direct + BATCH_DISCOUNT * batched, tokens, requests


def _stand_in(args, inputs):
    """``(description, labeler)``: the pool's labels, else the nearest seed."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    known = {}
    if args.pool is not None:
        try:
            texts, labels = read_table(args.pool, args.text_column,
                                       label_column=args.label_column,
                                       encoding=args.encoding)
        except InputError:  # no label column: a pool as a real run has it
            pass
        else:
            known = {text: label for text, label in zip(texts, labels)
                     if label in inputs.classes}
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(inputs.seed_texts)
    seed = vectorizer.transform(inputs.seed_texts)
    seed_labels = np.asarray(inputs.seed_labels)

    def labeler(text, classes):
        if text in known:
            return known[text]
        similarity = (seed @ vectorizer.transform([text]).T).toarray().ravel()
        return str(seed_labels[int(np.argmax(similarity))])

    if known:
        return (f"the label column ({args.label_column}) of {args.pool}, else "
                "the nearest seed text's label"), labeler
    return "the label of the nearest seed text (TF-IDF cosine)", labeler
