"""AnthropicTeacher: Claude as a teacher, with cache, budget and retries.

The class composes four rooms: :mod:`._prompts` renders requests,
:mod:`._exchange` runs one request through cache, send, check and
correction, :mod:`._transport` talks to the SDK and :mod:`._cost` prices
usage and estimates.
"""

import dataclasses
import os
import threading
import time
from collections.abc import Iterator
from numbers import Integral, Real

from sklearn.utils._param_validation import Interval

from .._items import check_texts
from ._base import UNLABELED, BaseTeacher, TeacherResult
from ._batch import Connection, label_in_batch
from ._cache import TeacherCache, pay_once, resolve_cache
from ._cost import MAX_COUNTED_BATCHES, Usage, cost_of_n_items, cost_of_requests
from ._exchange import exchange, item_keys, label_batch
from ._generation import GenerationResult
from ._pricing import BATCH_DISCOUNT, min_cache_tokens, model_price
from ._prompts import class_names, label_request, samples_request
from ._secret import Secret
from ._transport import Settings, Transport, map_batches

__all__ = ["AnthropicTeacher"]

_INIT_LOCK = threading.Lock()
# A claim on an item lasts this many timeouts unless renewed: how long a
# crashed process's items wait before another process pays for them.
_LEASE_TIMEOUTS = 3
# Appended to the error about a non-text item.
_TEXTS_HINT = ("AnthropicTeacher labels raw texts: feature extraction belongs "
               "inside the student.")


