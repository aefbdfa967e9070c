"""``skakd distill --teacher anthropic|openai --dry-run``: the whole run, no key.

A fake of the teacher's API (:class:`~skakd.teachers.testing.FakeAnthropic`
or :class:`~skakd.teachers.testing.FakeOpenAI`) is started on 127.0.0.1 and
the teacher is pointed at it (``base_url`` and a placeholder key), so every
request goes through the real client, cache, retries and batches exactly as
it would to the API; in a cascade, each paid stage has its own fake (and
its own bill), the other stages run as they are. The stand-in answers:

* the pool file's own label of the text, when the pool has a label column;
* else the label of the seed text nearest to it (TF-IDF cosine similarity).

The requests are written to ``<stem>.dry-run.prompts.jsonl`` (the first
:data:`N_PROMPTS` of each fake), and the bill the API would charge for them
is the fake's ledger at the model's real prices. Its answers are kept apart, in
``<stem>.dry-run.cache.sqlite``, so that no stand-in answer is ever replayed
as the model's.
"""

import json
from pathlib import Path

import numpy as np

from ._cascade import plan_stages
from ._io import InputError, read_table
from ._options import PAID_TEACHERS, default_model

__all__ = ["DryRun", "N_PROMPTS", "cache_path"]

N_PROMPTS = 20
API_KEY = "dry-run-placeholder-key"


def cache_path(cache):
    """The dry run's cache, next to (never the same as) the real one."""
    cache = Path(cache)
    stem = cache.name.removesuffix(".sqlite").removesuffix(".cache")
    return cache.with_name(f"{stem}.dry-run.cache.sqlite")


class DryRun:
    """The fakes of a dry run, one per paid stage, answering with the stand-in.

    ``servers`` maps each paid stage's index to its fake; ``stages`` are
    those stages.
    """

    def __init__(self, args, inputs):
        from ..teachers import testing

        self.how, self.labeler = _stand_in(args, inputs)
        self.stages, self.servers = {}, {}
        for i, stage in enumerate(plan_stages(args)):
            if stage.kind not in PAID_TEACHERS:
                continue
            fake = (testing.FakeOpenAI if stage.kind == "openai"
                    else testing.FakeAnthropic)
            self.stages[i] = stage
            self.servers[i] = fake(labeler=self.labeler, api_key=API_KEY)

    def __enter__(self):
        for server in self.servers.values():
            server.start()
        return self

    def __exit__(self, *exc_info):
        for server in self.servers.values():
            server.stop()

    def who(self, i):
        """How the report names stage ``i``'s model."""
        stage = self.stages[i]
        return ("Claude" if stage.kind == "anthropic" and len(self.stages) == 1
                else stage.model or default_model(stage.kind))

    def write_prompts(self, path):
        """The first :data:`N_PROMPTS` request bodies of each fake, one JSON
        a line; returns how many were sent."""
        n_sent = 0
        with open(path, "w", encoding="utf-8") as out:
            for server in self.servers.values():
                bodies = server.answered_bodies()
                n_sent += len(bodies)
                out.writelines(json.dumps(body, ensure_ascii=False) + "\n"
                               for body in bodies[:N_PROMPTS])
        return n_sent

    def bills(self):
        """``{stage: (usd, tokens, n_requests)}``: what each API would charge
        for its fake's ledger at the model's price."""
        from .. import teachers
        from ..teachers.openai import openai_price

        found = {}
        for i, stage in self.stages.items():
            model = stage.model or default_model(stage.kind)
            if stage.kind == "openai":
                price = openai_price(model, {model: stage.price}
                                     if stage.price else None)
            else:
                price = teachers.model_price(model)
            found[i] = self.servers[i].priced(price)
        return found


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
