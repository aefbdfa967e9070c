"""Client-side pacing of requests and tokens per minute."""

import threading
import time

__all__ = ["RateLimiter"]


class RateLimiter:
    """Space out requests so that they stay under per-minute limits.

    Each limit is a virtual schedule (the generic cell rate algorithm): a
    request reserves ``cost * 60 / limit`` seconds of it and waits for its
    slot, so traffic is smooth instead of bursting into the server's limit.
    Token use is reserved from an estimate before sending and corrected with
    the real ``usage`` afterwards. Thread-safe.

    Parameters
    ----------
    requests_per_minute : float or None
        Largest request rate; ``None`` for no limit.
    tokens_per_minute : float or None
        Largest rate of input plus output tokens; ``None`` for no limit.

    Examples
    --------
    >>> from skakd.teachers._ratelimit import RateLimiter
    >>> limiter = RateLimiter(requests_per_minute=6000)
    >>> waits = [limiter.acquire() for _ in range(3)]
    >>> 0.0 <= waits[2] <= 0.05
    True
    """

    def __init__(self, requests_per_minute=None, tokens_per_minute=None):
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._lock = threading.Lock()
        self._next_request = 0.0
        self._next_token = 0.0

    def acquire(self, tokens=0):
        """Wait for a slot for one request of about ``tokens`` tokens.

        Returns the seconds waited.
        """
        with self._lock:
            now = time.monotonic()
            start = now
            if self.requests_per_minute:
                start = max(start, self._next_request)
                self._next_request = start + 60.0 / self.requests_per_minute
            if self.tokens_per_minute:
                start = max(start, self._next_token)
                self._next_token = start + 60.0 * tokens / self.tokens_per_minute
        wait = start - now
        if wait > 0:
            time.sleep(wait)
        return max(wait, 0.0)

    def correct(self, extra_tokens):
        """Account for ``extra_tokens`` more (or fewer) than reserved."""
        if self.tokens_per_minute and extra_tokens:
            with self._lock:
                self._next_token += 60.0 * extra_tokens / self.tokens_per_minute
