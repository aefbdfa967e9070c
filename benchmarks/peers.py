"""Selection time of one batch on pools of 10^4-10^6: ours versus the peers.

Times one query of ``--batch-size`` items from pools of growing size with the
same fitted student (LogisticRegression on MiniLM embeddings of banking77, or
on random features with ``--synthetic``): skakd's ``MRARU`` (the paper's rule
as ``skakd_mraru``, the defaults as ``skakd_mraru_default``) and exhaustive
``UncertaintySampler``, small-text's ``LeastConfidence`` and modAL's
``uncertainty_sampling``. Pools larger than the dataset are built by
resampling its embedding rows with a little Gaussian noise, so every pool row
is distinct and the student's uncertainty distribution stays realistic.

Usage::

    python -m benchmarks.peers --quick      # pools 10^4, 10^5
    python -m benchmarks.peers              # pools 10^4, 10^5, 10^6

Writes ``benchmarks/results/peers_selection.{csv,json,png}``; the per-round
wall time of the whole loops is measured by ``benchmarks.label_efficiency``.
"""

import argparse
import statistics
import time
import warnings
from functools import partial

import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression

from skakd.sampling import MRARU, UncertaintySampler

from ._common import DEFAULT_DATA, PAPER_RULE, embed, load_csv_folder
from ._report import RESULTS, command_line, machine_info, write_csv, write_json


def make_student(name):
    if name == "lda":  # overconfident: M-RARU's acceptance rate collapses
        return LinearDiscriminantAnalysis()
    return LogisticRegression(C=10, max_iter=1000)


def make_problem(n_labeled, synthetic, student="lr", random_state=0):
    """A fitted student and the rows its pools are drawn from."""
    rng = np.random.default_rng(random_state)
    if synthetic:
        X = rng.normal(size=(5000, 64)).astype(np.float32)
        y = (X[:, :8].argmax(axis=1)).astype(str)
    else:
        texts, y, _, _ = load_csv_folder(DEFAULT_DATA / "banking77")
        X = embed(texts)
    labeled = rng.choice(len(X), n_labeled, replace=False)
    student = make_student(student).fit(X[labeled], y[labeled])
    return student, X


def make_pool(X, n, random_state=0):
    rng = np.random.default_rng(random_state)
    rows = X[rng.integers(0, len(X), n)]
    rows += 0.01 * rng.standard_normal(rows.shape, dtype=np.float32)
    return rows


def selectors(student, pool, batch_size, temperatures=()):
    """name -> zero-argument function selecting one batch from ``pool``."""
    from modAL.uncertainty import uncertainty_sampling
    from small_text import LeastConfidence, SklearnClassifier, SklearnDataset

    candidates = np.arange(len(pool))
    classes = student.classes_
    wrapped = SklearnClassifier(student, num_classes=len(classes))
    wrapped.model = student  # already fitted: small-text only calls predict_proba
    dataset = SklearnDataset(pool, np.zeros(len(pool), dtype=np.int64),
                             target_labels=np.arange(len(classes)))
    labeled = np.empty(0, dtype=np.int64)

    class _ModalView:  # what uncertainty_sampling needs from a learner
        def predict_proba(self, X, **kwargs):
            return student.predict_proba(X)

    # skakd_mraru is the paper's rule (what the first committed results
    # measured), skakd_mraru_default MRARU's defaults.
    mraru, lc = MRARU(batch_size, **PAPER_RULE), UncertaintySampler(batch_size)
    default = MRARU(batch_size)
    extra = {f"skakd_mraru_t{t:g}": MRARU(batch_size, temperature=t, **PAPER_RULE)
             for t in temperatures}
    funcs = {
        "skakd_mraru": lambda seed: mraru.select(student, pool, candidates,
                                                 batch_size, seed),
        "skakd_mraru_default": lambda seed: default.select(
            student, pool, candidates, batch_size, seed),
        "skakd_lc": lambda seed: lc.select(student, pool, candidates,
                                           batch_size, seed),
        "smalltext_lc": lambda seed: LeastConfidence().query(
            wrapped, dataset, candidates, labeled, labeled, n=batch_size),
        "modal_lc": lambda seed: uncertainty_sampling(  # (indices, scores)
            _ModalView(), pool, n_instances=batch_size)[0],
    }
    for name, sampler in extra.items():
        funcs[name] = partial(sampler.select, student, pool, candidates,
                              batch_size)
    return funcs, {"skakd_mraru": mraru, "skakd_mraru_default": default, **extra}


def time_selection(args):
    student, X = make_problem(args.n_labeled, args.synthetic, args.student)
    rows = []
    for n in args.pool_sizes:
        pool = make_pool(X, n)
        funcs, mrarus = selectors(student, pool, args.batch_size, args.temperatures)
        for name, func in funcs.items():
            times, visited = [], []
            for repeat in range(args.repeats):
                start = time.perf_counter()
                chosen = func(repeat)
                times.append(time.perf_counter() - start)
                if name in mrarus:
                    visited.append(mrarus[name].last_stats_["n_visited"])
            assert len(chosen) == args.batch_size, (name, len(chosen))
            row = {"pool_size": n, "method": name, "median_seconds":
                   statistics.median(times), "min_seconds": min(times),
                   "repeats": args.repeats,
                   "n_visited": statistics.median(visited) if visited else n}
            rows.append(row)
            print(f"pool {n:>8}: {name:>16} {row['median_seconds']:.4f} s "
                  f"(visited {row['n_visited']})", flush=True)
        del pool
    return rows


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ax.loglog([r["pool_size"] for r in mine],
                  [r["median_seconds"] for r in mine], "o-", label=method)
    ax.set(xlabel="pool size", ylabel="seconds per batch selection (median)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="pools 10^4 and 10^5")
    parser.add_argument("--pool-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--n-labeled", type=int, default=500,
                        help="rows the student was trained on")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--student", choices=["lr", "lda"], default="lr")
    parser.add_argument("--temperatures", type=float, nargs="*", default=[],
                        help="also time MRARU at these temperatures")
    parser.add_argument("--synthetic", action="store_true",
                        help="random 64-d features instead of banking77 MiniLM")
    parser.add_argument("--out", default=str(RESULTS / "peers_selection"))
    args = parser.parse_args(argv)
    if args.pool_sizes is None:
        args.pool_sizes = [10**4, 10**5] if args.quick else [10**4, 10**5, 10**6]
    warnings.filterwarnings("ignore", category=UserWarning, module="small_text")
    rows = time_selection(args)
    write_csv(f"{args.out}.csv", rows)
    write_json(f"{args.out}.json", {
        "command": command_line("peers", argv),
        "machine": machine_info(), "args": vars(args), "rows": rows})
    plot(rows, f"{args.out}.png")
    return rows


if __name__ == "__main__":
    main()
