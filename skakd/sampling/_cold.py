"""Cold start: choosing pool items before any student exists.

A fit from no seed (see :class:`~skakd.ActiveDistillationClassifier`) has no
student to score the pool with, so its first rounds are chosen by
:func:`cold_select`: uniformly at random, or one item per cluster of the
pool (``"diverse"``), so that the first labels spread over the pool's
regions, and so over more classes than random picks do. ``"coverage"``
first takes the item nearest each class's name (and description, and
examples, where the teacher has them), then a diverse rest, and tops up the
classes still missing in a second round.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler, normalize

from .._items import is_text_items, take

__all__ = ["COLD_STARTS", "class_texts", "cold_select"]

COLD_STARTS = ("coverage", "diverse", "random")

# k-means runs on a random sample of the candidates: 4,000 items, or 20 per
# cluster for a larger batch, keep it near a second on 384-d embeddings.
_SAMPLE, _PER_CLUSTER = 4000, 20
# Sparse or wide features are reduced first: k-means on raw TF-IDF
# distances is slow and its clusters follow document length.
_DIMENSIONS = 100


def cold_select(method, estimator, X_pool, candidates, n_samples, rng, *,
                missing=None):
    """Up to ``n_samples`` indices of ``candidates`` chosen without a student.

    Parameters
    ----------
    method : {"coverage", "diverse", "random"}
        ``"random"`` picks uniformly. ``"diverse"`` clusters a sample of the
        candidates (k-means, ``n_samples`` clusters) on the student's
        features (the fitted-without-labels steps of a Pipeline student;
        TF-IDF reduced by SVD for other text students; standardised numeric
        features otherwise) and takes the item nearest each centre.
        ``"coverage"`` takes, for each class of ``missing``, the candidate
        nearest its text in the same features (texts only), and fills the
        rest as ``"diverse"`` does.
    estimator : estimator
        The unfitted student, whose feature steps are borrowed.
    X_pool : indexable
        The pool.
    candidates : ndarray of int
        Indices of the still unlabelled items.
    n_samples : int
        Largest number of indices to return.
    rng : numpy.random.Generator
        Source of randomness.
    missing : dict or None, default=None
        ``{class: text}`` of the classes not labelled yet, for
        ``"coverage"``: the text is the class name, with its description and
        examples where there are some.

    Returns
    -------
    chosen : ndarray of int
        Distinct indices of ``candidates``.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.sampling import cold_select
    >>> X = np.r_[np.zeros((50, 2)), np.ones((50, 2)) * 10]
    >>> chosen = cold_select("diverse", None, X, np.arange(100), 2,
    ...                      np.random.default_rng(0))
    >>> sorted(X[chosen, 0].tolist())
    [0.0, 10.0]
    """
    n_samples = min(n_samples, len(candidates))
    shuffled = candidates[rng.permutation(len(candidates))]
    if method == "random" or n_samples < 2 and not missing:
        return shuffled[:n_samples]
    sample = shuffled[: max(_SAMPLE, _PER_CLUSTER * n_samples)]
    items = take(X_pool, sample)
    named = np.empty(0, dtype=np.intp)
    if method == "coverage" and missing and is_text_items(items):
        named = _nearest_to_texts(estimator, items, missing, n_samples)
    if len(named) == n_samples or n_samples - len(named) < 2:
        return sample[_fill(named, len(sample), n_samples, rng)]
    features = _features(estimator, items)
    seed = int(rng.integers(np.iinfo(np.int32).max))
    kmeans = KMeans(n_clusters=n_samples - len(named), n_init=1,
                    random_state=seed).fit(features)
    nearest = np.argmin(kmeans.transform(features), axis=0)
    chosen = np.r_[named, np.setdiff1d(np.unique(nearest), named)]
    return sample[_fill(chosen, len(sample), n_samples, rng)]


def _fill(chosen, n_items, n_samples, rng):
    """``chosen`` made up to ``n_samples`` positions with random others (two
    centres may share their nearest item, a class text its nearest item)."""
    rest = np.setdiff1d(np.arange(n_items), chosen)
    extra = rest[rng.permutation(len(rest))[: n_samples - len(chosen)]]
    return np.r_[chosen, extra].astype(np.intp)


def _nearest_to_texts(estimator, items, missing, n_samples):
    """Positions in ``items`` of the item nearest each class text, in the
    class order of ``missing``, distinct, at most ``n_samples``."""
    texts = np.asarray(list(missing.values()), dtype=object)
    features = _features(estimator, np.concatenate([items, texts]))
    similarity = features[: len(items)] @ features[len(items):].T
    chosen = []
    for column in similarity.T[:n_samples]:
        column[chosen] = -np.inf
        chosen.append(int(np.argmax(column)))
    return np.asarray(chosen, dtype=np.intp)


def _features(estimator, items):
    """Dense, L2-normalised features of ``items``, learnt without labels."""
    features = _student_features(estimator, items)
    if features is None and is_text_items(items):
        features = TfidfVectorizer(sublinear_tf=True).fit_transform(items.tolist())
    elif features is None:
        features = items.to_numpy() if hasattr(items, "iloc") else items
    if sp.issparse(features) or features.shape[1] > _DIMENSIONS:
        n_components = min(_DIMENSIONS, features.shape[1] - 1, len(items) - 1)
        if n_components >= 2:
            svd = TruncatedSVD(n_components, random_state=0)
            features = svd.fit_transform(features)
        features = features.toarray() if sp.issparse(features) else features
    else:
        features = StandardScaler().fit_transform(np.asarray(features, dtype=float))
    return normalize(np.asarray(features, dtype=float))


def _student_features(estimator, items):
    """The student Pipeline's feature steps fitted on ``items`` alone (they
    learn no label: a vectoriser, an embedder), or ``None`` when the student
    has none or they need labels."""
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        return None
    try:
        return clone(estimator[:-1]).fit_transform(items)
    except (TypeError, ValueError):  # a step that needs y, or other items
        return None


def class_texts(classes, descriptions=None, examples=None):
    """``{class: text}``: each class's name (underscores as spaces), its
    description and its example texts, what ``"coverage"`` looks for.

    Examples
    --------
    >>> from skakd.sampling import class_texts
    >>> class_texts(["card_arrival", "refund"], {"refund": "money back"},
    ...             [("where is my card?", "card_arrival")])
    {'card_arrival': 'card arrival. where is my card?', 'refund': 'refund. money back'}
    """
    descriptions = {str(k): v for k, v in (descriptions or {}).items()}
    texts = {}
    for name in classes:
        parts = [str(name).replace("_", " ")]
        parts += [descriptions[str(name)]] if descriptions.get(str(name)) else []
        parts += [text for text, label in (examples or []) if str(label) == str(name)]
        texts[name] = ". ".join(parts)
    return texts
