"""A fake Anthropic Messages API on 127.0.0.1 (see :mod:`skakd.teachers.testing`)."""

import json
import time
import zlib
from datetime import datetime, timezone

from .._cost import BATCH_DISCOUNT, cost_of_usage
from ..anthropic import min_cache_tokens
from ._faults import (
    Fault,
    char_tokens,
    default_confidence,
    default_generator,
    default_labeler,
    label_entries,
    sample_entries,
    wanted,
)
from ._server import FakeServer, Handler

__all__ = ["FakeAnthropic"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_LEDGER = ("input_tokens", "output_tokens", "cache_creation_input_tokens",
           "cache_read_input_tokens", "n_billed")
_LEDGER += tuple(f"batch_{name}" for name in _LEDGER)
_BATCHES = "/v1/messages/batches"
_CACHE_TTL = 300.0  # seconds a prompt-cache entry lives (the API's default)


class FakeAnthropic(FakeServer):
    """A local fake of the Anthropic Messages API.

    Parameters
    ----------
    labeler : callable, default=default_labeler
        ``labeler(text, classes) -> label`` for ``label_items`` requests.
    generator : callable, default=default_generator
        ``generator(classes, n_samples, prompt, counter) -> [(text, label)]``
        for ``write_samples`` requests (a label may be a collection of
        labels when the request asks for label sets).
    api_key : str or None, default="test-key"
        Required key, as ``x-api-key`` or ``Authorization: Bearer`` (``None``
        accepts any).
    latency : float, default=0.0
        Seconds every answer takes.
    obey_injection : bool, default=False
        Simulate a model that follows "answer X" written in an item.
    tokenizer : callable, default=char_tokens
        ``tokenizer(text) -> int``, the tokens billed in ``usage`` (of the
        raw request body and of the answer) and answered by token counting
        (of the system prompt, messages and tools), as the real API counts
        both with one tokenizer.
    can_count : bool, default=True
        Whether ``/v1/messages/count_tokens`` exists (``False``: 404, as on
        endpoints without token counting).
    batch_latency : float, default=0.2
        Seconds a Message Batch stays ``in_progress`` before it ends.
    max_prompt_tokens : int or None, default=None
        The context window: a longer request gets the API's 400 ("prompt is
        too long").
    min_cache_tokens : int or None, default=None
        Shortest prefix that prompt caching stores; ``None`` for the API's
        minimum for the request's model (1024 tokens, 4096 for Haiku 4.5 and
        Opus 4.5, 2048 for Haiku 3 and 3.5).
    confidence : callable, default=default_confidence
        ``confidence(text, classes) -> float``: the confidence stated with
        each label when the answer schema asks for one.

    Attributes
    ----------
    requests : list of dict
        Every request received: ``path``, ``body``, ``headers``,
        ``answered``, ``time``.
    base_url : str
        Where the server listens (``http://127.0.0.1:<port>``), once started.
    ledger : dict
        What the server billed: ``input_tokens``, ``output_tokens``,
        ``cache_creation_input_tokens``, ``cache_read_input_tokens`` and
        ``n_billed`` (answers), ``batch_*`` for Message Batches results.
        An answer is billed when it is made, even if the client has gone
        (timed out) before it is sent, as the API bills it.

    Notes
    -----
    Prompt caching is accounted as the API documents it: the prefix of a
    request up to its last ``cache_control`` block (tools, then system, then
    messages) is written to a 5-minute cache the first time
    (``cache_creation_input_tokens``) and read from it by later requests
    with the same prefix (``cache_read_input_tokens``); ``input_tokens``
    are the tokens after it. A prefix shorter than ``min_cache_tokens`` is
    not cached.

    Examples
    --------
    >>> import anthropic
    >>> from skakd.teachers.testing import FakeAnthropic
    >>> with FakeAnthropic(labeler=lambda text, classes: classes[-1]) as server:
    ...     client = anthropic.Anthropic(base_url=server.base_url,
    ...                                  api_key="test-key")
    ...     tool = {"name": "label_items", "input_schema": {"type": "object",
    ...             "properties": {"items": {"type": "array", "items": {
    ...                 "type": "object", "properties": {"label": {
    ...                     "type": "string", "enum": ["neg", "pos"]}}}}}}}
    ...     message = client.messages.create(
    ...         model="claude-haiku-4-5", max_tokens=100, tools=[tool],
    ...         tool_choice={"type": "tool", "name": "label_items"},
    ...         messages=[{"role": "user", "content": '<item id="0">nice</item>'}])
    >>> message.content[0].input
    {'items': [{'id': 0, 'label': 'pos'}]}
    """

    ledger_names = _LEDGER
    scripted_paths = ("/v1/messages",)

    def __init__(self, labeler=default_labeler, generator=default_generator,
                 api_key="test-key", latency=0.0, obey_injection=False,
                 tokenizer=char_tokens, can_count=True, batch_latency=0.2,
                 min_cache_tokens=None, max_prompt_tokens=None,
                 confidence=default_confidence):
        super().__init__(labeler, generator, api_key, latency, tokenizer,
                         batch_latency, max_prompt_tokens)
        self.confidence = confidence
        self.obey_injection = obey_injection
        self.can_count = can_count
        self.min_cache_tokens = min_cache_tokens

    @property
    def base_url(self):
        return self.address

    @property
    def n_messages(self):
        """Requests received by ``/v1/messages`` (errors and retries included)."""
        with self._lock:
            return sum(r["path"] == "/v1/messages" for r in self.requests)

    def answered_bodies(self):
        bodies = self.message_bodies()
        for batch in self.batches.values():
            bodies += [entry["params"] for entry in batch["requests"]]
        return bodies

    def priced(self, price):
        keys = ("input_tokens", "output_tokens", "cache_creation_input_tokens",
                "cache_read_input_tokens")
        ledger = self.ledger
        usd = sum(discount * cost_of_usage(price, *(ledger[prefix + k]
                                                    for k in keys))
                  for prefix, discount in (("", 1.0), ("batch_", BATCH_DISCOUNT)))
        tokens = dict(zip(("input_tokens", "output_tokens", "cache_write_tokens",
                           "cache_read_tokens"),
                          (ledger[k] + ledger[f"batch_{k}"] for k in keys)))
        return usd, tokens, ledger["n_billed"] + ledger["batch_n_billed"]

    def message_bodies(self):
        with self._lock:
            return [r["body"] for r in self.requests if r["path"] == "/v1/messages"]

    def wait_for_messages(self, n, timeout=30.0):
        """Block until ``n`` message requests have been answered."""
        self._wait(lambda: sum(r["path"] == "/v1/messages" and r["answered"]
                               for r in self.requests) >= n,
                   timeout, f"fewer than {n} requests in {timeout}s")

    def usage(self, body, raw, output, ledger=""):
        """Bill one answer: its ``usage``, with prompt-cache accounting.

        ``ledger="batch_"`` bills it as a Message Batches result.
        """
        total = self.tokenizer(raw.decode())
        prefix = _cached_prefix(body)
        cached = min(self.tokenizer(prefix), total) if prefix else 0
        written = read = 0
        least = self.min_cache_tokens
        if least is None:
            least = min_cache_tokens(body["model"])
        if cached and cached >= least:
            key = zlib.crc32(prefix.encode())
            with self._lock:
                now = time.monotonic()
                if self._prompt_cache.get(key, 0) > now:
                    read = cached
                else:
                    written = cached
                self._prompt_cache[key] = now + _CACHE_TTL
        usage = {"input_tokens": total - written - read,
                 "output_tokens": self.tokenizer(output),
                 "cache_creation_input_tokens": written,
                 "cache_read_input_tokens": read}
        self.bill(usage, ledger)
        return usage

    # -- answering -------------------------------------------------------------

    def answer(self, body, fault):
        """The tool input a model would send for ``body``."""
        tool = body["tool_choice"]["name"]
        schema = body["tools"][0]["input_schema"]["properties"]
        if tool == "label_items":
            properties = schema["items"]["items"]["properties"]
            if "labels" in properties:  # a multi-label request
                return self._label(body, properties["labels"]["items"]["enum"],
                                   fault, multi_label=True)
            stated = self.confidence if "confidence" in properties else None
            return self._label(body, properties["label"]["enum"], fault, stated)
        properties = schema["samples"]["items"]["properties"]
        multi_label = "labels" in properties  # texts with label sets
        classes = properties["labels" if multi_label else "label"]
        classes = classes["items"]["enum"] if multi_label else classes["enum"]
        prompt = _text_of(body["messages"][0]["content"])
        n_samples = wanted(prompt)
        counter = self.count_generated(n_samples)
        samples = self.generator(classes, n_samples, prompt, counter)
        return {"samples": sample_entries(samples, fault, multi_label)}

    def _label(self, body, classes, fault, confidence=None, multi_label=False):
        prompt = _text_of(body["messages"][0]["content"])
        return label_entries(prompt, classes, self.labeler, fault,
                             self.obey_injection, confidence, multi_label)


class _Handler(Handler):
    def respond(self, path, body, raw, headers, fault):
        fake = self.fake
        if path.startswith(_BATCHES):
            return self._batch_route(path, body)
        problem = _invalid(body, path)
        if problem:
            return self.error(400, problem)
        if path == "/v1/messages/count_tokens" and fake.can_count:
            counted = {k: body.get(k) for k in ("system", "messages", "tools")}
            return self.json(
                200, {"input_tokens": fake.tokenizer(json.dumps(counted))})
        if path != "/v1/messages":
            return self.error(404, f"no route {path}")
        self.json(200, self._message(body, raw, fault))

    def _batch_route(self, path, body):
        """Message Batches: create, retrieve, results and cancel."""
        fake, rest = self.fake, path[len(_BATCHES):].strip("/").split("/")
        if rest == [""] and self.command == "GET":  # newest first, one page
            ids = sorted(fake.batches, key=lambda b: -fake.batches[b]["created"])
            data = [self._batch(b) for b in ids]
            return self.json(200, {"data": data, "has_more": False,
                                    "first_id": ids[0] if ids else None,
                                    "last_id": ids[-1] if ids else None})
        if rest == [""]:
            batch_id = f"msgbatch_{time.monotonic_ns()}"
            with fake._lock:
                fake.batches[batch_id] = {"requests": body["requests"],
                                          "created": time.time(), "ended": None,
                                          "canceled": False, "results": None}
            return self.json(200, self._batch(batch_id))
        batch_id = rest[0]
        if batch_id not in fake.batches:
            return self.error(404, f"no batch {batch_id}")
        if rest[1:] == ["cancel"]:
            fake.batches[batch_id]["canceled"] = True
        elif rest[1:] == ["results"]:
            lines = [json.dumps(r) for r in self._batch_results(batch_id) or []]
            return self.send(200, "\n".join(lines).encode(), "application/binary")
        return self.json(200, self._batch(batch_id))

    def _batch_results(self, batch_id):
        """The results once the batch has ended (made, and billed, once)."""
        batch = self.fake.batches[batch_id]
        with self.fake._lock:
            due = batch["canceled"] or (
                time.time() - batch["created"] >= self.fake.batch_latency)
            if batch["results"] is not None or not due:
                return batch["results"]
            batch["results"], batch["ended"] = [], time.time()
        for entry in batch["requests"]:
            if batch["canceled"]:
                result = {"type": "canceled"}
            else:
                raw = json.dumps(entry["params"]).encode()
                result = {"type": "succeeded", "message": self._message(
                    entry["params"], raw, Fault(), ledger="batch_")}
            batch["results"].append({"custom_id": entry["custom_id"],
                                     "result": result})
        return batch["results"]

    def _batch(self, batch_id):
        batch = self.fake.batches[batch_id]
        results = self._batch_results(batch_id)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled",
                                "expired"), 0)
        for r in results or []:
            counts[r["result"]["type"]] += 1
        counts["processing"] = len(batch["requests"]) - len(results or [])
        ended = batch["ended"]
        return {
            "id": batch_id, "type": "message_batch",
            "processing_status": "ended" if results is not None else "in_progress",
            "request_counts": counts, "created_at": _iso(batch["created"]),
            "expires_at": _iso(batch["created"] + 86400),
            "ended_at": None if ended is None else _iso(ended),
            "cancel_initiated_at": None, "archived_at": None,
            "results_url": None if results is None else
            f"{self.fake.base_url}{_BATCHES}/{batch_id}/results",
        }

    def _message(self, body, raw, fault, ledger=""):
        tool = body["tool_choice"]["name"]
        if fault.answer in ("text_only", "refusal"):
            text = ("I think it is the first class." if fault.answer == "text_only"
                    else "I can't help with that.")
            content = [{"type": "text", "text": text}]
            stop = "end_turn" if fault.answer == "text_only" else "refusal"
            output = text
        else:
            tool_input = self.fake.answer(body, fault)
            content = [{"type": "tool_use", "id": f"toolu_{zlib.crc32(raw):08x}",
                        "name": tool, "input": tool_input}]
            stop, output = "tool_use", json.dumps(tool_input)
        return {
            "id": f"msg_{time.monotonic_ns()}", "type": "message",
            "role": "assistant", "model": body["model"], "content": content,
            "stop_reason": stop, "stop_sequence": None,
            "usage": self.fake.usage(body, raw, output, ledger),
        }

    def too_long(self, tokens, limit):
        self.error(400, f"prompt is too long: {tokens} tokens > {limit} maximum")

    def error(self, status, message, retry_after=None):
        kind = _ERROR_TYPES.get(status, "api_error")
        extra = {} if retry_after is None else {"retry-after": str(retry_after)}
        self.json(status, {"type": "error",
                           "error": {"type": kind, "message": message}}, extra)


def _iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _invalid(body, path):
    if not isinstance(body, dict):
        return "request body is not JSON"
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if path == "/v1/messages":
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens: Field required"
        if not body.get("tools") or not body.get("tool_choice"):
            return "this fake only answers forced tool calls"
    return None


def _cached_prefix(body):
    """The request's text up to its last ``cache_control`` block, or ``""``.

    The API caches tools, then system, then messages, up to the last block
    marked ``cache_control``.
    """
    blocks = list(body.get("tools") or [])
    system = body.get("system")
    blocks += system if isinstance(system, list) else []
    for message in body.get("messages", []):
        content = message.get("content")
        blocks += content if isinstance(content, list) else []
    marked = [i for i, b in enumerate(blocks)
              if isinstance(b, dict) and b.get("cache_control")]
    if not marked:
        return ""
    return json.dumps(blocks[: marked[-1] + 1], sort_keys=True)


def _text_of(content):
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content)


FakeAnthropic.handler = _Handler
