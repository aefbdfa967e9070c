"""LLMTeacher: what every LLM teacher does, whatever its provider.

The class composes the shared rooms: :mod:`._prompts` words requests,
:mod:`._exchange` runs one request through cache, send, check and
correction, :mod:`._batch` runs a call through a batch API,
:mod:`._transport` talks to the SDK and :mod:`._cost` prices usage and
estimates. A provider's sub-package adds its adapter
(:class:`~._provider.Provider`) and its parameters.
"""

import contextlib
import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._items import check_texts
from ..reasons import BLANK, TOO_LONG, UNENCODABLE
from ._base import UNLABELED, BaseTeacher, TeacherResult
from ._batch import Connection, label_in_batch
from ._cache import TeacherCache, resolve_cache
from ._claims import pay_once
from ._cost import (
    BATCH_DISCOUNT,
    MAX_COUNTED_BATCHES,
    Usage,
    cost_of_n_items,
    cost_of_requests,
)
from ._exchange import Link, exchange, item_keys, label_batch
from ._generation import GenerationResult
from ._label_sets import label_set_samples_prompt, label_sets_prompt, named_labels
from ._prompts import class_names, label_prompt, samples_prompt
from ._secret import Secret
from ._transport import Settings, Transport, map_batches

__all__ = ["LLMTeacher"]

_INIT_LOCK = threading.Lock()
# A claim on an item lasts this many timeouts unless renewed: how long a
# crashed process's items wait before another process pays for them.
_LEASE_TIMEOUTS = 3


#: Labels per item a multi-label answer is priced with by ``estimate_cost``
#: (GoEmotions averages 1.2; three leaves room for richer taxonomies).
MULTI_LABEL_ANSWER_LABELS = 3

