"""Offline demo: M-RARU versus random sampling on the bundled banking77.

Run ``python -m skakd.demo``. An :class:`~skakd.teachers.OracleTeacher`
answering from banking77's true labels stands in for the LLM, the student is
TF-IDF + LogisticRegression, the seed holds one example per class (77), and
both samplers get the same rounds of 25 labels. The demo explains what it
runs, prints every round as it happens (labels, test accuracy, acceptance
rate), then a learning-curve table, how many teacher labels each sampler
needed to reach the target accuracy, and where it saved the learning-curve
plot. About 20 s of CPU time with the defaults.

``--teacher local`` asks a real language model instead: SmolLM2-135M-Instruct
(or ``--model`` GGUF file), served on this machine by llama.cpp's server
(:class:`~skakd.teachers.LlamaCppServer`; the ``local`` extra), labels trec's
questions for M-RARU, and the demo says what its labels cost in time and in
the student's accuracy against the true labels.
"""

import argparse
import importlib.util
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from . import ActiveDistillationClassifier
from .callbacks import Callback, Scoring
from .datasets import load_dataset
from .sampling import MRARU, RandomSampler
from .teachers import OracleTeacher

__all__ = ["add_arguments", "local_demo", "main", "run_demo"]

SAMPLERS = {"mraru": "M-RARU", "random": "random"}


def one_per_class(y, random_state):
    """Indices of one random example of every class in ``y``."""
    rng = np.random.default_rng(random_state)
    return np.array([rng.choice(np.flatnonzero(y == c)) for c in np.unique(y)])


def demo_student(random_state=0):
    """TF-IDF + LogisticRegression, refitted in a fraction of a second.

    With 77 classes the default ``lbfgs`` solver takes a second or more of
    CPU per refit; ``sag`` with ``tol=1e-3`` reaches the same test accuracy
    at every round of the demo about 20 times faster (``random_state`` fixes
    the order in which it visits the rows, so runs repeat exactly).
    """
    return make_pipeline(
        TfidfVectorizer(sublinear_tf=True),
        LogisticRegression(C=20, solver="sag", tol=1e-3, max_iter=300,
                           random_state=random_state),
    )


class RoundPrinter(Callback):
    """Print one line per round: labels, test accuracy, acceptance rate.

    Parameters
    ----------
    name : str
        The sampler's name, at the start of every line.
    rounds : int
        The rounds the fit will run at most (shown as ``round i/rounds``).
    """

    def __init__(self, name="", rounds=0):
        self.name = name
        self.rounds = rounds

    def on_fit_begin(self, clf):
        record = clf.history_[0]
        self.start_ = time.perf_counter()
        print(f"{self.name:>6} seed      {record['n_labeled']:>5} labels  "
              f"accuracy {record['accuracy']:.3f}", flush=True)

    def on_round_end(self, clf, record):
        seconds = time.perf_counter() - self.start_
        print(f"{self.name:>6} round {record['round']:>2}/{self.rounds:<2} "
              f"{record['n_labeled']:>5} labels  accuracy {record['accuracy']:.3f}  "
              f"acceptance rate {record['acceptance_rate']:>6.1%} "
              f"({record['n_new']} of {record['n_visited']} visited)  "
              f"{seconds:5.1f} s", flush=True)
        return False


