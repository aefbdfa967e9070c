"""Active-learning loops of the peer libraries small-text and modAL.

Each runner takes the same inputs as our loop (student, seed rows, pool rows,
teacher, rounds, batch size, seed) and returns one record per round with the
same keys as ``ActiveDistillationClassifier.history_`` uses in the benchmark:
``n_labeled``, ``select_seconds``, ``fit_seconds``, ``seconds`` and the test
``accuracy`` / ``balanced_accuracy`` (scored outside the timed part, as our
``Scoring`` callback is).

modAL 0.4.2.1 calls ``check_X_y(..., force_all_finite=...)``, a keyword
scikit-learn 1.8 removed, so ``ActiveLearner.teach`` raises ``TypeError`` on
our scikit-learn; :class:`_ModalLearner` overrides only that method with the
same logic and the new keyword ``ensure_all_finite``.
"""

import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import accuracy_score, balanced_accuracy_score

__all__ = ["FitTimer", "PEERS", "run_peer"]


class FitTimer(ClassifierMixin, BaseEstimator):
    """Wrap a student and add up the seconds spent in its ``fit``.

    Every loop (ours and the peers') trains the same wrapped student, so the
    time a loop spends outside student fits (its overhead) is measured the
    same way for all of them.
    """

    def __init__(self, estimator):
        self.estimator = estimator

    def fit(self, X, y, sample_weight=None):
        # small-text passes sample_weight=None; forward real weights only.
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        start = time.perf_counter()
        self.estimator_ = clone(self.estimator).fit(X, y, **kwargs)
        self.classes_ = self.estimator_.classes_
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def predict(self, X):
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)


def _score(model, X_test, y_test, classes=None):
    pred = model.predict(X_test)
    if classes is not None:  # small-text's students predict label indices
        pred = classes[pred]
    return {"accuracy": float(accuracy_score(y_test, pred)),
            "balanced_accuracy": float(balanced_accuracy_score(y_test, pred))}


def _ask(teacher, X_pool, chosen, classes):
    return np.asarray(teacher.label(X_pool[chosen], classes).labels)


def run_smalltext(strategy, student, X_seed, y_seed, X_pool, teacher, classes,
                  X_test, y_test, rounds, batch_size, random_state):
    """small-text's ``PoolBasedActiveLearner`` with ``LeastConfidence`` or
    ``RandomSampling`` on the seed + pool rows."""
    from small_text import (
        LeastConfidence,
        PoolBasedActiveLearner,
        RandomSampling,
        SklearnClassifierFactory,
        SklearnDataset,
    )

    classes = np.asarray(classes)
    X_all = np.vstack([X_seed, X_pool])
    n_seed = len(X_seed)
    # small-text wants integer labels of every row; pool rows get a
    # placeholder that is never read before the teacher's answer replaces it.
    y_all = np.zeros(len(X_all), dtype=np.int64)
    y_all[:n_seed] = np.searchsorted(classes, y_seed)
    dataset = SklearnDataset(X_all, y_all, target_labels=np.arange(len(classes)))
    factory = SklearnClassifierFactory(student, num_classes=len(classes))
    query = {"least_confidence": LeastConfidence, "random": RandomSampling}
    learner = PoolBasedActiveLearner(factory, query[strategy](), dataset)
    np.random.seed(random_state)  # RandomSampling draws from numpy's global RNG
    start = time.perf_counter()
    learner.initialize_data(np.arange(n_seed), y_all[:n_seed])
    model = learner.classifier.model
    records = [{"n_labeled": n_seed, "select_seconds": 0.0,
                "fit_seconds": model.fit_seconds_,
                "seconds": time.perf_counter() - start,
                **_score(model, X_test, y_test, classes)}]
    for _ in range(rounds):
        start = time.perf_counter()
        chosen = learner.query(num_samples=batch_size)
        select_seconds = time.perf_counter() - start
        labels = _ask(teacher, X_all, chosen, classes)
        learner.update(np.searchsorted(classes, labels))
        seconds = time.perf_counter() - start
        model = learner.classifier.model
        records.append({"n_labeled": len(learner.indices_labeled),
                        "select_seconds": select_seconds,
                        "fit_seconds": model.fit_seconds_, "seconds": seconds,
                        **_score(model, X_test, y_test, classes)})
    return records


def _modal_learner_class():
    from modAL.models import ActiveLearner
    from modAL.utils.data import data_vstack
    from sklearn.utils import check_X_y

    class _ModalLearner(ActiveLearner):
        def _add_training_data(self, X, y):
            check_X_y(X, y, accept_sparse=True, ensure_2d=False, allow_nd=True,
                      multi_output=True, dtype=None,
                      ensure_all_finite=self.force_all_finite)
            self.X_training = data_vstack((self.X_training, X))
            self.y_training = data_vstack((self.y_training, y))

    return _ModalLearner


def _modal_random(classifier, X, n_instances=1, random_state=None):
    """A random query strategy (modAL ships none), in modAL's signature:
    returns the indices and their query metrics, as modAL's own strategies."""
    rng = np.random.default_rng(random_state)
    chosen = rng.choice(len(X), size=min(n_instances, len(X)), replace=False)
    return chosen, np.zeros(len(chosen))


def run_modal(strategy, student, X_seed, y_seed, X_pool, teacher, classes,
              X_test, y_test, rounds, batch_size, random_state):
    """modAL's ``ActiveLearner`` with ``uncertainty_sampling`` (least
    confidence) or a random strategy, deleting queried rows from the pool as
    modAL's documentation does."""
    from modAL.uncertainty import uncertainty_sampling

    rng = np.random.default_rng(random_state)
    start = time.perf_counter()
    learner = _modal_learner_class()(
        estimator=student, X_training=X_seed, y_training=np.asarray(y_seed),
        query_strategy=(uncertainty_sampling if strategy == "least_confidence"
                        else _modal_random),
    )
    records = [{"n_labeled": len(X_seed), "select_seconds": 0.0,
                "fit_seconds": learner.estimator.fit_seconds_,
                "seconds": time.perf_counter() - start,
                **_score(learner.estimator, X_test, y_test)}]
    pool = X_pool
    for _ in range(rounds):
        start = time.perf_counter()
        kwargs = {} if strategy == "least_confidence" else {
            "random_state": rng.integers(2**31)}
        chosen, rows = learner.query(pool, n_instances=batch_size, **kwargs)
        select_seconds = time.perf_counter() - start
        labels = _ask(teacher, pool, chosen, classes)
        learner.teach(rows, labels)
        pool = np.delete(pool, chosen, axis=0)
        seconds = time.perf_counter() - start
        records.append({"n_labeled": len(learner.y_training),
                        "select_seconds": select_seconds,
                        "fit_seconds": learner.estimator.fit_seconds_,
                        "seconds": seconds,
                        **_score(learner.estimator, X_test, y_test)})
    return records


PEERS = {
    "smalltext_random": (run_smalltext, "random"),
    "smalltext_lc": (run_smalltext, "least_confidence"),
    "modal_random": (run_modal, "random"),
    "modal_lc": (run_modal, "least_confidence"),
}


def run_peer(name, student, *args, **kwargs):
    """Run peer loop ``name`` (a key of :data:`PEERS`) on ``FitTimer(student)``."""
    runner, strategy = PEERS[name]
    return runner(strategy, FitTimer(student), *args, **kwargs)
