"""Chat Completions (OpenAI and compatible servers) as a
:class:`~skakd.teachers._provider.Provider`.

The answer object is asked for in the best way the server supports, found
out by its first answer: a strict JSON schema (``response_format``), else a
forced tool call, else JSON mode, else plain text read line by line
(``<id>: <label>``). A request stays the same whatever the way (the way is
applied when it is sent), so the cache keys do not depend on it. Batches go
through the Batch API (``/v1/files`` and ``/v1/batches``).
"""

import json
import re
import threading

from .._cost import Spent
from .._prompts import Reply, correction
from .._provider import Provider
from ._prices import is_local

__all__ = ["MODES", "TOP_LOGPROBS", "OpenAIProvider"]

# What a 400 says when the prompt is longer than the model reads.
_TOO_LONG = ("context_length_exceeded", "maximum context length", "too long",
             "too many tokens", "exceeds the available context size")

#: The ways of asking for the answer object, best first.
MODES = ("json_schema", "tool", "json_object", "text")
# Words in a 400's message that say the server does not support a way.
_UNSUPPORTED = {
    "json_schema": ("response_format", "json_schema", "schema", "structured"),
    "tool": ("tool", "function"),
    "json_object": ("response_format", "json_object", "json mode"),
}
_BATCH_ENDPOINT = "/v1/chat/completions"
_ENDED = ("completed", "failed", "expired", "cancelled")
_LINE = re.compile(r"^\s*(?:item\s*)?(\d+)\s*[:=\-)]\s*[\"']?(.+?)[\"']?\s*$",
                   re.IGNORECASE | re.MULTILINE)
_NO_KEY = "sk-no-key-required"
_NO_LABEL = "none"
_LABEL_SET_LINES = (
    "Answer with one line per item, `<id>: <label> | <label>` with every "
    f"label that applies copied exactly from the class list, `<id>: {_NO_LABEL}` "
    "when none applies, and nothing else.")
#: Alternatives asked per token with ``confidence="logprobs"`` (the most
#: OpenAI gives): the other labels a token could have begun or continued.
TOP_LOGPROBS = 20


