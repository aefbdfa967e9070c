"""M-RARU: multi-class randomized accept/reject uncertainty sampling."""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._items import take
from ._base import BaseSampler
from ._multilabel import AGGREGATIONS
from ._scores import STRATEGIES, score_rows

__all__ = ["MRARU"]


class MRARU(BaseSampler):
    """Multi-class Randomized Accept/Reject Uncertainty sampling.

    Visits random unlabelled pool items one after another and accepts each
    with a probability that grows with its uncertainty ``u(x)`` under the
    current student, until ``batch_size`` items are accepted. Unlike
    exhaustive uncertainty sampling it never scores the whole pool: the cost
    of a selection grows with ``batch_size / acceptance rate``, not with the
    pool size.

    The paper's rule accepts with probability equal to the normalised least
    confidence ``u(x) = (1 - max_k p_k(x)) / (1 - 1/K)``:
    ``MRARU(strategy="least_confidence", target_acceptance=None)``. The
    defaults differ: they accept with probability ``margin(x) ** g``, with
    ``g`` fitted at each selection so that about 10% of visits are accepted.
    Under the paper's rule a flat student (LogisticRegression over 77
    classes) accepts about every other visit, so M-RARU is close to random
    sampling, while an overconfident one (LDA) accepts under 2% and visits a
    large part of the pool; the fitted exponent makes the first more
    selective and the second cheaper, keeping the order of items by
    uncertainty. Measured on banking77 by ``python -m benchmarks.label_efficiency``
    (see the "Label efficiency" benchmark page for the numbers). For a
    multi-label student the exponent applies to ``u``'s rank rather than to
    ``u`` (``acceptance``).

    Visited items are scored in vectorised chunks; accept/reject decisions
    follow exactly the distribution of one-at-a-time visits (items visited
    after the batch filled are discarded unseen).

    Parameters
    ----------
    batch_size : int, default=25
        Items to accept per round (the paper's AL batch size).
    temperature : float > 0, default=1.0
        Probabilities are softened as ``p ** (1 / temperature)`` (then
        renormalised) before computing ``u``: ``temperature > 1`` raises the
        acceptance rate of an overconfident student, ``< 1`` lowers that of
        a flat one, keeping the ranking of items by uncertainty. With
        ``target_acceptance`` set the exponent does this job. Exact 0/1
        probabilities stay at ``u = 0`` at any temperature; bound the cost
        with ``max_visits`` then.
    strategy : {"least_confidence", "margin", "entropy"}, default="margin"
        The uncertainty ``u`` (see :func:`uncertainty_score`); the paper uses
        least confidence. Margin, one minus the gap between the two most
        likely classes, looks at the classes the student hesitates between
        rather than at the whole distribution, which suits many classes.
    target_acceptance : float in (0, 1] or None, default=0.1
        Accept with probability ``u ** exponent`` instead of ``u``, where the
        exponent is fitted at each selection so that the first chunk of
        visits (at least 256 items) would be accepted at this rate; the
        fitted exponent is ``last_stats_["exponent"]``. Lower rates are more
        selective and visit ``batch_size / rate`` items per batch. ``None``
        accepts with probability ``u``. Items with ``u = 0`` are never
        accepted, so a rate above the share of items with ``u > 0`` cannot
        be reached.
    max_visits : int, "auto" or None, default="auto"
        Largest number of items visited per batch. ``None`` visits until the
        batch is full or every candidate was visited (the paper's rule).
        ``"auto"`` is ``None`` without ``target_acceptance`` and else ten
        times the visits the target rate needs, ``10 * batch / rate`` (2,500
        at the defaults): a student certain of nearly every item (exact 0/1
        probabilities, ``u = 0`` at any exponent) then costs a bounded
        number of visits instead of a scan of the whole pool, and the batch
        is filled by ``fallback``.
    fallback : {"most_uncertain", "random", "none"}, default="most_uncertain"
        How to fill the batch when ``max_visits`` (or the pool) runs out
        before ``batch_size`` items were accepted: with the most uncertain
        visited-but-rejected items (already scored, so free), with random
        unvisited items, or not at all (a smaller batch). The number of items
        chosen this way is ``last_stats_["n_fallback"]``.
    chunk_size : int, default=2048
        Largest number of visited items scored in one ``predict_proba`` call.
    label_aggregation : {"max", "mean", "cardinality"}, default="mean"
        For a multi-label student (one probability per label): how the
        per-label uncertainties around each label's threshold make ``u``
        (see :func:`multilabel_uncertainty`). On GoEmotions (28 labels,
        ``python -m benchmarks.multilabel``, the "Multi-label" benchmark
        page) the mean needed the fewest teacher labels, accepted by rank:
        780 to 90% of the full-data micro-F1 on the ten seeds used to choose
        (10-19; the cardinality inconsistency 895, random 1,090), where the
        mean of the 3 or 10 most uncertain labels did worse than all 28. The
        best aggregation depends on the student: on MiniLM embeddings with
        an unweighted one-vs-rest LR, whose rare labels' probabilities sit
        far below 0.5, the cardinality inconsistency needed 1,417 labels on
        seeds 0-2, the mean 2,017 and random 1,800.
    acceptance : {"auto", "score", "rank"}, default="auto"
        What the acceptance probability is computed from: ``"score"``,
        ``u`` itself (``u ** g`` with ``target_acceptance``); ``"rank"``,
        ``u``'s rank among the selection's first chunk of visits, a number
        in (0, 1) that spreads them evenly whatever the scale of ``u``
        (``u = 0`` stays 0), so only the order of items by uncertainty
        counts, as in exhaustive sampling (the fitted exponent is then
        about ``1 / target_acceptance - 1``); ``"auto"``, ``"rank"`` for a
        multi-label student and ``"score"`` otherwise. A mean over many
        labels varies little from item to item (GoEmotions, 28 labels:
        between 0.29 and 0.37 over the whole pool), so ``u ** g`` accepted
        the most uncertain items barely more often than the others and
        M-RARU was close to random sampling (1,145 teacher labels to the
        target on seeds 10-19, random 1,090); by rank it needed 780, against
        805 for exhaustive uncertainty sampling.
    cold_start : {"diverse", "random"}, default="diverse"
        How a fit from no seed picks its first items (see :class:`BaseSampler`).
    weight_by_confidence : bool, default=False
        Whether the student weights each row by the teacher's confidence in
        its label, 1 where unknown (see :class:`BaseSampler`).

    Attributes
    ----------
    last_stats_ : dict
        About the last :meth:`select`: ``n_visited``, ``n_accepted``,
        ``n_fallback``, ``acceptance_rate`` (accepted / visited), ``seconds``
        and, with ``target_acceptance``, ``exponent``.

    See Also
    --------
    UncertaintySampler : Exhaustive uncertainty sampling over the whole pool.
    RandomSampler : Uniform random sampling, the usual baseline.

    References
    ----------
    .. [1] "LLM on a Budget: Active Knowledge Distillation for Efficient
       Classification of Large Text Corpora", arXiv:2511.11574.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skakd.sampling import MRARU
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(1000, 2))
    >>> student = LogisticRegression().fit(X[:20], X[:20, 0] > 0)
    >>> sampler = MRARU(batch_size=5)
    >>> chosen = sampler.select(student, X, np.arange(20, 1000), 5, random_state=0)
    >>> len(chosen), sampler.last_stats_["n_accepted"]
    (5, 5)
    """

    _needs_proba = True

    _parameter_constraints: dict = {
        **BaseSampler._parameter_constraints,
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "strategy": [StrOptions(set(STRATEGIES))],
        "target_acceptance": [Interval(Real, 0, 1, closed="right"), None],
        "max_visits": [Interval(Integral, 1, None, closed="left"),
                       StrOptions({"auto"}), None],
        "fallback": [StrOptions({"most_uncertain", "random", "none"})],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "label_aggregation": [StrOptions(set(AGGREGATIONS))],
        "acceptance": [StrOptions({"auto", "score", "rank"})],
    }

    def __init__(self, batch_size=25, *, temperature=1.0, strategy="margin",
                 target_acceptance=0.1,
                 max_visits="auto", fallback="most_uncertain", chunk_size=2048,
                 label_aggregation="mean", acceptance="auto", cold_start="diverse",
                 weight_by_confidence=False):
        super().__init__(batch_size=batch_size, cold_start=cold_start,
                         weight_by_confidence=weight_by_confidence)
        self.temperature = temperature
        self.strategy = strategy
        self.target_acceptance = target_acceptance
        self.max_visits = max_visits
        self.fallback = fallback
        self.chunk_size = chunk_size
        self.label_aggregation = label_aggregation
        self.acceptance = acceptance

    def _select(self, estimator, X_pool, candidates, n_samples, rng):
        visit_limit = min(len(candidates), self._max_visits(n_samples))
        order = _LazyPermutation(len(candidates), rng)
        accepted, visited = [], []
        n_accepted = n_visited = 0
        by_rank = self._by_rank(estimator)
        exponent = reference = None
        while n_accepted < n_samples and n_visited < visit_limit:
            needed = n_samples - n_accepted
            size = self._next_chunk(needed, n_accepted, n_visited)
            positions = order.take(min(size, visit_limit - n_visited))
            u = score_rows(take(X_pool, candidates[positions]), estimator,
                           self.strategy, self.temperature, self.label_aggregation)
            if by_rank:
                reference = np.sort(u) if reference is None else reference
                u = _rank_in(reference, u)
            if self.target_acceptance is not None:
                if exponent is None:
                    exponent = _exponent_for_rate(u, self.target_acceptance)
                u = u**exponent
            accept = rng.random(len(positions)) < u
            hits = np.flatnonzero(accept)
            if len(hits) >= needed:  # discard visits after the batch filled
                stop = hits[needed - 1] + 1
                positions, accept, u = positions[:stop], accept[:stop], u[:stop]
                hits = hits[:needed]
            n_visited += len(positions)
            n_accepted += len(hits)
            accepted.append(positions[hits])
            visited.append((positions, accept, u))

        filler = self._fill(n_samples - n_accepted, visited, order)
        chosen = candidates[np.concatenate([*accepted, filler])]
        stats = {
            "n_visited": n_visited,
            "n_accepted": n_accepted,
            "n_fallback": len(filler),
            "acceptance_rate": n_accepted / n_visited if n_visited else 0.0,
        }
        if exponent is not None:
            stats["exponent"] = exponent
        return chosen, stats

    def _by_rank(self, estimator):
        if self.acceptance == "auto":
            return getattr(estimator, "multilabel_", False)
        return self.acceptance == "rank"

    def _max_visits(self, n_samples):
        if self.max_visits != "auto":
            return np.inf if self.max_visits is None else self.max_visits
        if self.target_acceptance is None:
            return np.inf
        # At the target rate a batch needs n / rate visits; needing ten times
        # that means the rate is out of reach (nearly every u is 0).
        return math.ceil(_AUTO_VISITS_FACTOR * n_samples / self.target_acceptance)

    def _next_chunk(self, needed, n_accepted, n_visited):
        # Expected visits to fill the batch at the acceptance rate seen so far,
        # with a little slack. The prior (the target rate, else one acceptance
        # in four visits, worth four visits of evidence) keeps
        # the first chunk from being a handful of rows: each predict_proba
        # call costs ~0.3 ms of input validation whatever its size.
        prior = self.target_acceptance or 0.25
        rate = (n_accepted + 4 * prior) / (n_visited + 4)
        expected = math.ceil(1.25 * needed / rate)
        if self.target_acceptance is not None and n_visited == 0:
            # The exponent is fitted on this first chunk: a few hundred
            # items keep the rate it reaches within a few points of target.
            expected = max(expected, _MIN_CALIBRATION)
        return min(max(expected, needed), self.chunk_size)

    def _fill(self, n_missing, visited, order):
        picked = np.empty(0, dtype=np.intp)
        if n_missing <= 0 or self.fallback == "none":
            return picked
        if self.fallback == "most_uncertain" and visited:
            positions, accept, u = (np.concatenate(part) for part in zip(*visited))
            most_uncertain = np.argsort(-u[~accept], kind="stable")[:n_missing]
            picked = positions[~accept][most_uncertain]
        return np.concatenate([picked, order.take(n_missing - len(picked))])


