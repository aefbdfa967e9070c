"""A string that never shows itself: for API keys held by teachers."""

__all__ = ["Secret"]


class Secret:
    """Hold a secret (an API key) without revealing it.

    Its ``repr`` and ``str`` are masked, copies share it, and pickling drops
    it: an unpickled ``Secret`` is empty, so a pickled teacher falls back to
    the environment (e.g. ``ANTHROPIC_API_KEY``) instead of carrying the key
    to disk.

    Parameters
    ----------
    value : str or None
        The secret.

    Examples
    --------
    >>> import pickle
    >>> from skakd.teachers import Secret
    >>> key = Secret("sk-ant-123")
    >>> key
    Secret('**********')
    >>> key.get_secret_value()
    'sk-ant-123'
    >>> pickle.loads(pickle.dumps(key)).get_secret_value() is None
    True
    """

    __slots__ = ("_value",)

    def __init__(self, value):
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"Secret expects a str or None, got {type(value).__name__}."
            )
        self._value = value

    def get_secret_value(self):
        """The secret itself, or ``None`` if empty."""
        return self._value

    def __repr__(self):
        return "Secret('**********')" if self._value else "Secret(None)"

    __str__ = __repr__

    def __bool__(self):
        return bool(self._value)

    def __eq__(self, other):
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self):
        return hash((Secret, self._value))

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        # Pickles (and joblib dumps) never carry the key.
        return (Secret, (None,))
