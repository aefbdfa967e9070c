"""Talking to the Messages API: the SDK client, pacing, sending, errors.

The ``anthropic`` SDK does the retrying (backoff, ``retry-after``, which
failures are retryable); this room adds only what it lacks: a client-side
rate limit, usage accounting, concurrency over batches and errors that say
what to do next.
"""

import dataclasses
import functools
import hashlib
import inspect
import logging
import os
import threading
import time
from concurrent.futures import (
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    ThreadPoolExecutor,
    wait,
)

from .._items import add_note
from ._cost import CHARS_PER_TOKEN, approx_tokens
from ._ratelimit import RateLimiter

__all__ = ["LATE_FACTOR", "Settings", "Transport", "map_batches", "redact"]

logger = logging.getLogger("skakd.teachers")

#: A slow attempt is awaited up to this many times ``timeout`` after a second
#: attempt started, so that its answer, billed by the API, is counted.
LATE_FACTOR = 10
_MAX_ATTEMPTS_IN_FLIGHT = 256
_MAX_BATCH_POLL = 30.0  # seconds between two polls of a Message Batch, at most
_CLOCK_SLACK = 300.0  # seconds our clock and the API's may disagree
_SECRET_HEADERS = ("x-api-key", "authorization")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The teacher's parameters that decide how requests travel.

    Built afresh for every call, so that ``set_params`` and a rotated
    ``ANTHROPIC_API_KEY`` take effect at once.
    """

    api_key: object  # a Secret, or None for the environment's
    base_url: str | None
    timeout: float
    max_retries: int
    max_tokens: int
    requests_per_minute: float | None
    tokens_per_minute: float | None
    cache_path: str | None  # named in the resume hint of an error
    prompt_caching: bool = True

    def key(self):
        """The API key in clear, read from the environment if not given."""
        if self.api_key:
            return self.api_key.get_secret_value()
        return os.environ.get("ANTHROPIC_API_KEY") or None


class Transport:
    """The SDK client and the rate limiter that one teacher's calls share.

    The client is rebuilt when the key, ``base_url``, ``timeout`` or
    ``max_retries`` change, the limiter when its limits change. Thread-safe;
    never pickled (the teacher drops it).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._client = None
        self._fingerprint = None
        self._limiter = None
        self._executor = None

    def client(self, settings):
        """The SDK client for ``settings``; raises if there are no credentials."""
        import anthropic

        key = settings.key()
        # The fingerprint hashes the key: the teacher never stores it in clear.
        digest = hashlib.sha256((key or "").encode()).hexdigest()
        fingerprint = (digest, settings.base_url, settings.timeout,
                       settings.max_retries)
        with self._lock:
            if self._fingerprint != fingerprint:
                options = {} if key is None else {"api_key": key}
                self._client = anthropic.Anthropic(
                    base_url=settings.base_url, timeout=settings.timeout,
                    max_retries=settings.max_retries, **options,
                )
                self._fingerprint = fingerprint
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

    def limiter(self, settings):
        """The rate limiter of ``settings``' limits, shared across calls."""
        limits = (settings.requests_per_minute, settings.tokens_per_minute)
        with self._lock:
            limiter = self._limiter
            if limiter is None or (limiter.requests_per_minute,
                                   limiter.tokens_per_minute) != limits:
                limiter = self._limiter = RateLimiter(*limits)
            return limiter

    def send(self, settings, price, request, usage):
        """One paid request (SDK retries included); ``(content, stop_reason)``.

        The tokens, cost and retries of every answer that arrives are added
        to ``usage``. An attempt slower than ``settings.timeout`` is not
        abandoned: a second attempt starts (up to ``max_retries`` of them),
        the first answer is used, and the slower attempts are still awaited
        (up to :data:`LATE_FACTOR` times the timeout) so that an answer the
        API billed after the timeout is counted too.
        """
        client = self.client(settings)
        limiter = self.limiter(settings)
        reserved = approx_tokens(request) + settings.max_tokens
        limiter.acquire(reserved)
        attempts = self._attempts(client, settings, request)
        responses = [f.result() for f in attempts if f.exception() is None]
        if not responses:
            raise _explained(attempts[0].exception(), settings, request["model"])
        for raw in responses:
            spent = raw.parse().usage
            usage.charge(spent, price, raw.retries_taken)
            # The reservation was a guess: pace later requests by the real use.
            limiter.correct(spent.input_tokens + spent.output_tokens - reserved)
            reserved = 0
        usage.count("n_api_retries", len(attempts) - 1)
        message = responses[0].parse()
        if message.stop_reason == "max_tokens":
            logger.warning("AnthropicTeacher: an answer was cut at max_tokens=%d; "
                           "raise max_tokens or lower batch_size.",
                           settings.max_tokens)
        return ([block.model_dump(mode="json") for block in message.content],
                message.stop_reason)

    def create_batch(self, settings, requests):
        """Send ``[(custom_id, request)]`` as one Message Batch; its id."""
        client = self.client(settings)
        try:
            batch = client.messages.batches.create(requests=[
                {"custom_id": custom_id, "params": _batch_params(r, settings)}
                for custom_id, r in requests])
        except Exception as exc:
            raise _explained(exc, settings, requests[0][1]["model"]) from None
        logger.info("AnthropicTeacher: sent Message Batch %s (%d requests)",
                    batch.id, len(requests))
        return batch.id

    def batch_results(self, settings, batch_id):
        """Wait for a Message Batch to end; ``{custom_id: message}``.

        Polls with backoff (0.05 s doubling up to 30 s), logging progress;
        requests that errored, expired or were canceled are left out (the
        caller asks them again).
        """
        client = self.client(settings)
        pause = 0.05
        while True:
            batch = client.messages.batches.retrieve(batch_id)
            if batch.processing_status == "ended":
                break
            counts = batch.request_counts
            logger.info("AnthropicTeacher: Message Batch %s: %d done, %d to go",
                        batch_id, counts.succeeded + counts.errored,
                        counts.processing)
            time.sleep(pause)
            pause = min(2 * pause, _MAX_BATCH_POLL)
        return {entry.custom_id: entry.result.message
                for entry in client.messages.batches.results(batch_id)
                if entry.result.type == "succeeded"}

    def find_batch(self, settings, prefix, since):
        """The id of the batch created after ``since`` (epoch seconds) whose
        requests' ``custom_id`` start with ``prefix``, or ``None``.

        For a process that died while creating a batch: its id never reached
        the cache, but the batch may exist. Waits for recent batches to end
        to read their ``custom_id``.
        """
        client = self.client(settings)
        for batch in client.messages.batches.list(limit=100):
            if batch.created_at.timestamp() < since - _CLOCK_SLACK:
                break  # newest first: the rest are older
            if any(custom_id.startswith(prefix)
                   for custom_id in self.batch_results(settings, batch.id)):
                return batch.id
        return None

    def _attempts(self, client, settings, request):
        """Start attempts until one answers; return them all, finished."""
        pool = self._pool()
        attempts = [pool.submit(_create, client, settings, request)]
        running = set(attempts)
        while running:
            done, running = wait(running, timeout=settings.timeout,
                                 return_when=FIRST_COMPLETED)
            if any(f.exception() is None for f in done):
                break
            if not done and len(attempts) <= settings.max_retries:
                attempts.append(pool.submit(_create, client, settings, request))
                running.add(attempts[-1])
        wait(attempts)  # late answers: billed, so counted
        return attempts

    def _pool(self):
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    _MAX_ATTEMPTS_IN_FLIGHT, thread_name_prefix="skakd-attempt")
            return self._executor

    def count_tokens(self, settings, requests):
        """Input tokens of ``requests`` as the API counts them (free), or ``None``.

        ``None`` without a key or when the API cannot count: callers then
        fall back to characters / :data:`~._cost.CHARS_PER_TOKEN`.
        """
        import anthropic

        if settings.key() is None:
            return None
        # An estimate must not wait out a backoff: one attempt, then fall back.
        client = self.client(settings).with_options(max_retries=0)
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


