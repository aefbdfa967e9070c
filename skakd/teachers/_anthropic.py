"""AnthropicTeacher: Claude as a teacher, with cache, budget and retries."""

import dataclasses
import functools
import hashlib
import inspect
import logging
import math
import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ._base import UNLABELED, BaseTeacher, TeacherResult
from ._cache import TeacherCache, request_key, resolve_cache
from ._generation import GenerationResult
from ._pricing import cost_of_usage, model_price
from ._prompts import (
    LABEL_TOOL,
    SAMPLES_TOOL,
    class_names,
    corrective_messages,
    label_system_prompt,
    label_tool,
    label_user_message,
    parse_labels,
    parse_samples,
    samples_system_prompt,
    samples_tool,
)
from ._ratelimit import RateLimiter
from ._secret import Secret

__all__ = ["AnthropicTeacher"]

logger = logging.getLogger("skakd.teachers")

#: Characters per token of the documented fallback approximation, used when
#: the API's token counting is unavailable (no key, no network).
CHARS_PER_TOKEN = 4
#: Assumed length of a text when ``estimate_cost`` gets a number of items and
#: the teacher has not seen any text yet (about 50 tokens).
DEFAULT_ITEM_CHARS = 200
# Output tokens of a tool call beyond its entries (block framing, braces).
_OUTPUT_OVERHEAD_TOKENS = 30
# Batches whose tokens are counted exactly by estimate_cost; the rest are
# extrapolated from the counted ones' tokens per character.
_MAX_COUNTED_BATCHES = 8
_INIT_LOCK = threading.Lock()


