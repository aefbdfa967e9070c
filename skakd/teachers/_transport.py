"""Talking to a provider's API: the SDK client, pacing, sending, errors.

The SDKs do the retrying (backoff, ``retry-after``, which failures are
retryable); this room adds only what they lack, for every provider alike: a
client-side rate limit, usage accounting, a second attempt when an answer
is slow or unreadable, concurrency over batches and errors that say what to
do next. What differs between providers is asked of the adapter
(:class:`~._provider.Provider`).
"""

import dataclasses
import hashlib
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
from ._cost import approx_tokens
from ._ratelimit import RateLimiter

__all__ = ["LATE_FACTOR", "Settings", "Transport", "UnreadableAnswer",
           "explain_status", "map_batches", "redact", "resume_hint"]

logger = logging.getLogger("skakd.teachers")

#: A slow attempt is awaited up to this many times ``timeout`` after a second
#: attempt started, so that its answer, billed by the API, is counted.
LATE_FACTOR = 10
_MAX_ATTEMPTS_IN_FLIGHT = 256
_MAX_BATCH_POLL = 30.0  # seconds between two polls of a batch, at most
_CLOCK_SLACK = 300.0  # seconds our clock and the API's may disagree
_SECRET_HEADERS = ("x-api-key", "authorization", "api-key")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The teacher's parameters that decide how requests travel.

    Built afresh for every call, so that ``set_params`` and a rotated key in
    the environment take effect at once.
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
    env_key: str | None = "ANTHROPIC_API_KEY"

    def key(self):
        """The API key in clear, read from the environment if not given."""
        if self.api_key:
            return self.api_key.get_secret_value()
        return os.environ.get(self.env_key or "") or None


class UnreadableAnswer(Exception):
    """A response the server sent whole (status 200) that cannot be read.

    Retried like a transient fault: a proxy's error page or a cut body says
    nothing about the request.
    """