def _create(client, settings, request):
    """One attempt (the SDK retries errors, not slow answers)."""
    return client.messages.with_raw_response.create(
        max_tokens=settings.max_tokens, timeout=settings.timeout * LATE_FACTOR,
        **_sdk_arguments(request, settings.prompt_caching),
    )


def _batch_params(request, settings):
    """``request`` as the ``params`` of one Message Batches request."""
    params = {"max_tokens": settings.max_tokens, **request}
    if params["temperature"] is None:
        del params["temperature"]
    if settings.prompt_caching:
        params["system"] = _cached_system(request["system"])
    return params


def _cached_system(system):
    # The system prompt as one block marked as the end of the cached prefix.
    return [{"type": "text", "text": system,
             "cache_control": {"type": "ephemeral"}}]


def _explained(exc, settings, model):
    """``exc`` with a note on what to do, and without the request's key."""
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        add_note(exc, explain_status(exc, settings, model))
    elif isinstance(exc, anthropic.APIConnectionError):
        add_note(exc, explain_connection(exc, settings))
    redact(exc)
    return exc


def redact(exc):
    """Mask the credentials in the request an SDK exception carries.

    The SDK's exceptions hold the ``httpx`` request with its headers: a
    pickled (or logged, or joblib-shipped) exception would carry the key.
    """
    response = getattr(exc, "response", None)
    for request in (getattr(exc, "request", None),
                    getattr(response, "request", None)):
        headers = getattr(request, "headers", None)
        if headers is None:
            continue
        for name in list(headers.keys()):
            if name.lower() in _SECRET_HEADERS:
                headers[name] = "[redacted]"


