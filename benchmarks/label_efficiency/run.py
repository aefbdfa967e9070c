"""Running the grid: students, samplers and one learning curve per run."""

import json
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from skakd import ActiveDistillationClassifier
from skakd.callbacks import Scoring
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler
from skakd.teachers import OracleTeacher

from .._common import PAPER_RULE, embed, embed_static, load_csv_folder, one_per_class
from .._peers import PEERS, FitTimer, run_peer
from .._report import append_run, machine_info, write_json
from .aggregate import read_runs, summarize_run

__all__ = [
    "DEFAULT_MRARU",
    "SAMPLERS",
    "STUDENTS",
    "load",
    "make_sampler",
    "quiet_expected_warnings",
    "run_grid",
    "run_key",
    "run_one",
    "sampler_specs",
]


class _ShuffledThirds:
    """3-fold shuffled KFold without the ``n_splits`` attribute.

    CalibratedClassifierCV refuses a splitter with ``n_splits`` when a class
    has fewer examples than folds, which a seed of one example per class
    always has; without the attribute it calibrates on the folds, mapping
    classes a fold's model never saw, as it does for any splitter.
    """

    def __init__(self, random_state):
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        return KFold(3, shuffle=True, random_state=self.random_state).split(X)

    def get_n_splits(self, X=None, y=None, groups=None):
        return 3


STUDENTS = {
    # name: (features, factory(random_state) -> unfitted student)
    "lr": ("minilm", lambda rs: LogisticRegression(C=10, max_iter=1000)),
    "svc": ("minilm", lambda rs: CalibratedClassifierCV(
        LinearSVC(C=1.0), cv=_ShuffledThirds(rs))),
    "lda": ("minilm", lambda rs: LinearDiscriminantAnalysis()),
    "rf": ("minilm", lambda rs: RandomForestClassifier(
        n_estimators=100, n_jobs=1, random_state=rs)),
    # Without l2_regularization the Newton steps of 77 one-vs-rest trees
    # diverge once a class has dozens of rows (banking77: raw scores in the
    # thousands, 0.25 test accuracy from the whole training split).
    "hgb": ("minilm", lambda rs: HistGradientBoostingClassifier(
        max_iter=30, l2_regularization=1.0, early_stopping=False,
        random_state=rs)),
    # Model2Vec vectors distilled from the same MiniLM (skakd.text.StaticEmbedder).
    "static_lr": ("static", lambda rs: LogisticRegression(C=10, max_iter=1000)),
    "tfidf_lr": ("text", lambda rs: make_pipeline(
        TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=20, max_iter=1000))),
}
# LDA needs more samples than classes: its seed gets one random extra example.
EXTRA_SEED = {"lda": 1}
# The name the results give MRARU's defaults (margin uncertainty, exponent
# fitted for 10% acceptance); its preset spells them out, so the name stays
# true if the library's defaults change.
DEFAULT_MRARU = "mraru_margin_a0.1"
SAMPLERS = {  # preset name -> factory(batch_size); --param sets the rest
    "random": lambda b: RandomSampler(batch_size=b),
    "mraru": lambda b: MRARU(batch_size=b, **PAPER_RULE),
    "lc": lambda b: UncertaintySampler(batch_size=b, strategy="least_confidence"),
    "margin": lambda b: UncertaintySampler(batch_size=b, strategy="margin"),
    "entropy": lambda b: UncertaintySampler(batch_size=b, strategy="entropy"),
    DEFAULT_MRARU: lambda b: MRARU(batch_size=b, strategy="margin",
                                   target_acceptance=0.1),
}


def make_sampler(name, batch_size, params=None):
    """The sampler of preset ``name`` with ``params`` set by ``set_params``."""
    return SAMPLERS[name](batch_size).set_params(**(params or {}))


def sampler_label(name, params):
    """The name of the runs of preset ``name`` with ``params`` in the results."""
    if not params:
        return name
    settings = ", ".join(f"{key}={value!r}" for key, value in sorted(params.items()))
    return f"{name}({settings})"