@dataclasses.dataclass
class _Usage:
    """Usage of the requests behind one batch."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    n_requests: int = 0
    n_api_retries: int = 0
    n_corrections: int = 0

    def add(self, other):
        for name in ("input_tokens", "output_tokens", "cost", "n_requests",
                     "n_api_retries", "n_corrections"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


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
    never guessed.

    Every complete, valid answer is written to the ``cache`` before it is
    used. Re-running a fit with the same ``random_state`` after a crash or
    Ctrl-C therefore replays the rounds already paid for at no cost, and
    fits, clones, CV folds and processes sharing a cache file never pay for
    the same request twice.

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
        Seconds before one attempt times out.
    cache : bool, str, path-like, TeacherCache or None, default=True
        Where answers persist: ``True`` for
        :func:`~skakd.teachers.default_cache_path`, a file path, a
        :class:`~skakd.teachers.TeacherCache`, or ``None`` for no cache
        (a crashed fit then pays again). Keys hash the model, system prompt,
        messages, tool schema and temperature. With ``temperature > 0`` a
        repeated request replays the cached answer.
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

    See Also
    --------
    CachedTeacher : A cache for any other teacher.
    OracleTeacher : Simulate a teacher offline.

    Notes
    -----
    Usage comes from each response's ``usage``; ``TeacherResult.info`` adds
    ``n_requests``, ``n_api_retries`` (SDK retries), ``n_corrections``
    (corrective re-asks) and ``n_cache_hits`` (batches replayed). Retries
    inside the SDK are not paced by the client-side rate limit.

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
        texts = _check_texts(items)
        names, by_name = class_names(classes)
        price = model_price(self.model, self.prices)
        cache = resolve_cache(self.cache)
        self._note_lengths(texts)
        start = time.perf_counter()
        step = self.batch_size
        batches = [texts[i : i + step] for i in range(0, len(texts), step)]
        answers = self._map(
            lambda batch: self._label_batch(batch, names, cache, price), batches
        )
        usage, labels, n_cached = _Usage(), [], 0
        for batch, (batch_labels, batch_usage, cached) in zip(batches, answers):
            usage.add(batch_usage)
            n_cached += len(batch) if cached else 0
            labels += [UNLABELED if n is None else by_name[n] for n in batch_labels]
        return TeacherResult(
            labels=labels,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=usage.cost,
            latency=time.perf_counter() - start,
            n_cached=n_cached,
            info=_info(usage, n_cache_hits=sum(a[2] for a in answers)),
        )

    def _label_request(self, texts, names):
        return {
            "model": self.model,
            "system": label_system_prompt(
                names, self.class_descriptions, self.instructions, self.examples
            ),
            "messages": [{"role": "user", "content": label_user_message(texts)}],
            "tools": [label_tool(names)],
            "tool_choice": {"type": "tool", "name": LABEL_TOOL},
            "temperature": _temperature(self.temperature),
        }

    def _label_batch(self, texts, names, cache, price):
        """``(labels, usage, cached)`` of one batch; persisted before use."""
        request = self._label_request(texts, names)
        key = request_key(request)
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return hit["labels"], _Usage(), True
        usage = _Usage()
        content = self._send(request, price, usage)
        labels, problems = parse_labels(content, len(texts), names)
        if problems:
            logger.info("AnthropicTeacher: correcting a batch answer: %s",
                        "; ".join(problems[:5]))
            usage.n_corrections += 1
            retry = dict(request, messages=corrective_messages(
                request["messages"], content, LABEL_TOOL, problems))
            second, _ = parse_labels(self._send(retry, price, usage),
                                     len(texts), names)
            labels = [b if b is not None else a for a, b in zip(labels, second)]
        if cache is not None and all(label is not None for label in labels):
            # First writer wins: a process that raced us gets the same answer.
            labels = cache.put(key, {
                "labels": labels, "model": self.model,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
            })["labels"]
        return labels, usage, False

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
        price = model_price(self.model, self.prices)
        cache = resolve_cache(self.cache)
        if request.class_descriptions is None and self.class_descriptions:
            request = dataclasses.replace(
                request, class_descriptions=self.class_descriptions
            )
        start = time.perf_counter()
        message = {
            "model": self.model,
            "system": samples_system_prompt(self.instructions),
            "messages": [{"role": "user", "content": request.to_prompt()}],
            "tools": [samples_tool(names)],
            "tool_choice": {"type": "tool", "name": SAMPLES_TOOL},
            "temperature": _temperature(self.temperature),
        }
        key = request_key(message)
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            samples = [(text, by_name[label]) for text, label in hit["samples"]]
            return GenerationResult(samples, n_cached=len(samples),
                                    latency=time.perf_counter() - start,
                                    info={"n_cache_hits": 1, "n_invalid": 0})
        usage = _Usage()
        content = self._send(message, price, usage)
        samples, problems = parse_samples(content, request.n_samples, names)
        if problems:
            usage.n_corrections += 1
            retry = dict(message, messages=corrective_messages(
                message["messages"], content, SAMPLES_TOOL, problems))
            second, problems = parse_samples(
                self._send(retry, price, usage), request.n_samples, names
            )
            samples = second or samples
        if cache is not None and samples and not problems:
            samples = [tuple(s) for s in cache.put(key, {"samples": samples})[
                "samples"]]
        return GenerationResult(
            [(text, by_name[label]) for text, label in samples],
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=usage.cost,
            latency=time.perf_counter() - start,
            info=_info(usage, n_cache_hits=0,
                       n_invalid=max(request.n_samples - len(samples), 0)),
        )

    # -- cost -------------------------------------------------------------

    def estimate_cost(self, items_or_n, classes=None):
        """Estimate what labelling items would cost, in USD, before paying.

        Parameters
        ----------
        items_or_n : int or sequence of str
            The texts to label, or how many. With texts, batches already in
            the cache cost nothing and input tokens are counted by the API's
            token counting endpoint (free) for up to 8 batches, extrapolated
            to the rest per character; without a key or network, and for a
            number of items, input tokens are approximated as characters / 4
            (:data:`CHARS_PER_TOKEN`), a number of items being assumed as long
            as the texts this teacher has labelled so far, or
            :data:`DEFAULT_ITEM_CHARS` characters. Output tokens are estimated
            from the answer's JSON size (characters / 4).
        classes : sequence or None, default=None
            The label set (prompt size and answer size depend on it).

        Returns
        -------
        cost : float
            Estimated USD.
        """
        self._validate_params()
        names = class_names(classes)[0] if classes is not None else ["label"]
        price = model_price(self.model, self.prices)
        if isinstance(items_or_n, Integral):
            if items_or_n < 0:
                raise ValueError(f"items_or_n={items_or_n} must be >= 0.")
            return self._estimate_n(int(items_or_n), names, price)
        texts = _check_texts(items_or_n, "items_or_n")
        cache = resolve_cache(self.cache)
        step = self.batch_size
        requests = [self._label_request(texts[i : i + step], names)
                    for i in range(0, len(texts), step)]
        if cache is not None:
            stored = cache.get_many(request_key(r) for r in requests)
            requests = [r for r in requests if request_key(r) not in stored]
        n_items = sum(_n_items(r) for r in requests)
        output = n_items * _entry_tokens(names, step) + len(
            requests) * _OUTPUT_OVERHEAD_TOKENS
        return cost_of_usage(price, self._input_tokens(requests), output)

    def _estimate_n(self, n, names, price):
        if n == 0:
            return 0.0
        chars = self.__dict__.get("_mean_chars", DEFAULT_ITEM_CHARS)
        empty = self._label_request([], names)
        n_batches = math.ceil(n / self.batch_size)
        per_item = (len(label_user_message(["x" * round(chars)]))
                    - len(label_user_message([]))) / CHARS_PER_TOKEN
        input_tokens = n_batches * _approx_tokens(empty) + n * per_item
        output = n * _entry_tokens(names, self.batch_size) + (
            n_batches * _OUTPUT_OVERHEAD_TOKENS)
        return cost_of_usage(price, input_tokens, output)

    def _input_tokens(self, requests):
        """Input tokens of requests: counted by the API where possible."""
        if not requests:
            return 0
        counted = self._count_tokens(requests[:_MAX_COUNTED_BATCHES])
        approx = sum(_approx_tokens(r) for r in requests)
        if counted is None:
            return approx
        sample_chars = sum(_chars(r) for r in requests[:_MAX_COUNTED_BATCHES])
        rest_chars = sum(_chars(r) for r in requests[_MAX_COUNTED_BATCHES:])
        return counted + counted * rest_chars / max(sample_chars, 1)

    def _count_tokens(self, requests):
        import anthropic

        if self._resolve_key() is None:
            return None
        client = self._get_client().with_options(max_retries=0)
        try:
            return sum(
                client.messages.count_tokens(
                    **{k: v for k, v in r.items() if k != "temperature"}
                ).input_tokens
                for r in requests
            )
        except anthropic.APIError as exc:
            logger.info("AnthropicTeacher: token counting unavailable (%s); "
                        "using characters / %d", type(exc).__name__,
                        CHARS_PER_TOKEN)
            return None

    # -- transport --------------------------------------------------------

    def _send(self, request, price, usage):
        """One paid request (SDK retries included); returns its content."""
        import anthropic

        client = self._get_client()
        estimate = _approx_tokens(request)
        self._get_limiter().acquire(estimate + self.max_tokens)
        try:
            raw = client.messages.with_raw_response.create(
                max_tokens=self.max_tokens, **_sdk_arguments(request)
            )
        except anthropic.APIStatusError as exc:
            _add_note(exc, self._explain_status(exc))
            raise
        except anthropic.APIConnectionError as exc:
            _add_note(exc, self._explain_connection(exc))
            raise
        message = raw.parse()
        spent = message.usage
        used = spent.input_tokens + spent.output_tokens
        self._get_limiter().correct(used - estimate - self.max_tokens)
        usage.input_tokens += spent.input_tokens
        usage.output_tokens += spent.output_tokens
        usage.cost += cost_of_usage(
            price, spent.input_tokens, spent.output_tokens,
            spent.cache_creation_input_tokens or 0,
            spent.cache_read_input_tokens or 0,
        )
        usage.n_requests += 1
        usage.n_api_retries += raw.retries_taken
        if message.stop_reason == "max_tokens":
            logger.warning("AnthropicTeacher: an answer was cut at max_tokens=%d; "
                           "raise max_tokens or lower batch_size.", self.max_tokens)
        return [block.model_dump(mode="json") for block in message.content]

    def _explain_status(self, exc):
        status = exc.status_code
        if status in (401, 403):
            return (
                f"AnthropicTeacher: the API refused the credentials ({status}); "
                "set ANTHROPIC_API_KEY or pass api_key=. Not retried."
            )
        if status == 429 or status >= 500:
            return (
                f"AnthropicTeacher: still failing ({status}) after max_retries="
                f"{self.max_retries} retries. Answers already received are in the "
                f"cache ({self._cache_name()}): re-running fit with the same "
                "random_state resumes without paying for them again."
            )
        return (
            f"AnthropicTeacher: the request was rejected ({status}) and is not "
            f"retried; check model={self.model!r}, max_tokens={self.max_tokens} "
            "and the other parameters."
        )

    def _explain_connection(self, exc):
        import anthropic

        what = (f"timed out after timeout={self.timeout}s"
                if isinstance(exc, anthropic.APITimeoutError)
                else "could not connect to the API")
        return (
            f"AnthropicTeacher: {what} on all {self.max_retries + 1} attempts "
            f"(base_url={self.base_url!r}). Answers already received are in the "
            f"cache ({self._cache_name()})."
        )

    def _cache_name(self):
        cache = resolve_cache(self.cache)
        return "none: cache=None" if cache is None else cache.path

    def _resolve_key(self):
        key = self.api_key
        if key:
            return key.get_secret_value()
        return os.environ.get("ANTHROPIC_API_KEY") or None

    def _get_client(self):
        import anthropic

        key = self._resolve_key()
        # The fingerprint hashes the key: the teacher never stores it in clear.
        digest = hashlib.sha256((key or "").encode()).hexdigest()
        fingerprint = (digest, self.base_url, self.timeout, self.max_retries)
        with _INIT_LOCK:
            if self.__dict__.get("_client_fingerprint") != fingerprint:
                options = {} if key is None else {"api_key": key}
                self._client = anthropic.Anthropic(
                    base_url=self.base_url, timeout=self.timeout,
                    max_retries=self.max_retries, **options,
                )
                self._client_fingerprint = fingerprint
            client = self._client
        if not any(getattr(client, name, None) for name in
                   ("api_key", "auth_token", "credentials")):
            raise ValueError(
                "AnthropicTeacher has no credentials: api_key is None and "
                "ANTHROPIC_API_KEY is not set (nor any other credential the "
                "anthropic SDK knows); set the environment variable or pass "
                "api_key=."
            )
        return client

    def _get_limiter(self):
        limits = (self.requests_per_minute, self.tokens_per_minute)
        with _INIT_LOCK:
            limiter = self.__dict__.get("_limiter")
            if limiter is None or (limiter.requests_per_minute,
                                   limiter.tokens_per_minute) != limits:
                limiter = self._limiter = RateLimiter(*limits)
            return limiter

    def _map(self, func, batches):
        """``func`` over batches, at most ``max_concurrency`` at once."""
        if len(batches) <= 1 or self.max_concurrency == 1:
            return [func(batch) for batch in batches]
        executor = ThreadPoolExecutor(min(self.max_concurrency, len(batches)),
                                      thread_name_prefix="skakd-teacher")
        try:
            futures = [executor.submit(func, batch) for batch in batches]
            wait(futures, return_when=FIRST_EXCEPTION)
            return [future.result() for future in futures]
        finally:
            # On an error or Ctrl-C, queued batches are dropped; the ones in
            # flight finish in the background and still reach the cache.
            executor.shutdown(wait=False, cancel_futures=True)

    def _note_lengths(self, texts):
        if texts:
            seen = self.__dict__.get("_n_seen", 0)
            mean = self.__dict__.get("_mean_chars", 0.0)
            total = seen + len(texts)
            self._mean_chars = (mean * seen + sum(map(len, texts))) / total
            self._n_seen = total

    def __getstate__(self):
        state = super().__getstate__()
        for name in ("_api_key", "_client", "_client_fingerprint", "_limiter"):
            state.pop(name, None)
        return state


def _temperature(value):
    return None if value is None else float(value)


def _sdk_arguments(request):
    """``request`` as ``messages.create`` arguments of the installed SDK."""
    import anthropic

    arguments = dict(request)
    temperature = arguments.pop("temperature")
    if temperature is None:
        return arguments
    if "temperature" in _create_parameters(anthropic.__version__):
        arguments["temperature"] = temperature
    else:
        arguments["extra_body"] = {"temperature": temperature}
    return arguments


@functools.lru_cache
def _create_parameters(version):
    # Keyed by SDK version; recent SDKs dropped the sampling arguments.
    from anthropic.resources.messages import Messages

    return frozenset(inspect.signature(Messages.create).parameters)


def _check_texts(items, name="items"):
    if isinstance(items, str):
        raise TypeError(
            f"{name} is a single string; expected a sequence of texts."
        )
    texts = items.tolist() if isinstance(items, np.ndarray) else list(items)
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(
                f"AnthropicTeacher labels texts; {name} holds a "
                f"{type(text).__name__} ({str(text)[:40]!r}). Use it on raw "
                "texts (feature extraction belongs inside the student)."
            )
    return texts


def _chars(request):
    parts = [request["system"], *(str(m["content"]) for m in request["messages"]),
             str(request["tools"])]
    return sum(len(part) for part in parts)


def _approx_tokens(request):
    return math.ceil(_chars(request) / CHARS_PER_TOKEN)


def _n_items(request):
    return request["messages"][0]["content"].count('<item id="')


def _entry_tokens(names, batch_size):
    longest = max(names, key=len)
    entry = f'{{"id": {batch_size}, "label": "{longest}"}}, '
    return len(entry) / CHARS_PER_TOKEN


def _info(usage, **extra):
    return {
        "n_requests": usage.n_requests,
        "n_api_retries": usage.n_api_retries,
        "n_corrections": usage.n_corrections,
        **extra,
    }


def _add_note(exc, note):
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)
