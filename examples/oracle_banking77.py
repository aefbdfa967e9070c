"""Distil with an oracle on banking77: M-RARU against random sampling.

The bundled banking77 data set has 77 intents of online-banking questions.
An OracleTeacher answering from the true labels stands in for the LLM, the
seed holds one labelled example per intent, and both samplers buy the same
number of labels per round. The script prints the learning curves and saves
them as a plot.

    python examples/oracle_banking77.py --rounds 30 --out banking77.png
"""

import argparse
import warnings

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Scoring
from skakd.datasets import load_dataset
from skakd.demo import one_per_class
from skakd.sampling import MRARU, RandomSampler
from skakd.teachers import OracleTeacher


def distil(sampler, data, rounds, test_size, pool_size, random_state):
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = one_per_class(y, random_state)
    rng = np.random.default_rng(random_state)
    pool = rng.permutation(np.setdiff1d(np.arange(len(y)), seed))[:pool_size]
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(sublinear_tf=True),
                      LogisticRegression(C=20, max_iter=300)),
        teacher=OracleTeacher(X, y),
        sampler=sampler,
        max_iter=rounds,
        callbacks=[Scoring(data.X_test[:test_size], data.y_test[:test_size])],
        random_state=random_state,
    )
    return clf.fit(X[seed], y[seed], X_pool=X[pool])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--test-size", type=int, default=3080,
                        help="test texts to score each round (default: all)")
    parser.add_argument("--pool-size", type=int, default=None,
                        help="unlabelled texts to draw from (default: all)")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--out", default="banking77_learning_curve.png")
    args = parser.parse_args(argv)
    # One example per intent is the point here, not a mistake.
    warnings.filterwarnings("ignore", message="The number of unique classes")

    data = load_dataset("banking77")
    runs = {
        name: distil(sampler, data, args.rounds, args.test_size, args.pool_size,
                     args.random_state)
        for name, sampler in (("M-RARU", MRARU(batch_size=args.batch_size)),
                              ("random", RandomSampler(batch_size=args.batch_size)))
    }
    print(f"{'labels':>6} | {'M-RARU':>7} | {'random':>7}")
    for a, b in zip(runs["M-RARU"].history_, runs["random"].history_):
        print(f"{a['n_labeled']:>6} | {a['accuracy']:>7.3f} | {b['accuracy']:>7.3f}")

    from matplotlib.figure import Figure

    from skakd.plotting import plot_acceptance_rate, plot_learning_curve

    figure = Figure(figsize=(10, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    plot_learning_curve(runs, ax=left)
    plot_acceptance_rate({"M-RARU": runs["M-RARU"]}, ax=right)
    figure.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")
    return runs


if __name__ == "__main__":
    main()
