"""Where skakd keeps what it can compute again: teacher answers, static models.

The lowest room of the package, with :mod:`skakd._items`: every other module
may import it, and it imports nothing of skakd.
"""

import os
from pathlib import Path

__all__ = ["cache_home"]


def cache_home():
    """skakd's cache directory.

    ``$SKAKD_CACHE_DIR`` if that variable is set, else ``$XDG_CACHE_HOME/skakd``
    or ``~/.cache/skakd``. It is not created here.
    """
    root = os.environ.get("SKAKD_CACHE_DIR")
    if root is None:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        root = Path(base) / "skakd"
    return Path(root)
