"""Paying once across processes: claims on cache keys, held by a lease."""

import os
import socket
import threading
import time
import uuid

__all__ = ["Lease", "new_owner", "pay_once"]


def new_owner():
    """A claimant id unique across machines, processes, threads and calls."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


class Lease:
    """Hold claims on cache keys while paying for them, renewed in the background.

    Used as a context manager around the paid work: claims are renewed every
    third of ``lease`` seconds (so a slow but live claimant keeps its keys)
    and released on exit, answered or not, so that another process waiting
    for them takes over at once after a failure. A crashed claimant stops
    renewing and its keys are free once the lease expires.
    """

    def __init__(self, cache, lease):
        self.cache, self.lease, self.owner = cache, lease, new_owner()
        self._stop = threading.Event()
        self._thread = None

    def claim(self, keys):
        """The ``keys`` this lease now holds (see :meth:`TeacherCache.claim`)."""
        return self.cache.claim(keys, self.owner, self.lease)

    def _renew(self):
        while not self._stop.wait(self.lease / 3):
            self.cache.renew(self.owner, self.lease)

    def __enter__(self):
        self._thread = threading.Thread(target=self._renew, daemon=True,
                                        name="skakd-lease")
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.cache.release(self.owner)


def pay_once(cache, keys, pay, lease):
    """Answers for ``keys``, paying only for those no one else is paying for.

    Parameters
    ----------
    cache : TeacherCache
        Shared by every process that might ask for the same keys.
    keys : list of str
        Keys not in the cache when the call began.
    pay : callable
        ``pay(keys) -> {key: entry}``: asks the teacher about ``keys`` and
        stores each answer in ``cache`` as it comes.
    lease : float
        Seconds a claim holds without renewal (how long a crashed claimant's
        keys stay blocked).

    Returns
    -------
    answers, paid : dict, set
        ``{key: entry}`` for every key, and the keys this call paid for.
    """
    found, paid, pending, pause = {}, set(), list(keys), 0.02
    if not pending:
        return found, paid
    with Lease(cache, lease) as holder:
        while pending:
            mine = holder.claim(pending)
            if mine:
                found.update(pay(mine))
                paid.update(mine)
            else:  # another process is asking: wait for its answers
                time.sleep(pause)
                pause = min(2 * pause, 0.5)
            found.update(cache.get_many(k for k in pending if k not in found))
            pending = [k for k in pending if k not in found]
    return found, paid