class Transport:
    """The SDK client and the rate limiter that one teacher's calls share.

    The client is rebuilt when the key, ``base_url``, ``timeout`` or
    ``max_retries`` change, the limiter when its limits change. Thread-safe;
    never pickled (the teacher drops it).

    Parameters
    ----------
    provider : Provider
        The adapter of the API.
    """

    def __init__(self, provider):
        self.provider = provider
        self._lock = threading.Lock()
        self._client = None
        self._fingerprint = None
        self._limiter = None
        self._executor = None

    def client(self, settings):
        """The SDK client for ``settings``; raises if there are no credentials."""
        key = settings.key()
        # The fingerprint hashes the key: the teacher never stores it in clear.
        digest = hashlib.sha256((key or "").encode()).hexdigest()
        fingerprint = (digest, settings.base_url, settings.timeout,
                       settings.max_retries)
        with self._lock:
            if self._fingerprint != fingerprint:
                self._client = self.provider.client(key, settings)
                self._fingerprint = fingerprint
            client = self._client
        if not self.provider.has_credentials(client):
            raise ValueError(
                f"{self.provider.name} has no credentials: api_key is None and "
                f"{settings.env_key} is not set (nor any other credential the "
                "SDK knows); set the environment variable or pass api_key=."
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
        """One paid request (SDK retries included): its :class:`Reply`.

        The tokens, cost and retries of every answer that arrives are added
        to ``usage``. An attempt slower than ``settings.timeout``, or whose
        answer cannot be read, is followed by a second one (up to
        ``max_retries`` of them); the first good answer is used, and the
        slower attempts are still awaited (up to :data:`LATE_FACTOR` times
        the timeout) so that an answer the API billed after the timeout is
        counted too.
        """
        provider = self.provider
        client = self.client(settings)
        limiter = self.limiter(settings)
        reserved = approx_tokens(provider.chars(request)) + settings.max_tokens
        limiter.acquire(reserved)
        attempts = self._attempts(client, settings, request)
        messages = [f.result() for f in attempts if f.exception() is None]
        if not messages:
            raise _explained(attempts[0].exception(), settings, request["model"],
                             provider)
        for message, retries in messages:
            spent = provider.spent(message)
            usage.charge(spent, price, retries)
            # The reservation was a guess: pace later requests by the real use.
            limiter.correct(spent.input_tokens + spent.output_tokens - reserved)
            reserved = 0
        usage.count("n_api_retries", len(attempts) - 1)
        reply = provider.reply(messages[0][0], request)
        if reply.truncated:
            logger.warning("%s: an answer was cut at max_tokens=%d; raise "
                           "max_tokens or lower batch_size.", provider.name,
                           settings.max_tokens)
        return reply

    def create_batch(self, settings, requests):
        """Send ``[(custom_id, request)]`` as one batch; its id."""
        client = self.client(settings)
        try:
            batch_id = self.provider.create_batch(client, settings, requests)
        except Exception as exc:
            raise _explained(exc, settings, requests[0][1]["model"],
                             self.provider) from None
        logger.info("%s: sent batch %s (%d requests)", self.provider.name,
                    batch_id, len(requests))
        return batch_id

    def batch_results(self, settings, batch_id):
        """Wait for a batch to end; ``{custom_id: message}``.

        Polls with backoff (0.05 s doubling up to 30 s), logging progress;
        requests that errored, expired or were canceled are left out (the
        caller asks them again).
        """
        client = self.client(settings)
        pause = 0.05
        try:
            while True:
                ended, done, to_go = self.provider.batch_progress(client, batch_id)
                if ended:
                    return self.provider.batch_messages(client, batch_id)
                logger.info("%s: batch %s: %d done, %d to go", self.provider.name,
                            batch_id, done, to_go)
                time.sleep(pause)
                pause = min(2 * pause, _MAX_BATCH_POLL)
        except Exception as exc:
            raise _explained(exc, settings, None, self.provider) from None

    def find_batch(self, settings, prefix, since):
        """The id of the batch created after ``since`` (epoch seconds) whose
        requests' ``custom_id`` start with ``prefix``, or ``None``.

        For a process that died while creating a batch: its id never reached
        the cache, but the batch may exist. Waits for recent batches to end
        to read their ``custom_id``.
        """
        client = self.client(settings)
        try:
            recent = list(self.provider.recent_batches(client, since - _CLOCK_SLACK))
        except Exception as exc:
            raise _explained(exc, settings, None, self.provider) from None
        for batch_id in recent:
            if any(custom_id.startswith(prefix)
                   for custom_id in self.batch_results(settings, batch_id)):
                return batch_id
        return None

    def _attempts(self, client, settings, request):
        """Start attempts until one answers; return them all, finished."""
        pool = self._pool()

        def start():
            attempts.append(pool.submit(self._attempt, client, settings, request))
            running.add(attempts[-1])

        attempts, running = [], set()
        start()
        while running:
            done, running = wait(running, timeout=settings.timeout,
                                 return_when=FIRST_COMPLETED)
            if any(f.exception() is None for f in done):
                break
            unreadable = any(isinstance(f.exception(), UnreadableAnswer)
                             for f in done)
            if (not done or unreadable) and len(attempts) <= settings.max_retries:
                start()
        wait(attempts)  # late answers: billed, so counted
        return attempts

    def _attempt(self, client, settings, request):
        """One attempt (the SDK retries errors, not slow or unreadable answers)."""
        raw = self.provider.create(client, settings, request,
                                   settings.timeout * LATE_FACTOR)
        try:
            return raw.parse(), raw.retries_taken
        except Exception as exc:
            raise UnreadableAnswer(
                f"{self.provider.name}: the server answered {raw.status_code} "
                f"with a body that could not be read ({type(exc).__name__}: "
                f"{str(exc)[:120]})") from None

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
        if settings.key() is None:
            return None
        return self.provider.count_tokens(self.client(settings), requests)


def _explained(exc, settings, model, provider):
    """``exc`` with a note on what to do, and without the request's key."""
    if isinstance(exc, UnreadableAnswer):
        add_note(exc, resume_hint(settings, f"still unreadable after "
                                   f"max_retries={settings.max_retries} retries"))
    else:
        note = provider.explain(exc, settings, model)
        if note:
            add_note(exc, note)
    redact(exc)
    return exc


def redact(exc):
    """Mask the credentials in every request an exception can reach.

    SDK exceptions hold the ``httpx`` request with its headers (and the
    response holds it again); a pickled, logged or joblib-shipped exception
    would carry the key. The causes and contexts are walked too.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        response = getattr(exc, "response", None)
        for request in (getattr(exc, "request", None),
                        getattr(response, "request", None),
                        getattr(response, "_request", None)):
            _mask(getattr(request, "headers", None))
        exc = exc.__cause__ or exc.__context__


def _mask(headers):
    if headers is None:
        return
    for name in list(headers.keys()):
        if name.lower() in _SECRET_HEADERS:
            headers[name] = "[redacted]"


def explain_status(status, settings, model, provider):
    """What an HTTP error status means for the user, and what to do."""
    name = provider.name
    if status in (401, 403):
        return (f"{name}: the API refused the credentials ({status}); set "
                f"{provider.env_key} or pass api_key=. Not retried.")
    if status == 429 or status >= 500:
        return resume_hint(settings, (
            f"{name}: still failing ({status}) after max_retries="
            f"{settings.max_retries} retries"))
    return (f"{name}: the request was rejected ({status}) and is not retried; "
            f"check model={model!r}, max_tokens={settings.max_tokens} and the "
            "other parameters.")


def resume_hint(settings, what):
    """The note of a failure that a re-run resumes for free."""
    return (f"{what}. Answers already received are in the cache "
            f"({settings.cache_path or 'none: cache=None'}): re-running fit with "
            "the same random_state resumes without paying for them again.")


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