class OpenAIProvider(Provider):
    """Requests, answers, errors and batches of the ``openai`` SDK.

    Parameters
    ----------
    structured_output : {"auto", "json_schema", "tool", "json_object", "text"}
        The way to ask for the answer; ``"auto"`` starts with the best and
        steps down when the server rejects a way (a 400 naming it).
    base_url : str or None
        Where the server is (the official API's parameters differ).
    """

    name = "OpenAITeacher"
    env_key = "OPENAI_API_KEY"
    sdk = "openai"
    too_long_words = _TOO_LONG

    def __init__(self, structured_output="auto", base_url=None):
        self.made_for = (structured_output, base_url)
        self.auto = structured_output == "auto"
        self.mode = MODES[0] if self.auto else structured_output
        self.official = base_url is None or "api.openai.com" in base_url
        self.local = is_local(base_url)
        self.probed = not self.auto
        self._lock = threading.Lock()
        self._probe = threading.Lock()

    # -- requests and answers -------------------------------------------------

    def request(self, prompt):
        request = {
            "model": prompt.model,
            "messages": [{"role": "system", "content": prompt.system},
                         {"role": "user", "content": prompt.user}],
            "answer": {"name": prompt.tool, "description": prompt.description,
                       "schema": prompt.schema},
            "temperature": prompt.temperature,
        }
        if prompt.confidence == "logprobs":
            request["top_logprobs"] = TOP_LOGPROBS
        if prompt.n_samples:
            request["answer"]["n_samples"] = prompt.n_samples
        return request

    def static(self, request):
        static = {"provider": "openai", "model": request["model"],
                  "system": request["messages"][0]["content"],
                  "answer": request["answer"],
                  "temperature": request["temperature"]}
        # An answer cached without log-probabilities has no confidence.
        if "top_logprobs" in request:
            static["top_logprobs"] = request["top_logprobs"]
        return static

    def reply(self, message, request):
        choice = message.choices[0]
        answer = choice.message
        refused = bool(getattr(answer, "refusal", None)) or (
            choice.finish_reason == "content_filter")
        truncated = choice.finish_reason == "length"
        calls = getattr(answer, "tool_calls", None) or []
        text = (calls[0].function.arguments if calls else answer.content) or ""
        payload = _json_object(text)
        if payload is None and request["answer"]["name"] == "label_items":
            payload = _lines(text, _asks_label_sets(request["answer"]))
        if payload is None:
            return Reply(problem=f"the answer was not a JSON object: {text[:80]!r}",
                         refused=refused, truncated=truncated, echo=text)
        # Log-probabilities cover the message's content, not a tool call's.
        return Reply(payload=payload, refused=refused, truncated=truncated,
                     echo=text, tokens=None if calls else _tokens(choice))

    def spent(self, message):
        usage = getattr(message, "usage", None)
        if usage is None:  # some servers send none: nothing we could bill
            return Spent(0, 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
        return Spent(usage.prompt_tokens - cached, usage.completion_tokens or 0,
                     0, cached)

    def correct(self, request, reply, problems):
        again = correction(problems, "Answer again")
        messages = [*request["messages"],
                    {"role": "assistant", "content": str(reply.echo or "(no answer)")},
                    {"role": "user", "content": again}]
        return dict(request, messages=messages)

    # -- sizes ------------------------------------------------------------------

    def chars(self, request):
        return (sum(len(str(m["content"])) for m in request["messages"])
                + len(json.dumps(request["answer"])))

    def prefix_chars(self, request):
        return len(request["messages"][0]["content"]) + len(
            json.dumps(request["answer"]))

    def n_items(self, request):
        return request["messages"][1]["content"].count('<item id="')

    # -- the SDK ----------------------------------------------------------------

    def client(self, key, settings):
        import openai

        if key is None and self.local:
            key = _NO_KEY  # a server on this machine wants none; the SDK does
        try:
            return openai.OpenAI(api_key=key, base_url=settings.base_url,
                                 timeout=settings.timeout,
                                 max_retries=settings.max_retries)
        except openai.OpenAIError:
            return None  # no key anywhere: has_credentials says so

    def has_credentials(self, client):
        return client is not None and bool(client.api_key)

    def create(self, client, settings, request, timeout):
        if self.probed:
            return self._create(client, settings, request, timeout)
        # The first request finds the way alone; the others wait for it.
        with self._probe:
            response = self._create(client, settings, request, timeout)
            self.probed = True
            return response

    def _create(self, client, settings, request, timeout):
        import openai

        while True:
            mode = self.mode
            try:
                return client.chat.completions.with_raw_response.create(
                    timeout=timeout, **self.arguments(request, mode, settings))
            except openai.BadRequestError as exc:
                if not self._step_down(mode, exc):
                    raise

    def arguments(self, request, mode, settings):
        """``request`` as ``chat.completions.create`` arguments in ``mode``."""
        answer = request["answer"]
        arguments = {"model": request["model"],
                     "messages": _instructed(request["messages"], answer, mode)}
        limit = "max_completion_tokens" if self.official else "max_tokens"
        arguments[limit] = settings.max_tokens
        if request["temperature"] is not None:
            arguments["temperature"] = request["temperature"]
        if "top_logprobs" in request:
            arguments.update(logprobs=True, top_logprobs=request["top_logprobs"])
        schema = _bounded(answer["schema"],
                          answer.get("n_samples") or self.n_items(request))
        if mode == "json_schema":
            arguments["response_format"] = {"type": "json_schema", "json_schema": {
                "name": answer["name"], "strict": True, "schema": _strict(schema)}}
        elif mode == "tool":
            arguments["tools"] = [{"type": "function", "function": {
                "name": answer["name"], "description": answer["description"],
                "parameters": schema}}]
            arguments["tool_choice"] = {"type": "function",
                                        "function": {"name": answer["name"]}}
        elif mode == "json_object":
            arguments["response_format"] = {"type": "json_object"}
        return arguments

    def _step_down(self, mode, exc):
        """Take the next way after ``mode`` if the server rejected it."""
        message = str(getattr(exc, "message", exc)).lower()
        words = _UNSUPPORTED.get(mode, ())
        if not self.auto or not any(word in message for word in words):
            return False
        with self._lock:
            if self.mode == mode:
                self.mode = MODES[MODES.index(mode) + 1]
        return True

    # -- the Batch API ------------------------------------------------------------

    def create_batch(self, client, settings, requests):
        lines = [json.dumps({"custom_id": custom_id, "method": "POST",
                             "url": _BATCH_ENDPOINT,
                             "body": self.arguments(r, self.mode, settings)})
                 for custom_id, r in requests]
        upload = client.files.create(
            file=("skakd-batch.jsonl", "\n".join(lines).encode()), purpose="batch")
        batch = client.batches.create(input_file_id=upload.id,
                                      endpoint=_BATCH_ENDPOINT,
                                      completion_window="24h")
        return batch.id

    def batch_progress(self, client, batch_id):
        batch = client.batches.retrieve(batch_id)
        counts = batch.request_counts
        done = (counts.completed + counts.failed) if counts else 0
        total = counts.total if counts else 0
        return batch.status in _ENDED, done, max(total - done, 0)

    def batch_messages(self, client, batch_id):
        from openai.types.chat import ChatCompletion

        batch = client.batches.retrieve(batch_id)
        if not batch.output_file_id:
            return {}
        messages = {}
        for line in client.files.content(batch.output_file_id).text.splitlines():
            entry = json.loads(line) if line.strip() else {}
            response = entry.get("response") or {}
            if response.get("status_code") == 200:
                messages[entry["custom_id"]] = ChatCompletion.model_validate(
                    response["body"])
        return messages

    def recent_batches(self, client, since):
        for batch in client.batches.list(limit=100):
            if batch.created_at < since:
                break  # newest first: the rest are older
            yield batch.id


def _tokens(choice):
    """``[(token, logprob, [(alternative, logprob)])]`` of a choice, or None."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    return [(t.token, t.logprob, [(a.token, a.logprob)
                                  for a in (t.top_logprobs or ())])
            for t in content]


def _instructed(messages, answer, mode):
    """The messages, with the answer's format spelled out where no schema is
    enforced (JSON mode and plain text)."""
    if mode in ("json_schema", "tool"):
        return messages
    if mode == "text" and answer["name"] == "label_items":
        rule = _LABEL_SET_LINES if _asks_label_sets(answer) else (
            "Answer with one line per item, `<id>: <label>`, the label "
            "copied exactly from the class list, and nothing else.")
    else:
        rule = ("Answer with one JSON object only, following this JSON schema: "
                + json.dumps(answer["schema"]))
    system = dict(messages[0], content=messages[0]["content"] + "\n\n" + rule)
    return [system, *messages[1:]]


def _bounded(schema, n_items):
    """The answer schema with its list bounded to the ``n_items`` asked
    about: the items of a labelling request, the texts of a generation.

    A server that enforces the schema with a grammar (llama.cpp) then stops
    a small model at the last item; unbounded, SmolLM2 wrote ids past the
    batch until ``max_tokens`` cut the answer (95% of single items lost).
    A label's cache key is made without the bound: it changes no answer.
    """
    properties = schema.get("properties", {})
    key = next((k for k in ("items", "samples") if k in properties), None)
    if not n_items or key is None or properties[key].get("type") != "array":
        return schema
    bounded = dict(properties[key], minItems=n_items, maxItems=n_items)
    return dict(schema, properties=dict(properties, **{key: bounded}))


def _strict(schema):
    """``schema`` as strict structured outputs want it: every object closed,
    every property required."""
    if isinstance(schema, dict):
        strict = {k: _strict(v) for k, v in schema.items()}
        if strict.get("type") == "object":
            strict["additionalProperties"] = False
            strict["required"] = list(strict.get("properties", {}))
        return strict
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _json_object(text):
    """The JSON object in ``text`` (fenced or bare), or ``None``."""
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return None
    try:
        payload = json.loads(text[start:end + 1])
    except json.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def _asks_label_sets(answer):
    """Whether a labelling answer holds a label set per item."""
    entry = answer["schema"]["properties"]["items"]["items"]["properties"]
    return "labels" in entry


def _lines(text, label_sets=False):
    """``{"items": [...]}`` from ``<id>: <label>`` lines (``<id>: <label> |
    <label>`` or ``<id>: none`` for label sets), or ``None``."""
    found = [(int(i), value.strip()) for i, value in _LINE.findall(text)]
    if not label_sets:
        entries = [{"id": i, "label": value} for i, value in found]
    else:
        entries = [{"id": i, "labels": [] if value.lower() == _NO_LABEL else
                    [label.strip() for label in value.split("|")]}
                   for i, value in found]
    return {"items": entries} if entries else None