class LLMTeacher(BaseTeacher):
    """The shared body of the LLM teachers (Claude, OpenAI-compatible).

    Subclasses declare their parameters (``__init__``,
    ``_parameter_constraints``), their adapter (``_new_provider``), their
    price (``_price``) and their prompt-cache minimum (``_min_cache``).
    They share the parameters ``model``, ``class_descriptions``,
    ``instructions``, ``examples``, ``max_tokens``, ``temperature``,
    ``batch_size``, ``max_concurrency``, ``max_retries``, ``timeout``,
    ``cache``, ``base_url``, ``api_key``, ``prices``,
    ``requests_per_minute``, ``tokens_per_minute``, ``batch_api`` and
    ``confidence``.
    """

    _texts_hint = ("an LLM teacher labels raw texts: feature extraction belongs "
                   "inside the student.")

    _parameter_constraints: dict = {
        "model": [str],
        "class_descriptions": [dict, None],
        "instructions": [str, None],
        "examples": ["array-like", None],
        "max_tokens": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_concurrency": [Interval(Integral, 1, None, closed="left")],
        "max_retries": [Interval(Integral, 0, None, closed="left")],
        "timeout": [Interval(Real, 0, None, closed="neither")],
        "cache": ["boolean", str, os.PathLike, TeacherCache, None],
        "base_url": [str, None],
        "api_key": [Secret, None],
        "prices": [dict, None],
        "requests_per_minute": [Interval(Real, 0, None, closed="neither"), None],
        "tokens_per_minute": [Interval(Real, 0, None, closed="neither"), None],
        "batch_api": ["boolean"],
    }

    def __init__(self, model, *, class_descriptions, instructions, examples,
                 max_tokens, temperature, batch_size, max_concurrency,
                 max_retries, timeout, cache, base_url, api_key, prices,
                 requests_per_minute, tokens_per_minute, batch_api,
                 confidence=None):
        self.model = model
        self.class_descriptions = class_descriptions
        self.instructions = instructions
        self.examples = examples
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.batch_size = batch_size
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.cache = cache
        self.base_url = base_url
        self.api_key = api_key
        self.prices = prices
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.batch_api = batch_api
        self.confidence = confidence

    # The key lives in a Secret so that get_params, repr, clone and pickles
    # (Secret pickles empty) never show it; set_params goes through here too.
    @property
    def api_key(self):
        return self.__dict__.get("_api_key")

    @api_key.setter
    def api_key(self, value):
        self.__dict__["_api_key"] = None if value is None else Secret(value)

    # -- labelling --------------------------------------------------------

    def label(self, items, classes, multi_label=False):
        """Label texts with the model.

        Parameters
        ----------
        items : sequence of str
            The texts.
        classes : sequence
            The labels to answer from.
        multi_label : bool, default=False
            Ask for every class that applies to each text, answered as
            ``{"id", "labels": [...]}`` with the classes as the schema's
            enum; an empty set is an answer (none applies), a label outside
            the classes a malformed answer. Cached apart from single labels.

        Returns
        -------
        result : TeacherResult
            One label (a tuple of labels when ``multi_label``) per item
            (``None`` where no valid answer was given), with tokens, cost
            (USD), latency and ``n_cached``.
        """
        self._validate_params()
        texts = _check_texts(items, "items")
        names, by_name = class_names(classes)
        link, cache = self._connect()
        start = time.perf_counter()
        keys = self._item_keys(texts, names, multi_label)
        known = cache.get_many(keys) if cache is not None else {}
        # A blank text says nothing to label, and a text no API can carry (a
        # lone surrogate) cannot be sent: neither is paid for.
        unsendable = {k: {"unlabeled": why} for k, why in
                      zip(keys, map(_unsendable, texts)) if why}
        known.update(unsendable)
        # Each distinct text is asked once, whatever its copies.
        todo = {k: t for k, t in zip(keys, texts) if k not in known}
        usage = Usage()
        lost = cache.lost_in_flight(todo) if cache is not None else 0

        def ask(batch):
            request = self._label_request([text for _, text in batch], names,
                                          multi_label)
            try:
                with _in_flight(cache, [key for key, _ in batch]):
                    return label_batch(request, [key for key, _ in batch], names,
                                       link, cache, usage, multi_label)
            except Exception as exc:
                if not link.too_long(exc):
                    raise
            # Split until the item that makes the prompt too long stands alone.
            if len(batch) == 1:
                return _store(cache, batch[0][0], {"unlabeled": TOO_LONG})
            half = len(batch) // 2
            return ask(batch[:half]) + ask(batch[half:])

        def pay(some):
            if self.batch_api:
                return label_in_batch(
                    [(key, todo[key]) for key in some],
                    lambda items: _batches(items, self.batch_size),
                    lambda batch: self._label_request(batch, names, multi_label),
                    names, self._batch_connection(link, cache), cache, usage,
                    multi_label)
            batches = _batches([(key, todo[key]) for key in some], self.batch_size)
            answers = map_batches(ask, batches, self.max_concurrency)
            return {key: entry for batch, entries in zip(batches, answers)
                    for (key, _), entry in zip(batch, entries)}

        try:
            if cache is None:
                answered, paid = pay(list(todo)), set(todo)
            else:  # processes sharing the cache never pay for one key twice
                answered, paid = pay_once(cache, list(todo), pay,
                                          lease=_LEASE_TIMEOUTS * self.timeout)
        except BaseException as exc:
            # What was paid before the failure still goes on the bill.
            exc.teacher_result = _usage_result(usage, [], start)
            raise
        known.update(answered)
        result = _usage_result(usage, [known[key] for key in keys], start, by_name)
        result.n_cached = sum(key not in paid and key not in unsendable
                              for key in keys)
        result.info["n_duplicates"] = len(
            [k for k in keys if k not in unsendable]) - result.n_cached - len(paid)
        result.info["n_paid_twice"] = lost
        return result

    def _item_keys(self, texts, names, multi_label=False):
        """The cache key of each text, for this teacher's labelling prompt."""
        static = self._label_request([], names, multi_label)
        return item_keys(self._provider().static(static), texts)

    def _label_request(self, texts, names, multi_label=False):
        options = dict(class_descriptions=self.class_descriptions,
                       instructions=self.instructions, examples=self.examples,
                       temperature=self.temperature)
        if multi_label:  # a label set states no confidence
            return self._provider().request(
                label_sets_prompt(self.model, texts, names, **options))
        return self._provider().request(label_prompt(
            self.model, texts, names, confidence=self.confidence, **options))

    # -- generation -------------------------------------------------------

    def generate(self, request):
        """Write new labelled texts for a PGKD step.

        Parameters
        ----------
        request : GenerationRequest
            What to write; its ``to_prompt()`` is sent with a forced
            ``write_samples`` tool call.

        Returns
        -------
        samples : GenerationResult
            A list of ``(text, label)`` pairs (labels from
            ``request.classes``; a tuple of them, maybe empty, when
            ``request.multi_label``), with tokens, cost, latency,
            ``n_cached`` and ``info["n_invalid"]`` (samples dropped as invalid).
        """
        self._validate_params()
        names, by_name = class_names(request.classes, "request.classes")
        link, cache = self._connect()
        if request.class_descriptions is None and self.class_descriptions:
            request = dataclasses.replace(
                request, class_descriptions=self.class_descriptions
            )
        start = time.perf_counter()
        provider = self._provider()
        multi_label = request.multi_label  # each text with its label set
        write = label_set_samples_prompt if multi_label else samples_prompt
        message = provider.request(write(
            self.model, request.to_prompt(), names, instructions=self.instructions,
            temperature=self.temperature, n_samples=request.n_samples))
        usage = Usage()
        try:
            samples, cached = exchange(message, request.n_samples, names, link,
                                       cache, usage, multi_label)
        except BaseException as exc:
            exc.teacher_result = _usage_result(usage, [], start)
            raise
        samples = [(text, named_labels(label, by_name)) for text, label in samples]
        return GenerationResult(
            samples,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=usage.cost,
            n_cached=len(samples) if cached else 0,
            latency=time.perf_counter() - start,
            info=usage.info(n_cache_hits=int(cached), n_invalid=0 if cached else
                            max(request.n_samples - len(samples), 0)),
        )

    # -- cost -------------------------------------------------------------

    def estimate_cost(self, items_or_n, classes=None, multi_label=False):
        """Estimate what labelling items would cost, in USD, before paying.

        The estimate depends only on the arguments, the teacher's parameters,
        the cache and the API's token count: never on what was labelled
        before.

        Parameters
        ----------
        items_or_n : int or sequence of str
            The texts to label, or how many. With texts, items already in
            the cache and repeated texts cost nothing, and input tokens are
            counted by the API's token counting endpoint (free) for up to 8
            batches, extrapolated to the rest per character; without a key
            or network (or where the API has no token counting), input
            tokens are approximated as characters / 4. A
            number of items is priced as texts of 200 characters (about 50
            tokens) each, with characters / 4 tokens. Output tokens are
            estimated from the answer's JSON size (characters / 4).
        classes : sequence or None, default=None
            The label set (prompt size and answer size depend on it).
        multi_label : bool, default=False
            Price label-set answers (the multi-label prompt, and answers
            of :data:`MULTI_LABEL_ANSWER_LABELS` labels per item).

        Returns
        -------
        cost : float
            Estimated USD.
        """
        self._validate_params()
        names = class_names(classes)[0] if classes is not None else ["label"]
        price, provider = self._price(), self._provider()
        answers = MULTI_LABEL_ANSWER_LABELS if multi_label else None
        if isinstance(items_or_n, Integral):
            if items_or_n < 0:
                raise ValueError(f"items_or_n={items_or_n} must be >= 0.")
            return self._discount() * cost_of_n_items(
                int(items_or_n),
                empty_request=self._label_request([], names, multi_label),
                measure=provider, names=names, batch_size=self.batch_size,
                price=price, min_cache=self._min_cache(), labels_per_item=answers)
        texts = _check_texts(items_or_n, "items_or_n")
        cache = resolve_cache(self.cache)
        keys = self._item_keys(texts, names, multi_label)
        stored = cache.get_many(keys) if cache is not None else {}
        todo = list({k: t for k, t in zip(keys, texts) if k not in stored}.values())
        requests = [self._label_request(batch, names, multi_label)
                    for batch in _batches(todo, self.batch_size)]
        counted = self._get_transport().count_tokens(
            self._settings(cache), requests[:MAX_COUNTED_BATCHES])
        return self._discount() * cost_of_requests(
            requests, measure=provider, counted=counted, names=names,
            batch_size=self.batch_size, price=price, min_cache=self._min_cache(),
            labels_per_item=answers)

    def _discount(self):
        return BATCH_DISCOUNT if self.batch_api else 1.0

    # -- what a provider says ---------------------------------------------

    def _new_provider(self):  # pragma: no cover - interface
        """The adapter (:class:`~._provider.Provider`) of this teacher's API."""
        raise NotImplementedError

    def _price(self):  # pragma: no cover - interface
        """The model's :class:`~._cost.Price`."""
        raise NotImplementedError

    def _min_cache(self):
        """The shortest prefix the API caches, or ``None`` (no caching)."""
        return None

    def _marks_cached_prefix(self):
        """Whether requests mark their static prefix for the API's cache
        (APIs that cache by themselves need no mark)."""
        return False

    def _settings(self, cache):
        return Settings(
            api_key=self.api_key, base_url=self.base_url, timeout=self.timeout,
            max_retries=self.max_retries, max_tokens=self.max_tokens,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            cache_path=None if cache is None else cache.path,
            prompt_caching=self._marks_cached_prefix(),
            env_key=self._provider().env_key,
        )

    # -- transport --------------------------------------------------------

    def _connect(self):
        """``(link, cache)`` for one call."""
        price = self._price()
        cache = resolve_cache(self.cache)
        transport, settings = self._get_transport(), self._settings(cache)

        def send(request, usage):
            return transport.send(settings, price, request, usage)

        return Link(send=send, correct=transport.provider.correct,
                    too_long=transport.provider.too_long), cache

    def _batch_connection(self, link, cache):
        transport, settings = self._get_transport(), self._settings(cache)
        provider = transport.provider
        return Connection(
            link=link,
            create_batch=lambda requests: transport.create_batch(settings, requests),
            batch_results=lambda batch_id: transport.batch_results(settings, batch_id),
            find_batch=lambda prefix, since: transport.find_batch(settings, prefix,
                                                                  since),
            read=lambda message, request: (provider.reply(message, request),
                                           provider.spent(message)),
            price=self._price(),
        )

    def _provider(self):
        return self._get_transport().provider

    def _get_transport(self):
        # One transport per teacher: its rate limit spans all calls, threads
        # and clones (a clone is the same teacher).
        with _INIT_LOCK:
            transport = self.__dict__.get("_transport")
            if transport is None:
                transport = self._transport = Transport(self._new_provider())
            return transport

    def __getstate__(self):
        state = super().__getstate__()
        for name in ("_api_key", "_transport"):
            state.pop(name, None)
        return state