_MIN_CALIBRATION = 256
_AUTO_VISITS_FACTOR = 10
_EXPONENT_RANGE = (1e-3, 1e3)
_RTOL = 4 * np.finfo(float).eps  # scipy.optimize.brentq's default


def _rank_in(reference, u):
    """Where each ``u`` falls among the sorted ``reference`` scores, in (0, 1).

    The mid-rank ``(#{r < u} + #{r <= u}) / (2 n)``: the reference's own
    scores spread evenly over (0, 1) whatever their scale, ties share one
    value, and a score of 0 (a certain student) stays 0, never accepted.
    """
    if np.isnan(u).any():
        raise ValueError(
            "The student's predict_proba returned NaN; expected probabilities."
        )
    below = np.searchsorted(reference, u, side="left")
    at_or_below = np.searchsorted(reference, u, side="right")
    return np.where(u > 0, (below + at_or_below) / (2 * len(reference)), 0.0)


def _exponent_for_rate(u, rate):
    """The ``g`` at which ``mean(u ** g) == rate``, within ``_EXPONENT_RANGE``.

    ``mean(u ** g)`` falls as ``g`` grows, so the root is unique; at the
    ends of the range (every ``u`` near 1, or too few ``u > 0``) the rate is
    out of reach and the nearest end is returned.
    """
    with np.errstate(divide="ignore"):
        log_u = np.log(u)

    def excess(log_g):
        # add.reduce / n is mean() without its dispatch: the same number.
        return float(np.add.reduce(np.exp(np.exp(log_g) * log_u)) / len(u) - rate)

    low, high = (float(end) for end in np.log(_EXPONENT_RANGE))
    excess_low, excess_high = excess(low), excess(high)
    if np.isnan(excess_low):
        raise ValueError(
            "The student's predict_proba returned NaN; expected probabilities."
        )
    if excess_low <= 0:
        return _EXPONENT_RANGE[0]
    if excess_high >= 0:
        return _EXPONENT_RANGE[1]
    return float(np.exp(_brentq(excess, low, high, excess_low, excess_high, 1e-3)))


