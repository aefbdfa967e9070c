"""SQLite queries over many keys, in chunks (a lowest room, like ``_items``).

SQLite caps the parameters bound to one statement (999 before 3.32), so a
``WHERE key IN (...)`` over many keys is sent in chunks of :data:`CHUNK`.
"""

__all__ = ["CHUNK", "chunks", "placeholders"]

CHUNK = 500


def chunks(keys, size=CHUNK):
    """``keys`` in consecutive lists of at most ``size``.

    Examples
    --------
    >>> from skakd._sqlite import chunks
    >>> chunks(list("abcde"), size=2)
    [['a', 'b'], ['c', 'd'], ['e']]
    """
    keys = list(keys)
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def placeholders(n):
    """The ``?, ?, ...`` of an ``IN (...)`` clause over ``n`` keys.

    Examples
    --------
    >>> from skakd._sqlite import placeholders
    >>> placeholders(3)
    '?,?,?'
    """
    return ",".join("?" * n)
