"""The data of a run: the seed, pool, validation and classes files, read
and checked."""

import codecs
from dataclasses import dataclass

import numpy as np

from ._classes import read_classes
from ._io import InputError, iter_chunks, read_table
from ._options import MAX_VALIDATION_ROWS
from ._registry import teacher_kinds

__all__ = ["Inputs", "load_inputs"]


@dataclass
class Inputs:
    """The data of a run, read and checked (see :func:`load_inputs`).

    Attributes
    ----------
    seed_texts, seed_labels : ndarray
        The labelled seed (empty without ``--seed``: a cold start).
    pool_texts : ndarray, TextFilePool or None
        The texts the teacher may be asked about.
    pool_labels : ndarray or None
        The pool's own labels (the oracle's answers), when read.
    pool_rows : ndarray of int or None
        Row of each pool text in the pool file, when validation rows were
        split off it (the oracle's pool).
    val_texts, val_labels : sequence or None
        Labelled texts to report accuracy on.
    classes : list
        The label set.
    class_descriptions : dict or None
        ``name -> description`` from a classes file, for an LLM teacher.
    class_examples : list of (text, name) or None
        Example texts from a classes file, for an LLM teacher.
    """

    seed_texts: np.ndarray
    seed_labels: np.ndarray
    classes: list
    pool_texts: object = None
    pool_labels: np.ndarray | None = None
    pool_rows: np.ndarray | None = None
    val_texts: object = None
    val_labels: object = None
    class_descriptions: dict | None = None
    class_examples: list | None = None


def load_inputs(args):
    """Read and check the seed, pool and validation files of ``args``."""
    multi_label = getattr(args, "multi_label", False)
    read = dict(text_column=args.text_column, encoding=args.encoding,
                separator=args.label_separator if multi_label else None)
    seed_texts, seed_labels = [], []
    if args.seed is not None:
        seed_texts, seed_labels = read_table(args.seed, label_column=args.label_column,
                                             **read)
    taxonomy = read_classes(args.classes, args.encoding)
    oracle = "oracle" in teacher_kinds(args.teacher)  # a cascade's last stage too
    pool_texts = pool_labels = pool_rows = None
    if args.pool is not None and oracle:
        pool_texts, pool_labels = read_table(
            args.pool, label_column=args.label_column, **read
        )
        pool_rows = np.arange(len(pool_texts))
    elif args.pool is not None:
        pool_texts = _unlabelled_pool(args)
    classes = _classes(args, seed_labels, taxonomy)
    _check_known(seed_labels, classes, args.seed, args)
    val_texts = val_labels = None
    if args.validation is not None:
        val_texts, val_labels = read_table(args.validation,
                                           label_column=args.label_column, **read)
        _check_known(val_labels, classes, args.validation, args)
    if oracle:
        _check_known(pool_labels, classes, args.pool, args)
        if val_texts is None and args.validation_size > 0:
            val_rows, pool_rows = _split(len(pool_texts), args)
            val_texts = [pool_texts[i] for i in val_rows]
            val_labels = [pool_labels[i] for i in val_rows]
    if pool_rows is not None:
        pool_texts = np.asarray(pool_texts, dtype=object)[pool_rows]
        if pool_labels is not None:
            pool_labels = _labels_array(pool_labels)[pool_rows]
    return Inputs(
        seed_texts=np.asarray(seed_texts, dtype=object),
        seed_labels=_labels_array(seed_labels) if multi_label
        else np.asarray(seed_labels),
        pool_texts=pool_texts, pool_labels=pool_labels, pool_rows=pool_rows,
        val_texts=val_texts, val_labels=val_labels, classes=classes,
        class_descriptions=getattr(taxonomy, "descriptions", None) or None,
        class_examples=getattr(taxonomy, "examples", None) or None,
    )


def _unlabelled_pool(args):
    """The pool of a real teacher, checked in one pass and then read on demand.

    Only the rows the sampler visits are ever read, so the pool may be larger
    than memory (:class:`~skakd.pools.TextFilePool` keeps 8 bytes per row).
    Files in another encoding than UTF-8 are loaded into memory instead.
    """
    n_rows = sum(len(texts) for _, texts in iter_chunks(
        args.pool, args.text_column, 10_000, encoding=args.encoding))
    with open(args.pool, "rb") as handle:
        bom = handle.read(3) == codecs.BOM_UTF8
    if codecs.lookup(args.encoding).name in ("utf-8", "utf-8-sig") and not bom:
        from ..pools import TextFilePool

        pool = TextFilePool(args.pool, column=args.text_column)
        if len(pool) == n_rows:
            return pool
    texts, _ = read_table(args.pool, args.text_column, encoding=args.encoding)
    return np.asarray(texts, dtype=object)


def _labels_array(labels):
    """Labels as a 1-D object array (label tuples stay one item each)."""
    array = np.empty(len(labels), dtype=object)
    array[:] = list(labels)
    return array


def _flat(labels):
    """Every label named: of each text's set for multi-label labels."""
    return [label for item in labels
            for label in (item if isinstance(item, tuple) else (item,))]


def _classes(args, seed_labels, taxonomy):
    """The label set: ``--classes``, else the seed's labels (two at least,
    or any for multi-label labels)."""
    if taxonomy is not None:
        if len(taxonomy.names) < 2:
            raise InputError(
                f"--classes {args.classes} names {len(taxonomy.names)} class; "
                "expected every class the teacher may answer (two at least).")
        return taxonomy.names
    if getattr(args, "multi_label", False):
        classes = sorted(set(_flat(seed_labels)))
        if not classes:
            raise InputError(
                f"{args.seed} names no label at all (every label set is empty); "
                "list the labels with --classes or seed labelled examples."
            )
        return classes
    if len(set(seed_labels)) < 2:
        raise InputError(
            f"{args.seed} has a single class ({seed_labels[0]!r}); the seed needs "
            "labelled examples of at least two classes, or give every class "
            "with --classes (a comma list or a classes file) to let the "
            "teacher label the others."
        )
    return sorted(set(seed_labels))


def _check_known(labels, classes, path, args):
    unknown = sorted(set(_flat(labels)) - set(classes))
    if unknown:
        source = "--classes" if args.classes is not None else f"the seed ({args.seed})"
        shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
        raise InputError(
            f"{path} has labels that are not among the classes of {source}: "
            f"{shown} ({len(unknown)} unknown); add them to --classes, or seed "
            "examples of them."
        )


def _split(n_pool, args):
    """Pool rows held out for validation, and the rows left in the pool."""
    rng = np.random.default_rng(args.random_state)
    order = rng.permutation(n_pool)
    n_val = min(int(round(args.validation_size * n_pool)), MAX_VALIDATION_ROWS)
    return np.sort(order[:n_val]), np.sort(order[n_val:])