def run_demo(dataset="banking77", rounds=40, batch_size=25, random_state=0,
             target=0.70, verbose=0, progress=False):
    """Distil with M-RARU and with random sampling; return both histories.

    Returns ``{"mraru": (history, seconds), "random": (history, seconds)}``;
    ``progress=True`` prints every round as it ends.
    """
    data = load_dataset(dataset)
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = one_per_class(y, random_state)
    pool = np.setdiff1d(np.arange(len(y)), seed)
    histories = {}
    for name, sampler in (("mraru", MRARU(batch_size=batch_size)),
                          ("random", RandomSampler(batch_size=batch_size))):
        callbacks = [Scoring(data.X_test, data.y_test)]
        if progress:
            callbacks.append(RoundPrinter(SAMPLERS[name], rounds))
        clf = ActiveDistillationClassifier(
            demo_student(random_state),
            teacher=OracleTeacher(X, y),
            sampler=sampler,
            max_iter=rounds,
            callbacks=callbacks,
            random_state=random_state,
            verbose=verbose,
        )
        start = time.perf_counter()
        clf.fit(X[seed], y[seed], X_pool=X[pool])
        histories[name] = (clf.history_, time.perf_counter() - start)
        if progress:
            print(flush=True)
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
    parser.add_argument("--plot", default="skakd_demo.png", metavar="PATH",
                        help="where to save the learning-curve PNG, if matplotlib "
                             "is installed (default skakd_demo.png)")
    parser.add_argument("--teacher", choices=("oracle", "local"), default="oracle",
                        help="oracle: banking77's true labels (default); local: "
                        "a small LLM served on this machine labels trec (the "
                        "local extra; about a second a label on 2 cores)")
    parser.add_argument("--model", metavar="GGUF",
                        help="--teacher local: the model file (default: the "
                        "bundled SmolLM2-135M-Instruct)")


def explain(args, n_classes, n_pool, n_test):
    """What the demo runs and what its numbers mean, before it starts."""
    budget = args.rounds * args.batch_size
    paragraphs = [
        "skakd demo: distil a teacher into a small student, asking the teacher "
        "for as few labels as possible.",
        "The teacher here is banking77's true labels (an OracleTeacher, standing "
        "in for an LLM you would pay per label); the student is TF-IDF + "
        f"LogisticRegression. The student starts from {n_classes} labelled "
        f"texts, one per intent, and gets {args.rounds} rounds of "
        f"{args.batch_size} teacher labels ({budget} in all); after each round "
        "it is refitted and its accuracy measured on "
        f"{n_test:,} held-out texts. Two samplers choose which of the "
        f"{n_pool:,} unlabelled texts the teacher labels:",
    ]
    samplers = [
        f"  random  draws {args.batch_size} texts at random: the baseline.",
        "  M-RARU  visits random texts and accepts each with a probability that "
        "grows",
        "          with the student's uncertainty about it, until it has "
        f"{args.batch_size}.",
    ]
    closing = [
        "Acceptance rate = texts accepted / texts visited in a round. M-RARU "
        "aims at about 10%: it looks at about ten texts for each one it sends "
        "to the teacher, favouring those the student is least sure of, without "
        "scoring the whole pool. Random sampling keeps every text it draws "
        "(100%).",
        "The question: how many teacher labels does each sampler need before "
        f"the student reaches {args.target:.2f} test accuracy?",
    ]
    return "\n\n".join([*(textwrap.fill(p, 76) for p in paragraphs),
                        "\n".join(samplers),
                        *(textwrap.fill(p, 76) for p in closing)]) + "\n"


def has_matplotlib():
    """Whether matplotlib is installed (the plot is optional)."""
    return importlib.util.find_spec("matplotlib") is not None


def save_plot(histories, target, path):
    """Draw both learning curves into ``path`` (a PNG); return its path."""
    from matplotlib.figure import Figure

    from .plotting import plot_learning_curve

    ax = Figure(figsize=(6.4, 4.2)).subplots()
    plot_learning_curve({SAMPLERS[name]: history
                         for name, (history, _) in histories.items()}, ax=ax)
    ax.axhline(target, color="grey", linestyle=":", label=f"target {target:.2f}")
    ax.legend()
    ax.set_title("skakd demo: banking77, TF-IDF + LogisticRegression student")
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    return path


def summarize(histories, target, budget):
    """The answer to the demo's question, in a few lines."""
    needed = {name: labels_to_reach(history, target)
              for name, (history, _) in histories.items()}
    lines = []
    for name, (history, seconds) in histories.items():
        reached = (f"{needed[name]} teacher labels" if needed[name] is not None
                   else f"not reached within {budget} labels")
        rate = np.mean([r["acceptance_rate"] for r in history[1:]])
        lines.append(f"{SAMPLERS[name]:>6}: accuracy {target:.2f} -> {reached}; "
                     f"mean acceptance rate {rate:.1%}; {seconds:.1f} s")
    mraru, random = needed["mraru"], needed["random"]
    if mraru is not None and random is not None and mraru < random:
        lines.append(f"M-RARU needed {random - mraru} fewer teacher labels than "
                     f"random ({1 - mraru / random:.0%} fewer) for the same accuracy.")
    elif mraru is not None and random is None:
        lines.append(f"M-RARU reached it; random did not within {budget} labels.")
    elif mraru is not None and mraru == random:
        lines.append("Both needed the same number of teacher labels here.")
    elif random is not None and (mraru is None or random < mraru):
        lines.append("Random sampling got there first in this run.")
    else:
        lines.append("Neither sampler reached it: try more --rounds or a lower "
                     "--target.")
    return lines


