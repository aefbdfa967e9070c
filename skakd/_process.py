"""Whether a process of this machine still runs (a lowest room, like ``_items``).

A killed process leaves behind what it held (a run's lock file, a teacher
cache's claims); on its own machine, that it is gone is known at once.
"""

import os

__all__ = ["is_alive"]


def is_alive(pid):
    """Whether process ``pid`` of this machine runs.

    ``os.kill(pid, 0)`` sends no signal, only checks: another user's process
    answers ``PermissionError`` and counts as alive; a pid that cannot name
    a process (negative, too large) counts as gone.

    Examples
    --------
    >>> import os
    >>> from skakd._process import is_alive
    >>> is_alive(os.getpid())
    True
    """
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except (OSError, OverflowError, ValueError):  # ProcessLookupError included
        return False
    return True