def sampler_specs(names, params):
    """``{label: (preset, params)}`` of the samplers of a grid.

    ``params`` (from ``--param``) go to every sampler of ``names``; a key
    that one of them lacks, a peer loop (they take no parameters) or
    ``batch_size`` (``--batch-size`` sets it for all) raise ValueError.
    """
    if "batch_size" in params:
        raise ValueError("--param batch_size: set the batch of every sampler "
                         "with --batch-size instead.")
    specs = {}
    for name in names:
        if params and name in PEERS:
            raise ValueError(
                f"--param {', '.join(params)}: the peer loop {name!r} takes no "
                "parameters; run the peers in a command without --param.")
        if name not in PEERS:
            sampler = SAMPLERS[name](1)
            unknown = [key for key in params if key not in sampler.get_params()]
            if unknown:
                raise ValueError(
                    f"--param {unknown[0]}: sampler {name!r} "
                    f"({type(sampler).__name__}) has no parameter {unknown[0]!r}; "
                    f"its parameters are {sorted(sampler.get_params())}.")
        specs[sampler_label(name, params)] = (name, params)
    return specs


def load(data_dir, max_train=None, max_test=None, features=("minilm",)):
    """A dataset as a dict of arrays: texts, embeddings, labels."""
    texts, y, texts_test, y_test = load_csv_folder(data_dir)
    rng = np.random.default_rng(0)
    keep = _subsample(y, max_train, rng)
    keep_test = _subsample(y_test, max_test, rng)
    data = {"name": Path(data_dir).name, "y": y[keep], "y_test": y_test[keep_test],
            "text": np.asarray(texts, dtype=object)[keep],
            "text_test": np.asarray(texts_test, dtype=object)[keep_test]}
    if "minilm" in features:  # whole splits: one embedding cache per dataset
        data["minilm"] = embed(texts)[keep]
        data["minilm_test"] = embed(texts_test)[keep_test]
    if "static" in features:
        data["static"] = embed_static(texts)[keep]
        data["static_test"] = embed_static(texts_test)[keep_test]
    return data


def _subsample(y, limit, rng):
    if limit is None or limit >= len(y):
        return np.arange(len(y))
    # Keep every class present: one per class first, then uniform.
    first = one_per_class(y, rng.integers(2**31))
    rest = np.setdiff1d(np.arange(len(y)), first)
    extra = rng.choice(rest, max(0, limit - len(first)), replace=False)
    return np.sort(np.concatenate([first, extra]))


def full_accuracy(data, student):
    """Test accuracy of ``student`` trained on the whole training split."""
    features, factory = STUDENTS[student]
    model = factory(0).fit(data[features], data["y"])
    predicted = model.predict(data[features + "_test"])
    return float(accuracy_score(data["y_test"], predicted))


def run_one(data, student, sampler, seed, noise, rounds, batch_size, params=None):
    """One learning curve: a list of per-round records.

    ``sampler`` is a preset of :data:`SAMPLERS` (``params`` set on it) or a
    peer loop of ``PEERS``.
    """
    features, factory = STUDENTS[student]
    X, y = data[features], data["y"]
    X_test, y_test = data[features + "_test"], data["y_test"]
    seed_idx = one_per_class(y, seed)
    if student in EXTRA_SEED:
        rest = np.setdiff1d(np.arange(len(y)), seed_idx)
        extra = np.random.default_rng(seed).choice(rest, EXTRA_SEED[student],
                                                   replace=False)
        seed_idx = np.concatenate([seed_idx, extra])
    pool_idx = np.setdiff1d(np.arange(len(y)), seed_idx)
    teacher = OracleTeacher(X, y, noise_rate=noise, random_state=seed)
    classes = np.unique(y)
    if sampler in PEERS:
        return run_peer(sampler, factory(seed), X[seed_idx], y[seed_idx],
                        X[pool_idx], teacher, classes, X_test, y_test,
                        rounds=rounds, batch_size=batch_size, random_state=seed)
    clf = ActiveDistillationClassifier(
        FitTimer(factory(seed)), teacher=teacher,
        sampler=make_sampler(sampler, batch_size, params), max_iter=rounds,
        classes=classes,
        callbacks=[Scoring(X_test, y_test),
                   Scoring(X_test, y_test, scoring="balanced_accuracy")],
        random_state=seed,
    ).fit(X[seed_idx], y[seed_idx], X_pool=X[pool_idx])
    keys = ("n_labeled", "accuracy", "balanced_accuracy", "acceptance_rate",
            "n_visited", "select_seconds", "fit_seconds", "seconds")
    return [{k: record.get(k, 0.0) for k in keys} for record in clf.history_]


