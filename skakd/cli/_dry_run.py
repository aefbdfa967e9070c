"""``skakd distill --teacher anthropic|openai --dry-run``: the whole run, no key.

A fake of the teacher's API (:class:`~skakd.teachers.testing.FakeAnthropic`
or :class:`~skakd.teachers.testing.FakeOpenAI`) is started on 127.0.0.1 and
the teacher is pointed at it (``base_url`` and a placeholder key), so every
request goes through the real client, cache, retries and batches exactly as
it would to the API. The stand-in answers:

* the pool file's own label of the text, when the pool has a label column;
* else the label of the seed text nearest to it (TF-IDF cosine similarity).

The requests are written to ``<stem>.dry-run.prompts.jsonl`` (the first
:data:`N_PROMPTS`), and the bill the API would charge for them is the fake's
ledger at the model's real prices. Its answers are kept apart, in
``<stem>.dry-run.cache.sqlite``, so that no stand-in answer is ever replayed
as the model's.
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
    """The fake API of a dry run, answering with the stand-in."""

    def __init__(self, args, inputs):
        from ..teachers import testing

        self.teacher = args.teacher
        self.model = args.model or default_model(args.teacher)
        self.price = args.price
        self.how, self.labeler = _stand_in(args, inputs)
        fake = (testing.FakeOpenAI if args.teacher == "openai"
                else testing.FakeAnthropic)
        self.server = fake(labeler=self.labeler, api_key=API_KEY)
        self.base_url = self.api_key = None

    def __enter__(self):
        self.server.start()
        self.base_url, self.api_key = self.server.base_url, API_KEY
        return self

    def __exit__(self, *exc_info):
        self.server.stop()

    def write_prompts(self, path):
        """The first :data:`N_PROMPTS` request bodies, one JSON a line."""
        bodies = self.server.answered_bodies()
        with open(path, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(body, ensure_ascii=False) + "\n"
                           for body in bodies[:N_PROMPTS])
        return len(bodies)

    def bill(self):
        """``(usd, tokens, n_requests)``: what the API would charge for the
        fake's ledger at the model's price."""
        from .. import teachers
        from ..teachers.openai import openai_price

        if self.teacher == "openai":
            price = openai_price(self.model, {self.model: self.price}
                                 if self.price else None)
        else:
            price = teachers.model_price(self.model)
        return self.server.priced(price)


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
