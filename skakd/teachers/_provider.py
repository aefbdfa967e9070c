"""What a provider's adapter does: the few things that differ between APIs.

Everything else (cache, claims, batching, retries of slow answers, the
bill, corrections, batch bookkeeping) is shared by every LLM teacher. A new
provider subclasses :class:`Provider` and :class:`~._llm.LLMTeacher` (see
``docs/architecture.md``).
"""

import importlib

from ._transport import explain_connection, explain_status

__all__ = ["Provider"]


class Provider:
    """The adapter of one API: request building, response reading, errors.

    Subclasses implement the methods that raise ``NotImplementedError``;
    ``name`` names the teacher in messages, ``env_key`` is the environment
    variable of its key, ``sdk`` the SDK's module (its errors have the
    names both SDKs share: ``APIStatusError``, ``BadRequestError``,
    ``APIConnectionError``, ``APITimeoutError``) and ``too_long_words``
    what its 400 says when a prompt is longer than the model reads.
    """

    name = "teacher"
    env_key = None
    sdk = None
    too_long_words = ()

    # -- requests and answers ---------------------------------------------

    def request(self, prompt):
        """The provider's request (a JSON-able dict) for a :class:`Prompt`."""
        raise NotImplementedError

    def static(self, request):
        """What every labelling request of a call shares: the item keys' base."""
        raise NotImplementedError

    def reply(self, message, request):
        """The parsed response to ``request`` as a :class:`~._prompts.Reply`."""
        raise NotImplementedError

    def spent(self, message):
        """The parsed response's usage as a :class:`~._cost.Spent`."""
        raise NotImplementedError

    def correct(self, request, reply, problems):
        """``request`` extended with ``reply`` and what was wrong with it."""
        raise NotImplementedError

    # -- sizes, for estimates and the rate limit ----------------------------

    def chars(self, request):
        """Characters of what the model reads."""
        raise NotImplementedError

    def prefix_chars(self, request):
        """Characters of the static prefix (what prompt caching stores)."""
        raise NotImplementedError

    def n_items(self, request):
        """Items a labelling request asks about."""
        raise NotImplementedError

    # -- the SDK --------------------------------------------------------------

    def client(self, key, settings):
        """A new SDK client (``key`` may be ``None``: the SDK's own lookup)."""
        raise NotImplementedError

    def has_credentials(self, client):
        raise NotImplementedError

    def create(self, client, settings, request, timeout):
        """One attempt: the SDK's raw response (``parse()``, ``retries_taken``)."""
        raise NotImplementedError

    def too_long(self, exc):
        """Whether ``exc`` says the prompt was longer than the model reads."""
        errors = importlib.import_module(self.sdk)
        if isinstance(exc, errors.APIStatusError) and exc.status_code == 413:
            return True
        return isinstance(exc, errors.BadRequestError) and any(
            word in str(exc).lower() for word in self.too_long_words)

    def explain(self, exc, settings, model):
        """A note saying what ``exc`` means and what to do, or ``None``."""
        errors = importlib.import_module(self.sdk)
        if isinstance(exc, errors.APIStatusError):
            return explain_status(exc.status_code, settings, model, self)
        if isinstance(exc, errors.APIConnectionError):
            return explain_connection(isinstance(exc, errors.APITimeoutError),
                                      settings, self)
        return None

    def count_tokens(self, client, requests):
        """Input tokens of ``requests`` as the API counts them, or ``None``."""
        return None

    # -- batches ------------------------------------------------------------

    def create_batch(self, client, settings, requests):
        """Send ``[(custom_id, request)]`` as one batch; its id."""
        raise NotImplementedError

    def batch_progress(self, client, batch_id):
        """``(ended, done, to_go)`` of a batch."""
        raise NotImplementedError

    def batch_messages(self, client, batch_id):
        """``{custom_id: message}`` of an ended batch's successful requests."""
        raise NotImplementedError

    def recent_batches(self, client, since):
        """Ids of the batches created after ``since`` (epoch seconds)."""
        raise NotImplementedError
