"""AnthropicTeacher: Claude as a teacher, with cache, budget and retries."""

from numbers import Real

from sklearn.utils._param_validation import Interval, StrOptions

from .._llm import LLMTeacher
from ._adapter import AnthropicProvider
from ._prices import claude_price, min_cache_tokens

__all__ = ["AnthropicTeacher", "DEFAULT_MODEL"]

#: The Claude model a teacher uses unless told otherwise.
DEFAULT_MODEL = "claude-haiku-4-5"


class AnthropicTeacher(LLMTeacher):
    """Claude labels texts (and writes new ones) through the ``anthropic`` SDK.

    ``label(items, classes)`` sends the items in batches, each item in its
    own delimited and escaped ``<item id=...>`` block, and reads the answer
    from a forced tool call whose input is ``{"items": [{"id", "label"}]}``
    (the labels restricted to ``classes`` by the tool schema).
    ``generate(request)`` sends ``request.to_prompt()`` and reads ``{"samples":
    [{"text", "label"}]}``. An answer with unknown labels, missing ids or a
    malformed input is retried once with a message saying what was wrong;
    what is still wrong is reported as :data:`~skakd.teachers.UNLABELED`,
    never guessed, with its reason in ``TeacherResult.reasons``
    (``"refusal"``, ``"unknown_label"``, ``"no_answer"``, ``"malformed"``).

    Every paid answer is written to the ``cache`` item by item, before it is
    used: the good labels of an answer with a bad item, the items that
    could not be labelled (with their reason), and the batches of a call
    that then fails. Re-running a fit with the same ``random_state`` after a
    crash or Ctrl-C therefore replays what was paid for at no cost. Fits,
    clones, CV folds and processes sharing a cache never pay for the same
    item twice: an item is claimed in the cache before it is sent (a lease
    of 3 ``timeout``, renewed while the claimant lives), and a process that
    finds it claimed waits for the other's answer; a crashed claimant's
    items are free again when its lease expires. Identical texts in one
    call are asked once.

    Parameters
    ----------
    model : str, default="claude-haiku-4-5"
        Claude model name. Its price comes from
        :data:`skakd.teachers.PRICES` unless given in ``prices``.
    class_descriptions : dict or None, default=None
        ``label -> description`` shown with the class list.
    instructions : str or None, default=None
        Task instructions added to the system prompt (e.g. "Classify banking
        support questions by intent").
    examples : list of (text, label) or None, default=None
        Few-shot examples shown in the system prompt.
    max_tokens : int, default=4096
        Largest answer per request.
    temperature : float or None, default=0.0
        Sampling temperature; part of the cache key. ``None`` leaves it to
        the API. SDKs without sampling arguments get it as an extra body
        field: set ``None`` if the API rejects it.
    batch_size : int, default=20
        Items per labelling request.
    max_concurrency : int, default=4
        Requests in flight at once (a thread pool).
    max_retries : int, default=4
        Retries of a failed request, done by the SDK with exponential backoff
        and jitter, only on retryable failures (429, 5xx, 529 overloaded,
        timeouts, connection errors), honouring ``retry-after``. Other errors
        (401, 400, ...) fail at once.
    timeout : float, default=60.0
        Seconds an attempt may take before a second one starts. The slow
        attempt is still awaited (up to 10 times ``timeout``): if its answer
        comes, the API billed it, and it is counted in the cost.
    cache : bool, str, path-like, TeacherCache or None, default=True
        Where answers persist: ``True`` for
        :func:`~skakd.teachers.default_cache_path`, a file path, a
        :class:`~skakd.teachers.TeacherCache`, or ``None`` for no cache
        (a crashed fit then pays again). A label's key hashes the model,
        system prompt (classes, descriptions, examples), tool schema,
        temperature and the item's text. With ``temperature > 0`` a repeated
        item replays the cached answer.
    base_url : str or None, default=None
        API endpoint; ``None`` uses the SDK's (``ANTHROPIC_BASE_URL`` or the
        public API).
    api_key : str, Secret or None, default=None
        ``None`` reads ``ANTHROPIC_API_KEY`` at call time (the recommended
        way). A key passed here is kept as a :class:`~skakd.teachers.Secret`:
        masked in ``get_params``, ``repr`` and logs, and dropped from pickles
        (an unpickled teacher reads the environment again).
    prices : dict or None, default=None
        ``model -> (input, output)`` USD per million tokens, overriding or
        extending :data:`~skakd.teachers.PRICES`.
    requests_per_minute : float or None, default=None
        Client-side request rate limit, shared by all calls of this teacher.
    tokens_per_minute : float or None, default=None
        Client-side limit of input plus output tokens per minute.
    prompt_caching : bool, default=True
        Mark the static prefix of every request (tool schema, system prompt
        with the classes, descriptions and examples) with ``cache_control``:
        the first request writes it to the API's prompt cache at 1.25 times
        the input price, later ones (within 5 minutes) read it at 0.1 times.
        The API caches only prefixes of at least 1024 tokens (4096 for
        Haiku 4.5 and Opus 4.5, 2048 for Haiku 3 and 3.5); a shorter prefix
        is billed as without caching.
    batch_api : bool, default=False
        Send each ``label`` call's requests as one Message Batch
        (``client.messages.batches``): billed at half price, answered within
        minutes to hours instead of seconds, which an active-learning round
        can wait for. The batch id is stored in the ``cache`` before
        waiting, so a fit that crashed or was interrupted while the batch
        was in flight collects its results when run again instead of paying
        twice. Corrective re-asks go out synchronously.
    confidence : {"verbalized"} or None, default=None
        ``"verbalized"`` asks the model for a ``confidence`` from 0 to 1
        with every label (a field of the answer schema, and one sentence in
        the system prompt), returned in ``TeacherResult.confidence`` and
        kept in the cache with the label: what a
        :class:`~skakd.teachers.TeacherCascade` decides by. It is paid for
        knowingly: about 8 more output tokens per item (``, "confidence":
        0.93``), half again a label's output; on banking77 in requests of
        20, a quarter more per label at Haiku 4.5's prices (measured on the
        fake server with a subword token count; not counted by
        ``estimate_cost``), and a stated confidence is a model's opinion,
        calibrated only as far as the model is (measure it with
        :meth:`TeacherCascade.calibrate
        <skakd.teachers.TeacherCascade.calibrate>`). The Messages API gives
        no log-probabilities. Part of the cache key.

    See Also
    --------
    CachedTeacher : A cache for any other teacher.
    OracleTeacher : Simulate a teacher offline.

    Notes
    -----
    Usage comes from each response's ``usage``, of every answer that
    arrived (late answers and corrective re-asks included);
    ``TeacherResult.info`` adds ``n_requests``, ``n_api_retries`` (SDK
    retries and second attempts), ``n_corrections`` (corrective re-asks),
    ``cache_write_tokens`` and ``cache_read_tokens`` (prompt cache, billed
    at their own prices), and ``n_duplicates`` (repeated texts asked once);
    ``generate`` adds ``n_cache_hits``. When a call fails after paying for
    some answers, the exception carries them as ``exc.teacher_result``.
    Retries inside the SDK are not paced by the client-side rate limit.

    Examples
    --------
    >>> from skakd.teachers import AnthropicTeacher
    >>> teacher = AnthropicTeacher(model="claude-haiku-4-5", api_key="sk-secret",
    ...                            cache=None)
    >>> teacher
    AnthropicTeacher(api_key=Secret('**********'), cache=None)
    >>> round(teacher.estimate_cost(1000, classes=["neg", "pos"]), 2)  # USD
    0.11
    """

    _parameter_constraints: dict = {
        **LLMTeacher._parameter_constraints,
        "temperature": [Interval(Real, 0, 1, closed="both"), None],
        "prompt_caching": ["boolean"],
        "confidence": [StrOptions({"verbalized"}), None],
    }

    def __init__(
        self,
        model=DEFAULT_MODEL,
        *,
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
        base_url=None,
        api_key=None,
        prices=None,
        requests_per_minute=None,
        tokens_per_minute=None,
        prompt_caching=True,
        batch_api=False,
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
        self.prompt_caching = prompt_caching

    def estimate_cost(self, items_or_n, classes=None, multi_label=False):
        """Estimate what labelling items would cost, in USD, before paying.

        See :meth:`LLMTeacher.estimate_cost
        <skakd.teachers.LLMTeacher.estimate_cost>`: texts are counted by the
        API's free token counting endpoint where a key is set.

        Examples
        --------
        >>> from skakd.teachers import AnthropicTeacher
        >>> teacher = AnthropicTeacher(api_key="sk-secret", cache=None,
        ...                            batch_size=20)
        >>> one = teacher.estimate_cost(20, classes=["neg", "pos"])
        >>> teacher.estimate_cost(40, classes=["neg", "pos"]) == 2 * one
        True
        """
        return super().estimate_cost(items_or_n, classes, multi_label)

    def _new_provider(self):
        return AnthropicProvider()

    def _price(self):
        return claude_price(self.model, self.prices)

    def _marks_cached_prefix(self):
        return self.prompt_caching

    def _min_cache(self):
        # The estimate's view of prompt caching: the model's shortest cached
        # prefix, or None when caching is off.
        return min_cache_tokens(self.model) if self.prompt_caching else None