def explain_status(exc, settings, model):
    """What an HTTP error status means for the user, and what to do."""
    status = exc.status_code
    if status in (401, 403):
        return (
            f"AnthropicTeacher: the API refused the credentials ({status}); "
            "set ANTHROPIC_API_KEY or pass api_key=. Not retried."
        )
    if status == 429 or status >= 500:
        return (
            f"AnthropicTeacher: still failing ({status}) after max_retries="
            f"{settings.max_retries} retries. Answers already received are in the "
            f"cache ({_cache_name(settings)}): re-running fit with the same "
            "random_state resumes without paying for them again."
        )
    return (
        f"AnthropicTeacher: the request was rejected ({status}) and is not "
        f"retried; check model={model!r}, max_tokens={settings.max_tokens} "
        "and the other parameters."
    )


def explain_connection(exc, settings):
    """What a timeout or connection failure means, and where answers are."""
    import anthropic

    what = (f"timed out after timeout={settings.timeout}s"
            if isinstance(exc, anthropic.APITimeoutError)
            else "could not connect to the API")
    return (
        f"AnthropicTeacher: {what} on all {settings.max_retries + 1} attempts "
        f"(base_url={settings.base_url!r}). Answers already received are in the "
        f"cache ({_cache_name(settings)})."
    )


def _cache_name(settings):
    return settings.cache_path or "none: cache=None"


def map_batches(func, batches, max_concurrency):
    """``[func(batch) for batch in batches]``, at most ``max_concurrency`` at once.

    Examples
    --------
    >>> from skakd.teachers._transport import map_batches
    >>> map_batches(len, [[1], [1, 2], [1, 2, 3]], max_concurrency=2)
    [1, 2, 3]
    """
    if len(batches) <= 1 or max_concurrency == 1:
        return [func(batch) for batch in batches]
    executor = ThreadPoolExecutor(min(max_concurrency, len(batches)),
                                  thread_name_prefix="skakd-teacher")
    futures = [executor.submit(func, batch) for batch in batches]
    try:
        wait(futures, return_when=FIRST_EXCEPTION)
        return [future.result() for future in futures]
    finally:
        # On an error or Ctrl-C, queued batches are dropped and the ones in
        # flight are awaited: their answers reach the cache and their usage
        # the bill before the error goes on.
        executor.shutdown(wait=True, cancel_futures=True)


def _sdk_arguments(request, prompt_caching=False):
    """``request`` as ``messages.create`` arguments of the installed SDK.

    With ``prompt_caching``, the system prompt (and the tool schema before
    it) is marked as the cached prefix: requests after the first read it at
    a tenth of the input price. The mark is not part of the cache key: it
    changes the price, not the answer.
    """
    import anthropic

    arguments = dict(request)
    if prompt_caching:
        arguments["system"] = _cached_system(request["system"])
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
