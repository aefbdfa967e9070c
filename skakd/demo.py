"""Offline demo: M-RARU versus random sampling on the bundled banking77.

Run ``python -m skakd.demo``. An :class:`~skakd.teachers.OracleTeacher`
answering from banking77's true labels stands in for the LLM, the student is
TF-IDF + LogisticRegression, the seed holds one example per class (77), and
both samplers get the same rounds of 25 labels. The demo prints a learning
curve table and how many teacher labels each sampler needed to reach the
target accuracy.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from . import ActiveDistillationClassifier
from .callbacks import Scoring
from .datasets import load_dataset
from .sampling import MRARU, RandomSampler
from .teachers import OracleTeacher

__all__ = ["add_arguments", "main", "run_demo"]


def one_per_class(y, random_state):
    """Indices of one random example of every class in ``y``."""
    rng = np.random.default_rng(random_state)
    return np.array([rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)])


def run_demo(dataset="banking77", rounds=40, batch_size=25, random_state=0,
             target=0.70, verbose=0):
    """Distil with M-RARU and with random sampling; return both histories."""
    data = load_dataset(dataset)
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = one_per_class(y, random_state)
    pool = np.setdiff1d(np.arange(len(y)), seed)
    histories = {}
    for name, sampler in (("mraru", MRARU(batch_size=batch_size)),
                          ("random", RandomSampler(batch_size=batch_size))):
        clf = ActiveDistillationClassifier(
            make_pipeline(TfidfVectorizer(sublinear_tf=True),
                          LogisticRegression(C=20, max_iter=300)),
            teacher=OracleTeacher(X, y),
            sampler=sampler,
            max_iter=rounds,
            callbacks=[Scoring(data.X_test, data.y_test)],
            random_state=random_state,
            verbose=verbose,
        )
        start = time.perf_counter()
        clf.fit(X[seed], y[seed], X_pool=X[pool])
        histories[name] = (clf.history_, time.perf_counter() - start)
    return histories


def labels_to_reach(history, target):
    """Teacher labels (seed excluded) at the first round reaching ``target``."""
    seed = history[0]["n_labeled"]
    for record in history:
        if record["accuracy"] >= target:
            return record["n_labeled"] - seed
    return None


def _integer(minimum, maximum=None):
    expected = (f"an integer >= {minimum}" if maximum is None
                else f"an integer from {minimum} to {maximum}")

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def _accuracy(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"expected an accuracy in (0, 1], got {text!r}")
    return value


def add_arguments(parser):
    """The demo's options, each checked (``skakd demo`` uses them too)."""
    parser.add_argument("--rounds", type=_integer(1), default=40, metavar="N",
                        help="rounds of labelling per sampler (default 40)")
    parser.add_argument("--batch-size", type=_integer(1), default=25, metavar="N",
                        help="teacher labels per round (default 25)")
    parser.add_argument("--target", type=_accuracy, default=0.70, metavar="ACC",
                        help="test accuracy to reach (default 0.70)")
    parser.add_argument("--random-state", type=_integer(0, 2**32 - 1), default=0,
                        metavar="SEED", help="seed of every random choice (default 0)")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="skakd demo", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    # One example per class is the point of the demo, not a regression problem.
    warnings.filterwarnings("ignore", message="The number of unique classes")

    print("skakd demo: banking77 (77 classes), TF-IDF + LogisticRegression "
          "student, OracleTeacher standing in for the LLM, "
          f"{args.rounds} rounds of {args.batch_size} labels.\n")
    histories = run_demo(rounds=args.rounds, batch_size=args.batch_size,
                         random_state=args.random_state, target=args.target)
    mraru, random = histories["mraru"][0], histories["random"][0]
    print(f"{'teacher labels':>14} | {'M-RARU acc':>10} | {'random acc':>10}")
    print("-" * 41)
    step = max(1, len(mraru) // 10)
    rows = list(zip(mraru, random))
    shown = rows[::step] + ([rows[-1]] if (len(rows) - 1) % step else [])
    for a, b in shown:
        labels = a["n_labeled"] - mraru[0]["n_labeled"]
        print(f"{labels:>14} | {a['accuracy']:>10.3f} | {b['accuracy']:>10.3f}")
    print()
    for name, (history, seconds) in histories.items():
        needed = labels_to_reach(history, args.target)
        reached = (f"{needed} teacher labels" if needed is not None
                   else f"not reached within {args.rounds * args.batch_size}")
        rate = np.mean([r["acceptance_rate"] for r in history[1:]])
        print(f"{name:>6}: accuracy {args.target:.2f} -> {reached}; "
              f"mean acceptance rate {rate:.1%}; {seconds:.1f} s")
    return histories


if __name__ == "__main__":
    main()