def run_grid(args):
    """Run every missing (dataset, student, sampler, seed, noise) combination.

    ``args.samplers`` is :func:`sampler_specs`'s mapping.
    """
    runs_path = Path(f"{args.out}_runs.jsonl")
    done = {run_key(run) for run in read_runs(runs_path)}
    runs_path.parent.mkdir(parents=True, exist_ok=True)
    for data_dir in args.data:
        features = {STUDENTS[s][0] for s in args.students}
        data = load(data_dir, args.max_train, args.max_test, features)
        pending = [spec for spec in _grid(args, data) if run_key(spec) not in done]
        full = {student: _cached_full_accuracy(args.out, data, student)
                for student in dict.fromkeys(s["student"] for s in pending)}
        for spec in _execute_all(pending, data, args.samplers, args.jobs,
                                 args.blas_threads):
            acc = full[spec["student"]]
            spec.update(full_accuracy=acc, **summarize_run(spec["curve"], acc))
            append_run(runs_path, spec)
            print(f"  {spec['student']:>8} {spec['sampler']:>16} "
                  f"noise={spec['noise']} seed={spec['seed']}: "
                  f"acc {spec['final_accuracy']:.3f}, to90 "
                  f"{spec['labels_to_90']}, {spec['wall_seconds']:.1f} s",
                  flush=True)


def _grid(args, data):
    """The runs of the grid on one dataset, all samplers of a seed together."""
    for student in args.students:
        for noise in args.noise:
            for seed in range(args.seeds):
                for label, (sampler, _) in args.samplers.items():
                    if sampler in PEERS and STUDENTS[student][0] == "text":
                        continue  # the peers' datasets hold numeric rows
                    yield {"dataset": data["name"], "student": student,
                           "sampler": label, "seed": seed, "noise": noise,
                           "rounds": args.rounds, "batch_size": args.batch_size,
                           "n_train": len(data["y"]), "n_test": len(data["y_test"])}


def _execute(spec, data, samplers):
    start = time.perf_counter()
    sampler, params = samplers[spec["sampler"]]
    curve = run_one(data, spec["student"], sampler, spec["seed"], spec["noise"],
                    spec["rounds"], spec["batch_size"], params)
    return {**spec, "curve": curve, "wall_seconds": time.perf_counter() - start,
            "machine": machine_info()}


def _execute_all(specs, data, samplers, jobs, blas_threads):
    """Yield each spec with its curve, in order or as worker processes finish."""
    if jobs == 1:
        for spec in specs:
            yield _execute(spec, data, samplers)
        return
    # Runs are independent and single-threaded (BLAS capped), so on a machine
    # with many cores a pool of processes runs the grid that many times faster.
    with ProcessPoolExecutor(jobs, initializer=_init_worker,
                             initargs=(data, samplers, blas_threads)) as pool:
        futures = [pool.submit(_execute_in_worker, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()


_WORKER = {}


def _init_worker(data, samplers, blas_threads):
    _WORKER.update(data=data, samplers=samplers)
    threadpool_limits(blas_threads or None)
    quiet_expected_warnings()


def _execute_in_worker(spec):
    return _execute(spec, _WORKER["data"], _WORKER["samplers"])


def _cached_full_accuracy(out, data, student):
    # A full-data fit of a 77-class student takes minutes on a busy machine;
    # it depends only on the data and the student, so it is computed once.
    path = Path(f"{out}_full_accuracy.json")
    cache = json.loads(path.read_text()) if path.is_file() else {}
    key = f"{data['name']}|{student}|{len(data['y'])}|{len(data['y_test'])}"
    if key not in cache:
        start = time.perf_counter()
        cache[key] = full_accuracy(data, student)
        print(f"{data['name']}/{student}: full-data accuracy {cache[key]:.4f} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
        if path.is_file():  # another process may have added keys meanwhile
            cache = {**json.loads(path.read_text()), key: cache[key]}
        write_json(path, cache)
    return cache[key]


def run_key(spec):
    """What makes a run: finished runs with the same key are not run again."""
    return tuple(spec[k] for k in ("dataset", "student", "sampler", "seed", "noise",
                                   "rounds", "batch_size", "n_train", "n_test"))


def quiet_expected_warnings():
    # One example per class is the benchmark's starting point by design.
    warnings.filterwarnings("ignore", message="The number of unique classes")
    warnings.filterwarnings("ignore", message="The least populated class")
    warnings.filterwarnings("ignore", message="Variables are collinear")
