"""GridSearchCV over sampler settings, paying the teacher once per text.

Samplers are scikit-learn estimators: ``sampler__batch_size`` and whole
samplers go in a parameter grid. The pool is wrapped in ``skakd.Pool`` so
that cross-validation does not slice it, and the teacher in a
``CachedTeacher`` so that the folds and grid points share its answers: a
text labelled for one candidate is free for every other.

    python examples/grid_search_samplers.py
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

from skakd import ActiveDistillationClassifier, Pool
from skakd.datasets import load_dataset
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler
from skakd.teachers import CachedTeacher, CallableTeacher, OracleTeacher


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed-per-class", type=int, default=10)
    parser.add_argument("--pool-size", type=int, default=4000)
    parser.add_argument("--quick", action="store_true",
                        help="a smaller grid, for a run in seconds")
    args = parser.parse_args(argv)

    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = np.concatenate([np.flatnonzero(y == c)[:args.seed_per_class]
                           for c in data.classes])
    pool = np.setdiff1d(np.arange(len(y)), seed)[:args.pool_size]

    oracle, asked = OracleTeacher(X, y), []

    def teacher(texts, classes):  # the oracle, counting what it is asked
        asked.extend(texts)
        return oracle.label(texts, classes).labels

    cache = Path(tempfile.mkdtemp()) / "answers.sqlite"
    grid = [{"sampler": [MRARU()], "sampler__batch_size": [10, 25]},
            {"sampler": [RandomSampler(batch_size=25)]}]
    if not args.quick:
        grid[0]["sampler__temperature"] = [1.0, 2.0]
        grid.append({"sampler": [UncertaintySampler(batch_size=25)],
                     "sampler__strategy": ["least_confidence", "margin"]})
    search = GridSearchCV(
        ActiveDistillationClassifier(
            make_pipeline(TfidfVectorizer(sublinear_tf=True),
                          LogisticRegression(C=10, max_iter=1000)),
            teacher=CachedTeacher(CallableTeacher(teacher), cache,
                                  namespace="trec-oracle"),
            max_iter=args.rounds, random_state=0,
        ),
        grid,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    search.fit(X[seed], y[seed], X_pool=Pool(X[pool]))

    results = search.cv_results_
    for params, score in sorted(zip(results["params"], results["mean_test_score"]),
                                key=lambda pair: -pair[1]):
        shown = {k: v for k, v in params.items() if k != "sampler"}
        print(f"{score:.3f}  {type(params['sampler']).__name__} {shown}")
    print("best:", search.best_params_)
    print(f"test accuracy of the refitted best: "
          f"{search.score(data.X_test, data.y_test):.3f}")
    n_fits = len(results["params"]) * search.n_splits_ + 1
    print(f"{n_fits} fits asked the teacher about {len(asked)} texts "
          f"({len(set(asked))} distinct): the cache paid for each text once")
    return search, asked


if __name__ == "__main__":
    main()