def _check_texts(items, name):
    # A generator of texts is fine: read it once, then check it.
    if isinstance(items, Iterator):
        items = list(items)
    return check_texts(items, name, hint=LLMTeacher._texts_hint)


@contextlib.contextmanager
def _in_flight(cache, keys):
    """Mark ``keys`` in flight while their request is out (see
    :meth:`TeacherCache.lost_in_flight`)."""
    if cache is None:
        yield
        return
    cache.mark_in_flight(keys)
    try:
        yield
    finally:
        cache.unmark_in_flight(keys)


def _unsendable(text):
    """Why ``text`` is not sent (``"blank"``, ``"unencodable"``), or ``None``."""
    if not text.strip():
        return BLANK
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return UNENCODABLE
    return None


def _store(cache, key, entry):
    """``[entry]``, stored under ``key`` first (the first answer wins)."""
    if cache is None:
        return [entry]
    return [cache.put_many([(key, entry)]).get(key, entry)]


def _batches(texts, size):
    """``texts`` in the fewest requests of at most ``size``, of equal sizes.

    Every request pays for the whole static prefix (instructions, classes,
    examples): 25 items go as 13 + 12, not 20 + 5.

    Examples
    --------
    >>> from skakd.teachers._llm import _batches
    >>> [len(b) for b in _batches(list(range(25)), 20)]
    [13, 12]
    """
    n_batches = -(-len(texts) // size)
    batches, start = [], 0
    for i in range(n_batches):
        # The first len % n_batches requests take one item more.
        stop = start + len(texts) // n_batches + (i < len(texts) % n_batches)
        batches.append(texts[start:stop])
        start = stop
    return batches


def _answer(entry, by_name):
    """A cache entry's label, label tuple, or :data:`UNLABELED`."""
    if "labels" in entry:
        return tuple(by_name[name] for name in entry["labels"])
    return by_name[entry["label"]] if "label" in entry else UNLABELED


def _usage_result(usage, entries, start, by_name=None):
    """A :class:`TeacherResult` of cache ``entries`` and what ``usage`` paid."""
    labels = [_answer(e, by_name) for e in entries]
    reasons = [e.get("unlabeled") for e in entries]
    confidence = [e.get("confidence") for e in entries]
    return TeacherResult(
        labels=labels,
        confidence=confidence if any(c is not None for c in confidence) else None,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost=usage.cost,
        latency=time.perf_counter() - start,
        info=usage.info(),
        reasons=reasons if any(reasons) else None,
    )
