"""OpenAITeacher: GPT models and any OpenAI-compatible server as a teacher."""

import logging
from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._llm import LLMTeacher
from ._adapter import MODES, OpenAIProvider
from ._prices import is_local, openai_price

__all__ = ["DEFAULT_MODEL", "OpenAITeacher"]

#: The OpenAI model a teacher uses unless told otherwise.
DEFAULT_MODEL = "gpt-4.1-mini"
logger = logging.getLogger("skakd.teachers")
# OpenAI caches prompt prefixes of at least this many tokens by itself.
_MIN_CACHED_PREFIX = 1024


class OpenAITeacher(LLMTeacher):
    """GPT models, or any OpenAI-compatible server, label texts (and write new
    ones) through the ``openai`` SDK.

    The server may be OpenAI's API or any server that speaks Chat
    Completions: vLLM, Ollama, llama.cpp's server (see
    :class:`~skakd.teachers.LlamaCppServer`), SGLang, LM Studio or a LiteLLM
    proxy, given by ``base_url``. Requests, answers, the per-item
    write-ahead cache, claims across processes, retries, the exact bill,
    corrective re-asks and batches work as for
    :class:`~skakd.teachers.AnthropicTeacher` (one shared path): items are
    sent in batches, each in its own escaped ``<item id=...>`` block, and
    the answer is the object ``{"items": [{"id", "label"}]}`` with labels
    restricted to ``classes``; what cannot be read is retried once with a
    message saying what was wrong, and what is still wrong is reported as
    :data:`~skakd.teachers.UNLABELED` with its reason.

    The answer object is asked for in the best way the server supports
    (``structured_output="auto"``): a strict JSON schema
    (``response_format``, which also keeps a local model inside the label
    set), else a forced tool call, else JSON mode, else plain
    ``<id>: <label>`` lines read against the label set. The first request
    finds the way (a server that rejects one answers 400, which is not
    billed) and the teacher keeps it: :attr:`structured_output_`.

    Parameters
    ----------
    model : str, default="gpt-4.1-mini"
        Model name (for a local server, the name it serves). Reasoning models
        (``gpt-5*``, ``o*``) accept no temperature: set ``temperature=None``.
    base_url : str or None, default=None
        The server, e.g. ``"http://127.0.0.1:8000/v1"``; ``None`` uses the
        SDK's (``OPENAI_BASE_URL`` or OpenAI's API). A server on this machine
        costs nothing (said once in the log) unless ``prices`` names the model.
    api_key : str, Secret or None, default=None
        ``None`` reads ``OPENAI_API_KEY`` at call time; a server on this
        machine needs none. A key passed here is kept as a
        :class:`~skakd.teachers.Secret` (masked, never pickled).
    class_descriptions : dict or None, default=None
        ``label -> description`` shown with the class list.
    instructions : str or None, default=None
        Task instructions added to the system prompt.
    examples : list of (text, label) or None, default=None
        Few-shot examples shown in the system prompt.
    max_tokens : int, default=4096
        Largest answer per request (sent as ``max_completion_tokens`` to
        OpenAI's API, ``max_tokens`` to other servers).
    temperature : float or None, default=0.0
        Sampling temperature; part of the cache key. ``None`` leaves it to
        the server.
    batch_size : int, default=20
        Items per labelling request.
    max_concurrency : int, default=4
        Requests in flight at once.
    max_retries : int, default=4
        Retries of a failed request, by the SDK with backoff, on retryable
        failures only (429, 5xx, timeouts, connection errors), honouring
        ``retry-after``; a 200 whose body cannot be read is retried too.
    timeout : float, default=60.0
        Seconds an attempt may take before a second one starts; the slow one
        is still awaited (up to 10 times ``timeout``) and, if it answers,
        counted in the cost.
    cache : bool, str, path-like, TeacherCache or None, default=True
        Where answers persist (see :class:`~skakd.teachers.AnthropicTeacher`).
        A label's key hashes the model, system prompt, answer schema,
        temperature and the item's text, not ``base_url`` (the same model
        behind another address answers alike) nor the way of asking.
    prices : dict or None, default=None
        ``model -> (input, output)`` or ``(input, cached input, output)``,
        USD per million tokens, overriding or extending
        :data:`~skakd.teachers.openai.OPENAI_PRICES`. A model with no price
        is an error unless the server is on this machine.
    requests_per_minute : float or None, default=None
        Client-side request rate limit, shared by all calls of this teacher.
    tokens_per_minute : float or None, default=None
        Client-side limit of input plus output tokens per minute.
    batch_api : bool, default=False
        Send each ``label`` call's requests through the Batch API
        (``/v1/files`` + ``/v1/batches``): half price, answered within 24
        hours. The batch is recorded in the ``cache`` before waiting, so a
        fit that crashed while it was in flight collects its results when
        run again instead of paying twice.
    structured_output : {"auto", "json_schema", "tool", "json_object", \
"text"}, default="auto"
        How to ask for the answer object (see above).
    confidence : {"logprobs", "verbalized"} or None, default=None
        How sure the model is of each label, in ``TeacherResult.confidence``
        (kept in the cache with the label): what a
        :class:`~skakd.teachers.TeacherCascade` decides by.
        ``"logprobs"`` asks the server for token log-probabilities
        (``logprobs``, ``top_logprobs=20``; OpenAI's API, vLLM and
        llama.cpp's server return them) and takes the probability of the
        label's tokens, each renormalised over its alternatives that keep
        the answer inside the label set (servers report the distribution
        before the schema constrains it): free, and the model's own
        probability (too high where valid alternatives hide beyond the top
        20), but only for answers in the message's content (a
        strict JSON schema or JSON mode; a forced tool call or a server
        without log-probabilities gives ``None``). ``"verbalized"`` asks
        the model to state a confidence from 0 to 1 with every label (a
        field of the answer schema): any server, paid knowingly (about 8
        more output tokens per item, half again a label's output; not
        counted by ``estimate_cost``), and only as calibrated as
        the model (measure it with :meth:`TeacherCascade.calibrate
        <skakd.teachers.TeacherCascade.calibrate>`). Part of the cache key.

    Attributes
    ----------
    structured_output_ : str
        The way of asking in use (after the first request, what the server
        supports).

    See Also
    --------
    AnthropicTeacher : Claude as a teacher.
    LlamaCppServer : Serve a local GGUF model to this teacher.

    Notes
    -----
    The bill comes from each response's ``usage``: ``prompt_tokens`` less
    ``prompt_tokens_details.cached_tokens`` at the input price, the cached
    tokens at the cached price (OpenAI caches prefixes of 1,024 tokens or
    more by itself; the static part of every request, the instructions,
    classes and examples, comes first so that it can be cached), and
    ``completion_tokens`` at the output price. ``TeacherResult.info`` has
    ``n_requests``, ``n_api_retries``, ``n_corrections``,
    ``cache_read_tokens`` and ``n_duplicates``.

    Examples
    --------
    >>> from skakd.teachers import OpenAITeacher
    >>> from skakd.teachers.testing import FakeOpenAI
    >>> with FakeOpenAI() as server:
    ...     teacher = OpenAITeacher(base_url=server.base_url, api_key="test-key",
    ...                             cache=None)
    ...     result = teacher.label(["a refund please", "late delivery"],
    ...                            ["delivery", "refund"])
    >>> result.labels, teacher.structured_output_
    (['refund', 'delivery'], 'json_schema')
    """

    _parameter_constraints: dict = {
        **LLMTeacher._parameter_constraints,
        "temperature": [Interval(Real, 0, 2, closed="both"), None],
        "structured_output": [StrOptions({"auto", *MODES})],
        "confidence": [StrOptions({"logprobs", "verbalized"}), None],
    }

    def __init__(
        self,
        model=DEFAULT_MODEL,
        *,
        base_url=None,
        api_key=None,
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
        prices=None,
        requests_per_minute=None,
        tokens_per_minute=None,
        batch_api=False,
        structured_output="auto",
        confidence=None,
    ):
        super().__init__(
            model, class_descriptions=class_descriptions,
            instructions=instructions, examples=examples, max_tokens=max_tokens,
            temperature=temperature, batch_size=batch_size,
            max_concurrency=max_concurrency, max_retries=max_retries,
            timeout=timeout, cache=cache, base_url=base_url, api_key=api_key,
            prices=prices, requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute, batch_api=batch_api,
            confidence=confidence)
        self.structured_output = structured_output

    @property
    def structured_output_(self):
        """The way of asking for the answer object now in use."""
        return self._provider().mode

    def _new_provider(self):
        return OpenAIProvider(self.structured_output, self.base_url)

    def _get_transport(self):
        # A changed base_url or structured_output needs a provider of its own.
        transport = super()._get_transport()
        if transport.provider.made_for != (self.structured_output, self.base_url):
            self.__dict__.pop("_transport", None)
            transport = super()._get_transport()
        return transport

    def _price(self):
        price = openai_price(self.model, self.prices, self.base_url)
        if is_local(self.base_url) and not any(price):
            _say_free_once(self.model, self.base_url)
        return price

    def _min_cache(self):
        return None if is_local(self.base_url) else _MIN_CACHED_PREFIX


_SAID_FREE = set()


def _say_free_once(model, base_url):
    if (model, base_url) not in _SAID_FREE:
        _SAID_FREE.add((model, base_url))
        logger.info("OpenAITeacher: %s at %s is served on this machine: its "
                    "labels cost $0.", model, base_url)
