"""Load the datasets shipped inside the package (banking77, trec)."""

import csv
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

__all__ = ["list_datasets", "load_dataset"]

_DESCRIPTIONS = {
    "banking77": "77 intents of online-banking customer queries "
    "(Casanueva et al., 2020; CC BY 4.0).",
    "trec": "TREC question classification, 6 coarse classes; fine labels in "
    "train_fine_label/test_fine_label (Li & Roth, 2002; research use).",
}


def list_datasets():
    """Names of the bundled datasets.

    Examples
    --------
    >>> from skakd.datasets import list_datasets
    >>> list_datasets()
    ['banking77', 'trec']
    """
    return sorted(_DESCRIPTIONS)


def load_dataset(name):
    """Load a bundled text-classification dataset.

    Parameters
    ----------
    name : {"banking77", "trec"}
        Dataset to load.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train``, ``y_train``, ``X_test``, ``y_test`` (lists of texts and
        arrays of string labels), ``classes`` (sorted), ``DESCR`` and
        ``license`` (the text of the dataset's LICENSE.md). trec also has
        ``y_train_fine`` and ``y_test_fine``.

    Examples
    --------
    >>> from skakd.datasets import load_dataset
    >>> data = load_dataset("banking77")
    >>> len(data.X_train), len(data.X_test), len(data.classes)
    (10003, 3080, 77)
    """
    if name not in _DESCRIPTIONS:
        raise ValueError(
            f"name={name!r} is not a bundled dataset; expected one of "
            f"{list_datasets()}."
        )
    folder = resources.files("skakd.datasets") / "data" / name
    train = _read(folder / "train.csv")
    test = _read(folder / "test.csv")
    data = Bunch(
        X_train=train["text"],
        y_train=np.asarray(train["label"]),
        X_test=test["text"],
        y_test=np.asarray(test["label"]),
        classes=np.unique(train["label"]),
        DESCR=_DESCRIPTIONS[name],
        license=(folder / "LICENSE.md").read_text(encoding="utf-8"),
    )
    if "fine_label" in train:
        data.y_train_fine = np.asarray(train["fine_label"])
        data.y_test_fine = np.asarray(test["fine_label"])
    return data


def _read(path):
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {column: [row[column] for row in rows] for column in rows[0]}