class AnthropicTeacher(BaseTeacher):
    """Claude labels texts (and writes new ones) through the ``anthropic`` SDK.

    ``label(items, classes)`` sends the items in batches, each item in its
    own delimited and escaped ``<item id=...>`` block, and reads the answer
    from a forced tool call whose input is ``{"items": [{"id", "label"}]}``
    (the labels restricted to ``classes`` by the tool schema).
    ``generate(request)`` sends ``request.to_prompt()`` and reads ``{"samples":
    [{"text", "label"}]}``. An answer with unknown labels, missing ids or a
    malformed input is retried once with a message saying what was wrong;
    what is still wrong is reported as :data:`~skakd.teachers.UNLABELED`,
    never guessed, with its reason in ``TeacherResult.reasons``
    (``"refusal"``, ``"unknown_label"``, ``"no_answer"``, ``"malformed"``).

    Every paid answer is written to the ``cache`` item by item, before it is
    used: the good labels of an answer with a bad item, the items that
    could not be labelled (with their reason), and the batches of a call
    that then fails. Re-running a fit with the same ``random_state`` after a
    crash or Ctrl-C therefore replays what was paid for at no cost. Fits,
    clones, CV folds and processes sharing a cache never pay for the same
    item twice: an item is claimed in the cache before it is sent (a lease
    of 3 ``timeout``, renewed while the claimant lives), and a process that
    finds it claimed waits for the other's answer; a crashed claimant's
    items are free again when its lease expires. Identical texts in one
    call are asked once.

    Parameters
    ----------
    model : str, default="claude-haiku-4-5"
        Claude model name. Its price comes from
        :data:`skakd.teachers.PRICES` unless given in ``prices``.
    class_descriptions : dict or None, default=None
        ``label -> description`` shown with the class list.
    instructions : str or None, default=None
        Task instructions added to the system prompt (e.g. "Classify banking
        support questions by intent").
    examples : list of (text, label) or None, default=None
        Few-shot examples shown in the system prompt.
    max_tokens : int, default=4096
        Largest answer per request.
    temperature : float or None, default=0.0
        Sampling temperature; part of the cache key. ``None`` leaves it to
        the API. SDKs without sampling arguments get it as an extra body
        field: set ``None`` if the API rejects it.
    batch_size : int, default=20
        Items per labelling request.
    max_concurrency : int, default=4
        Requests in flight at once (a thread pool).
    max_retries : int, default=4
        Retries of a failed request, done by the SDK with exponential backoff
        and jitter, only on retryable failures (429, 5xx, 529 overloaded,
        timeouts, connection errors), honouring ``retry-after``. Other errors
        (401, 400, ...) fail at once.
    timeout : float, default=60.0
        Seconds an attempt may take before a second one starts. The slow
        attempt is still awaited (up to 10 times ``timeout``): if its answer
        comes, the API billed it, and it is counted in the cost.
    cache : bool, str, path-like, TeacherCache or None, default=True
        Where answers persist: ``True`` for
        :func:`~skakd.teachers.default_cache_path`, a file path, a
        :class:`~skakd.teachers.TeacherCache`, or ``None`` for no cache
        (a crashed fit then pays again). A label's key hashes the model,
        system prompt (classes, descriptions, examples), tool schema,
        temperature and the item's text. With ``temperature > 0`` a repeated
        item replays the cached answer.
    base_url : str or None, default=None
        API endpoint; ``None`` uses the SDK's (``ANTHROPIC_BASE_URL`` or the
        public API).
    api_key : str, Secret or None, default=None
        ``None`` reads ``ANTHROPIC_API_KEY`` at call time (the recommended
        way). A key passed here is kept as a :class:`~skakd.teachers.Secret`:
        masked in ``get_params``, ``repr`` and logs, and dropped from pickles
        (an unpickled teacher reads the environment again).
    prices : dict or None, default=None
        ``model -> (input, output)`` USD per million tokens, overriding or
        extending :data:`~skakd.teachers.PRICES`.
    requests_per_minute : float or None, default=None
        Client-side request rate limit, shared by all calls of this teacher.
    tokens_per_minute : float or None, default=None
        Client-side limit of input plus output tokens per minute.
    prompt_caching : bool, default=True
        Mark the static prefix of every request (tool schema, system prompt
        with the classes, descriptions and examples) with ``cache_control``:
        the first request writes it to the API's prompt cache at 1.25 times
        the input price, later ones (within 5 minutes) read it at 0.1 times.
        The API caches only prefixes of at least 1024 tokens (4096 for
        Haiku 4.5 and Opus 4.5, 2048 for Haiku 3 and 3.5); a shorter prefix
        is billed as without caching.
    batch_api : bool, default=False
        Send each ``label`` call's requests as one Message Batch
        (``client.messages.batches``): billed at half price, answered within
        minutes to hours instead of seconds, which an active-learning round
        can wait for. The batch id is stored in the ``cache`` before
        waiting, so a fit that crashed or was interrupted while the batch
        was in flight collects its results when run again instead of paying
        twice. Corrective re-asks go out synchronously.

    See Also
    --------
    CachedTeacher : A cache for any other teacher.
    OracleTeacher : Simulate a teacher offline.

    Notes
    -----
    Usage comes from each response's ``usage``, of every answer that
    arrived (late answers and corrective re-asks included);
    ``TeacherResult.info`` adds ``n_requests``, ``n_api_retries`` (SDK
    retries and second attempts), ``n_corrections`` (corrective re-asks),
    ``cache_write_tokens`` and ``cache_read_tokens`` (prompt cache, billed
    at their own prices), and ``n_duplicates`` (repeated texts asked once);
    ``generate`` adds ``n_cache_hits``. When a call fails after paying for
    some answers, the exception carries them as ``exc.teacher_result``.
    Retries inside the SDK are not paced by the client-side rate limit.

    Examples
    --------
    >>> from skakd.teachers import AnthropicTeacher
    >>> teacher = AnthropicTeacher(model="claude-haiku-4-5", api_key="sk-secret",
    ...                            cache=None)
    >>> teacher
    AnthropicTeacher(api_key=Secret('**********'), cache=None)
    >>> round(teacher.estimate_cost(1000, classes=["neg", "pos"]), 2)  # USD
    0.11
    """

    _parameter_constraints: dict = {
        "model": [str],
        "class_descriptions": [dict, None],
        "instructions": [str, None],
        "examples": ["array-like", None],
        "max_tokens": [Interval(Integral, 1, None, closed="left")],
        "temperature": [Interval(Real, 0, 1, closed="both"), None],
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
        "prompt_caching": ["boolean"],
        "batch_api": ["boolean"],
    }

    def __init__(
        self,
        model="claude-haiku-4-5",
        *,
        class_descriptions=None,
        instructions=None,
        examples=None,
        max_tokens=4096,
        temperature=0.0,
        batch_size=20,
        max_concurrency=4,
        max_retries=4,
        timeout=60.0,
        cache=True,
        base_url=None,
        api_key=None,
        prices=None,
        requests_per_minute=None,
        tokens_per_minute=None,
        prompt_caching=True,
        batch_api=False,
    ):
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
        self.prompt_caching = prompt_caching
        self.batch_api = batch_api

    # The key lives in a Secret so that get_params, repr, clone and pickles
    # (Secret pickles empty) never show it; set_params goes through here too.
    @property
    def api_key(self):
        return self.__dict__.get("_api_key")

    @api_key.setter
    def api_key(self, value):
        self.__dict__["_api_key"] = None if value is None else Secret(value)

    # -- labelling --------------------------------------------------------

    def label(self, items, classes):
        """Label texts with Claude.

        Parameters
        ----------
        items : sequence of str
            The texts.
        classes : sequence
            The labels to answer from.

        Returns
        -------
        result : TeacherResult
            One label per item (``None`` where no valid label was given),
            with tokens, cost (USD), latency and ``n_cached``.
        """
        self._validate_params()
        texts = _check_texts(items, "items")
        names, by_name = class_names(classes)
        send, cache = self._connect()
        start = time.perf_counter()
        keys = item_keys(self._label_request([], names), texts)
        known = cache.get_many(keys) if cache is not None else {}
        # Each distinct text is asked once, whatever its copies.
        todo = {k: t for k, t in zip(keys, texts) if k not in known}
        usage = Usage()

        def ask(batch):
            request = self._label_request([text for _, text in batch], names)
            return label_batch(request, [key for key, _ in batch], names, send,
                               cache, usage)

        def pay(some):
            if self.batch_api:
                return label_in_batch(
                    [(key, todo[key]) for key in some],
                    lambda items: _batches(items, self.batch_size),
                    lambda batch: self._label_request(batch, names), names,
                    self._batch_connection(send, cache), cache, usage)
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
        result.n_cached = sum(key not in paid for key in keys)
        result.info["n_duplicates"] = len(texts) - result.n_cached - len(paid)
        return result

    def _label_request(self, texts, names):
        return label_request(
            self.model, texts, names, class_descriptions=self.class_descriptions,
            instructions=self.instructions, examples=self.examples,
            temperature=self.temperature,
        )

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
            ``request.classes``), with tokens, cost, latency, ``n_cached``
            and ``info["n_invalid"]`` (samples dropped as invalid).
        """
        self._validate_params()
        names, by_name = class_names(request.classes, "request.classes")
        send, cache = self._connect()
        if request.class_descriptions is None and self.class_descriptions:
            request = dataclasses.replace(
                request, class_descriptions=self.class_descriptions
            )
        start = time.perf_counter()
        message = samples_request(self.model, request.to_prompt(), names,
                                  instructions=self.instructions,
                                  temperature=self.temperature)
        usage = Usage()
        try:
            samples, cached = exchange(message, request.n_samples, names, send,
                                       cache, usage)
        except BaseException as exc:
            exc.teacher_result = _usage_result(usage, [], start)
            raise
        samples = [(text, by_name[label]) for text, label in samples]
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

    def estimate_cost(self, items_or_n, classes=None):
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
            or network, input tokens are approximated as characters / 4. A
            number of items is priced as texts of 200 characters (about 50
            tokens) each, with characters / 4 tokens. Output tokens are
            estimated from the answer's JSON size (characters / 4).
        classes : sequence or None, default=None
            The label set (prompt size and answer size depend on it).

        Returns
        -------
        cost : float
            Estimated USD.

        Examples
        --------
        >>> from skakd.teachers import AnthropicTeacher
        >>> teacher = AnthropicTeacher(api_key="sk-secret", cache=None,
        ...                            batch_size=20)
        >>> one = teacher.estimate_cost(20, classes=["neg", "pos"])
        >>> teacher.estimate_cost(40, classes=["neg", "pos"]) == 2 * one
        True
        """
        self._validate_params()
        names = class_names(classes)[0] if classes is not None else ["label"]
        price = model_price(self.model, self.prices)
        if isinstance(items_or_n, Integral):
            if items_or_n < 0:
                raise ValueError(f"items_or_n={items_or_n} must be >= 0.")
            return self._discount() * cost_of_n_items(
                int(items_or_n), empty_request=self._label_request([], names),
                names=names, batch_size=self.batch_size, price=price,
                min_cache=self._min_cache())
        texts = _check_texts(items_or_n, "items_or_n")
        cache = resolve_cache(self.cache)
        keys = item_keys(self._label_request([], names), texts)
        stored = cache.get_many(keys) if cache is not None else {}
        todo = list({k: t for k, t in zip(keys, texts) if k not in stored}.values())
        requests = [self._label_request(batch, names)
                    for batch in _batches(todo, self.batch_size)]
        counted = self._get_transport().count_tokens(
            self._settings(cache), requests[:MAX_COUNTED_BATCHES])
        return self._discount() * cost_of_requests(
            requests, counted=counted, names=names, batch_size=self.batch_size,
            price=price, min_cache=self._min_cache())

    def _discount(self):
        return BATCH_DISCOUNT if self.batch_api else 1.0

    def _min_cache(self):
        # The estimate's view of prompt caching: the model's shortest cached
        # prefix, or None when caching is off.
        return min_cache_tokens(self.model) if self.prompt_caching else None

    # -- transport --------------------------------------------------------

    def _connect(self):
        """``(send, cache)`` for one call: ``send(request, usage) -> content``."""
        price = model_price(self.model, self.prices)
        cache = resolve_cache(self.cache)
        transport, settings = self._get_transport(), self._settings(cache)

        def send(request, usage):
            return transport.send(settings, price, request, usage)

        return send, cache

    def _batch_connection(self, send, cache):
        transport, settings = self._get_transport(), self._settings(cache)
        return Connection(
            send=send,
            create_batch=lambda requests: transport.create_batch(settings, requests),
            batch_results=lambda batch_id: transport.batch_results(settings, batch_id),
            find_batch=lambda prefix, since: transport.find_batch(settings, prefix,
                                                                  since),
            price=model_price(self.model, self.prices),
        )

    def _settings(self, cache):
        return Settings(
            api_key=self.api_key, base_url=self.base_url, timeout=self.timeout,
            max_retries=self.max_retries, max_tokens=self.max_tokens,
            requests_per_minute=self.requests_per_minute,
            tokens_per_minute=self.tokens_per_minute,
            cache_path=None if cache is None else cache.path,
            prompt_caching=self.prompt_caching,
        )

    def _get_transport(self):
        # One transport per teacher: its rate limit spans all calls, threads
        # and clones (a clone is the same teacher).
        with _INIT_LOCK:
            transport = self.__dict__.get("_transport")
            if transport is None:
                transport = self._transport = Transport()
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
    return check_texts(items, name, hint=_TEXTS_HINT)


def _batches(texts, size):
    """``texts`` in the fewest requests of at most ``size``, of equal sizes.

    Every request pays for the whole static prefix (instructions, classes,
    examples): 25 items go as 13 + 12, not 20 + 5.

    Examples
    --------
    >>> from skakd.teachers._anthropic import _batches
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


def _usage_result(usage, entries, start, by_name=None):
    """A :class:`TeacherResult` of cache ``entries`` and what ``usage`` paid."""
    labels = [by_name[e["label"]] if "label" in e else UNLABELED for e in entries]
    reasons = [e.get("unlabeled") for e in entries]
    return TeacherResult(
        labels=labels,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cost=usage.cost,
        latency=time.perf_counter() - start,
        info=usage.info(),
        reasons=reasons if any(reasons) else None,
    )