def _brentq(f, a, b, f_a, f_b, xtol, rtol=_RTOL, maxiter=100):
    """The root of ``f`` in ``[a, b]``, where ``f_a = f(a)`` and ``f_b = f(b)``
    differ in sign, by Brent's method.

    Takes scipy.optimize.brentq's steps one for one (its C code, Charles
    Harris's variant), so the root is the same to the last bit, but reuses
    the two ends the caller has already evaluated and skips the wrapper: a
    third of the exponent fit's cost.
    """
    x_pre, x_cur, f_pre, f_cur = a, b, f_a, f_b
    x_blk = f_blk = s_pre = s_cur = 0.0
    for _ in range(maxiter):
        if f_pre * f_cur < 0:
            x_blk, f_blk = x_pre, f_pre
            s_pre = s_cur = x_cur - x_pre
        if abs(f_blk) < abs(f_cur):
            x_pre, x_cur, x_blk = x_cur, x_blk, x_cur
            f_pre, f_cur, f_blk = f_cur, f_blk, f_cur
        delta = (xtol + rtol * abs(x_cur)) / 2
        s_bis = (x_blk - x_cur) / 2
        if f_cur == 0 or abs(s_bis) < delta:
            return x_cur
        short = False
        if abs(s_pre) > delta and abs(f_cur) < abs(f_pre):
            if x_pre == x_blk:  # interpolate
                s_try = -f_cur * (x_cur - x_pre) / (f_cur - f_pre)
            else:  # extrapolate
                d_pre = (f_pre - f_cur) / (x_pre - x_cur)
                d_blk = (f_blk - f_cur) / (x_blk - x_cur)
                s_try = (-f_cur * (f_blk * d_blk - f_pre * d_pre)
                         / (d_blk * d_pre * (f_blk - f_pre)))
            short = 2 * abs(s_try) < min(abs(s_pre), 3 * abs(s_bis) - delta)
        # A good short step, else bisection.
        s_pre, s_cur = (s_cur, s_try) if short else (s_bis, s_bis)
        x_pre, f_pre = x_cur, f_cur
        x_cur += s_cur if abs(s_cur) > delta else (delta if s_bis > 0 else -delta)
        f_cur = f(x_cur)
    raise RuntimeError(f"Failed to converge after {maxiter} iterations.")


