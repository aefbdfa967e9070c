"""Use Claude as the teacher: estimate the cost, distil, keep every answer.

Needs ``pip install "skakd[llm]"``. The script prices the run before
spending anything, then distils a TREC question classifier with M-RARU under
a money budget. Every answer is cached in ``--cache``: run the script again
(or after a crash) and the rounds already paid for are replayed for free.

    export ANTHROPIC_API_KEY=sk-ant-...
    python examples/claude_teacher.py --budget-usd 0.50

Without ``ANTHROPIC_API_KEY`` (and without ``--base-url``) nothing is sent
anywhere: the script starts :class:`skakd.teachers.testing.FakeAnthropic`, a
local fake of the Messages API that answers with TREC's own labels, and
caches its answers apart (``*.fake.sqlite``), so that a later run with a key
never replays them as Claude's. The costs printed are what the API would bill
for the same tokens. ``--base-url`` points the SDK at any other endpoint.
"""

import argparse
import contextlib
import os
from pathlib import Path

import joblib
import numpy as np

from skakd import ActiveDistillationClassifier
from skakd.datasets import load_dataset
from skakd.sampling import MRARU
from skakd.teachers import AnthropicTeacher
from skakd.teachers.testing import FakeAnthropic

DESCRIPTIONS = {
    "ABBR": "asks what an abbreviation stands for, or for an abbreviation",
    "DESC": "asks for a description, definition, manner or reason",
    "ENTY": "asks for an entity: an object, animal, colour, product, ...",
    "HUM": "asks for a person or a group of people",
    "LOC": "asks for a place",
    "NUM": "asks for a number, date, distance, price, ...",
}


def start_fake_api(X, y, stack):
    """A local fake of the Messages API answering with the labels ``y`` of ``X``."""
    truth = dict(zip(X, y))
    server = stack.enter_context(FakeAnthropic(
        labeler=lambda text, classes: truth.get(text, classes[0])))
    return server.base_url, "test-key"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="claude-haiku-4-5")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--budget-usd", type=float, default=0.50)
    parser.add_argument("--pool-size", type=int, default=3000)
    parser.add_argument("--cache", default="claude_answers.sqlite")
    parser.add_argument("--out", default="trec_claude.joblib")
    parser.add_argument("--base-url", default=None)
    args = parser.parse_args(argv)

    data = load_dataset("trec")
    X = np.asarray(data.X_train, dtype=object)
    seed = np.concatenate([np.flatnonzero(data.y_train == c)[:3]
                           for c in data.classes])
    pool = np.setdiff1d(np.arange(len(X)), seed)[:args.pool_size]

    with contextlib.ExitStack() as stack:
        base_url, api_key, cache = args.base_url, None, args.cache
        if base_url is None and not os.environ.get("ANTHROPIC_API_KEY"):
            base_url, api_key = start_fake_api(X, data.y_train, stack)
            cache = str(Path(args.cache).with_suffix(".fake.sqlite"))
            print("No ANTHROPIC_API_KEY: running offline against a local fake of "
                  "the Messages API that answers with TREC's labels "
                  f"(answers cached in {cache}).")
        claude = AnthropicTeacher(
            model=args.model,
            instructions="Classify each question by the type of answer it expects.",
            class_descriptions=DESCRIPTIONS,
            cache=cache,
            base_url=base_url,
            api_key=api_key,
        )
        return distil(claude, args, data, X, seed, pool)


def distil(claude, args, data, X, seed, pool):
    """Price the run, distil under the budget, report and save the student."""
    n_labels = args.rounds * args.batch_size
    estimate = claude.estimate_cost(list(X[pool[:n_labels]]), data.classes)
    print(f"{n_labels} labels from {args.model}: about ${estimate:.4f}")

    clf = ActiveDistillationClassifier(
        teacher=claude,
        sampler=MRARU(batch_size=args.batch_size),
        max_iter=args.rounds,
        max_cost=args.budget_usd,
        classes=data.classes,
        random_state=0,
    )
    clf.fit(X[seed], data.y_train[seed], X_pool=X[pool])
    for record in clf.history_[1:]:
        print(f"round {record['round']:>2}: {record['n_labeled']} labelled, "
              f"${record['teacher_cost_total']:.4f} so far, "
              f"{record['n_cached']} answers from the cache")
    taught = clf.label_source_ == "teacher"
    truth = data.y_train[pool[clf.labeled_pool_index_[taught]]]
    agreement = np.mean(clf.labeled_y_[taught] == truth)
    print(f"stopped: {clf.termination_condition_}; the teacher agreed with the TREC "
          f"labels on {agreement:.0%} of the labelled questions")
    print(f"student accuracy on the TREC test set: "
          f"{clf.score(data.X_test, data.y_test):.3f}")
    joblib.dump(clf, args.out)
    print(f"wrote {args.out}")
    return clf


if __name__ == "__main__":
    main()