def local_demo(args, rounds=3, batch_size=10):
    """M-RARU on trec with a local LLM as the teacher, and with true labels.

    Returns ``{"local": history, "oracle": history, "seconds": s}``.
    """
    from .teachers import LlamaCppServer

    data = load_dataset("trec")
    X, y = np.asarray(data.X_train, dtype=object), data.y_train
    seed = one_per_class(y, args.random_state)
    pool = np.setdiff1d(np.arange(len(y)), seed)
    print(textwrap.fill(
        f"skakd demo --teacher local: M-RARU asks a language model served on "
        f"this machine to label {rounds} rounds of {batch_size} trec questions "
        f"(6 classes; the seed holds one per class and is shown to the model "
        "as examples), then does the same with the true labels as the "
        "teacher, to show what a small real teacher costs in time and in "
        "the student's accuracy.", 76) + "\n", flush=True)
    histories, start = {}, time.perf_counter()
    with LlamaCppServer(model_path=args.model) as server:
        print(f"model {server.model} ready in {time.perf_counter() - start:.0f} s",
              flush=True)
        local = server.teacher(cache=None, examples=list(zip(X[seed], y[seed])),
                               instructions="Classify each question by the type "
                               "of its expected answer.")
        for name, teacher in (("local", local), ("oracle", OracleTeacher(X, y))):
            started = time.perf_counter()
            clf = ActiveDistillationClassifier(
                demo_student(args.random_state), teacher=teacher,
                sampler=MRARU(batch_size=batch_size), max_iter=rounds,
                callbacks=[Scoring(data.X_test, data.y_test),
                           RoundPrinter(name, rounds)],
                random_state=args.random_state,
            ).fit(X[seed], y[seed], X_pool=X[pool])
            histories[name] = (clf, time.perf_counter() - started)
            print(flush=True)
    _report_local(histories, dict(zip(X.tolist(), y.tolist())))
    return histories


def _report_local(histories, truth):
    (local, seconds), (oracle, _) = histories["local"], histories["oracle"]
    taught = np.asarray(local.label_source_) == "teacher"
    asked = local.labeled_X_[taught]
    right = np.mean([truth[text] == label for text, label in
                     zip(asked, local.labeled_y_[taught])]) if taught.any() else 0
    print(f"local teacher: {taught.sum()} labels in {seconds:.0f} s "
          f"({seconds / max(taught.sum(), 1):.1f} s a label, student fits "
          f"included), ${local.teacher_cost_:.2f}; {right:.0%} of its labels "
          "agree with trec's true labels.")
    print(f"student's test accuracy: {local.history_[-1]['accuracy']:.3f} taught by "
          f"the local model, {oracle.history_[-1]['accuracy']:.3f} by the true "
          "labels.")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="skakd demo", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    # One example per class is the point of the demo, not a regression problem.
    warnings.filterwarnings("ignore", message="The number of unique classes")
    if args.teacher == "local":
        return local_demo(args)

    data = load_dataset("banking77")
    n_classes = len(np.unique(data.y_train))
    print(explain(args, n_classes, len(data.y_train) - n_classes,
                  len(data.y_test)), flush=True)
    histories = run_demo(rounds=args.rounds, batch_size=args.batch_size,
                         random_state=args.random_state, target=args.target,
                         progress=True)
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
    for line in summarize(histories, args.target, args.rounds * args.batch_size):
        print(line)
    if not has_matplotlib():
        print('\nNo learning-curve plot: matplotlib is not installed '
              '(pip install "skakd[plot]").')
    else:
        path = save_plot(histories, args.target, args.plot)
        print(f"\nLearning curves: {path}")
    return histories


if __name__ == "__main__":
    main()