class _LazyPermutation:
    """A uniformly random order of ``range(n)``, drawn only as far as needed.

    Drawing with replacement and skipping repeats yields each next element
    uniformly among those not drawn yet, so a prefix costs O(prefix), not
    O(n). Once a large share of ``range(n)`` is wanted, an explicit
    permutation of the remaining elements is cheaper and equally uniform.
    """

    def __init__(self, n, rng):
        self.n = n
        self.rng = rng
        self.seen = np.empty(0, dtype=np.intp)
        self.rest = None

    def take(self, k):
        k = min(k, self.n - len(self.seen) - self._taken_from_rest())
        if k <= 0:
            return np.empty(0, dtype=np.intp)
        if self.rest is None and 4 * (len(self.seen) + k) > self.n:
            remaining = np.setdiff1d(np.arange(self.n, dtype=np.intp), self.seen)
            self.rest = self.rng.permutation(remaining)
            self.rest_offset = 0
        if self.rest is not None:
            out = self.rest[self.rest_offset : self.rest_offset + k]
            self.rest_offset += len(out)
            return out
        start = len(self.seen)
        while len(self.seen) - start < k:
            missing = k - (len(self.seen) - start)
            draw = self.rng.integers(0, self.n, size=2 * missing + 8, dtype=np.intp)
            draw = _without_repeats(draw)
            if len(self.seen):
                draw = draw[~np.isin(draw, self.seen)]
            self.seen = np.concatenate([self.seen, draw[:missing]])
        return self.seen[start:]

    def _taken_from_rest(self):
        return 0 if self.rest is None else self.rest_offset


def _without_repeats(values):
    """``values`` less the repeats, in the drawing order."""
    ordered = np.sort(values)
    if (ordered[1:] != ordered[:-1]).all():  # the usual case: nothing to drop
        return values
    _, first = np.unique(values, return_index=True)
    return values[np.sort(first)]
