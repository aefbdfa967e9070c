"""A fake Anthropic Messages API on 127.0.0.1, to run Claude teachers offline.

:class:`FakeAnthropic` is a small HTTP server that speaks the real wire
format of the Messages API (``POST /v1/messages`` and
``/v1/messages/count_tokens``, forced ``tool_use`` answers, ``usage``, error
bodies, status codes, ``retry-after``), so that the real ``anthropic`` SDK,
and :class:`~skakd.teachers.AnthropicTeacher` through it, talk to it through
``base_url`` exactly as they would to the API. Nothing leaves the machine and
no key is needed beyond the one the server is told to expect.

Use it to try a pipeline before paying for it, in tests, in benchmarks and in
documentation examples. Answers come from a labelling function (by default
:func:`default_labeler`: the first class named in the text, else a stable
hash) and, for PGKD, a generating function. Faults (HTTP errors, timeouts,
dropped connections, malformed or out-of-class answers) are scripted per
request with :class:`Fault`.

Examples
--------
>>> from skakd.teachers import AnthropicTeacher
>>> from skakd.teachers.testing import FakeAnthropic, Fault
>>> with FakeAnthropic() as server:
...     server.script(Fault(status=529, retry_after=0.01))  # overloaded once
...     teacher = AnthropicTeacher(base_url=server.base_url, api_key="test-key",
...                                cache=None, max_retries=2)
...     result = teacher.label(["a refund please", "late delivery"],
...                            ["delivery", "refund"])
>>> result.labels, server.n_messages
(['refund', 'delivery'], 2)
"""

import html
import json
import math
import re
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ._pricing import min_cache_tokens

__all__ = ["FakeAnthropic", "Fault", "char_tokens", "default_generator",
           "default_labeler", "random_faults", "subword_tokens"]

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
_ITEM = re.compile(r'<item id="(\d+)">(.*?)</item>', re.DOTALL)
_WANTED = re.compile(r"Write (\d+) new")
_INJECTED = re.compile(r"answer (\w+)", re.IGNORECASE)
# A word with its leading space, a number, a run of punctuation, or blanks.
_PIECE = re.compile(r" ?[A-Za-z]+| ?\d+|[^\sA-Za-z\d]+|\s+")


@dataclass
class Fault:
    """What goes wrong with one request.

    Parameters
    ----------
    status : int or None
        Answer with this HTTP error status (429, 500, 529, 401, 400...).
    retry_after : float or None
        ``retry-after`` header (seconds) sent with the error.
    delay : float
        Seconds to wait before answering (beyond the client timeout = a
        timeout).
    drop : bool
        Close the connection without answering.
    answer : str or None
        A bad answer: ``"malformed"`` (tool input without ``items``),
        ``"unknown_label"`` (item 0 gets a label outside the classes),
        ``"missing_ids"`` (the last item is left out), ``"text_only"`` (no
        tool call), ``"refusal"`` (``stop_reason="refusal"``, no tool call,
        as when the model or its content filter declines).
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    answer: str | None = None


def random_faults(rng, n, rate=0.2, answer_share=0.3, answer_gap=10, delay=0.6):
    """A script of ``n`` faults, ``rate`` of them injected, of every kind.

    Transport faults (429 and 529 with ``retry-after``, 500, a dropped
    connection, an answer ``delay`` seconds late) and wrong answers
    (``"malformed"``, ``"unknown_label"``), these ``answer_share`` of the
    injected ones. Two wrong answers to one request make its items
    unlabellable by design (one corrective re-ask), so wrong answers are at
    least ``answer_gap`` requests apart.

    Examples
    --------
    >>> import numpy as np
    >>> from skakd.teachers.testing import random_faults
    >>> script = random_faults(np.random.default_rng(0), 1000)
    >>> 0.15 < sum(f != Fault() for f in script) / 1000 < 0.25
    True
    """
    transport = [Fault(status=429, retry_after=0.01), Fault(status=500),
                 Fault(status=529, retry_after=0.01), Fault(drop=True),
                 Fault(delay=delay)]
    answers = [Fault(answer="malformed"), Fault(answer="unknown_label")]
    script, last_answer = [], -answer_gap
    for i in range(n):
        if rng.random() >= rate:
            script.append(Fault())
        elif rng.random() < answer_share and i - last_answer >= answer_gap:
            script.append(answers[rng.integers(len(answers))])
            last_answer = i
        else:
            script.append(transport[rng.integers(len(transport))])
    return script


def default_labeler(text, classes):
    """The first class named in the text, else a stable hash of the text."""
    lowered = text.lower()
    for label in classes:
        if label.lower() in lowered:
            return label
    return classes[zlib.crc32(text.encode()) % len(classes)]


def default_generator(classes, n_samples, prompt, counter):
    """``n_samples`` texts, cycling through the classes, naming their class."""
    return [
        (f"a new {classes[i % len(classes)]} text number {counter + i}",
         classes[i % len(classes)])
        for i in range(n_samples)
    ]


def char_tokens(text):
    """Tokens as characters / 4: the default accounting of the fake."""
    return math.ceil(len(text) / 4)


def subword_tokens(text):
    """Tokens as a subword tokenizer counts them, roughly.

    A word with its leading space, a number or a run of punctuation is one
    token per 7 characters: about characters / 4 on prose, but denser on
    JSON, as real tokenizers are. Independent of characters / 4, so an
    estimate made with that approximation is not right by construction.
    """
    return sum(math.ceil(len(piece) / 7) for piece in _PIECE.findall(text))


class FakeAnthropic:
    """A local fake of the Anthropic Messages API.

    Parameters
    ----------
    labeler : callable, default=default_labeler
        ``labeler(text, classes) -> label`` for ``label_items`` requests.
    generator : callable, default=default_generator
        ``generator(classes, n_samples, prompt, counter) -> [(text, label)]``
        for ``write_samples`` requests.
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
    min_cache_tokens : int or None, default=None
        Shortest prefix that prompt caching stores; ``None`` for the API's
        minimum for the request's model (1024 tokens, 4096 for Haiku 4.5 and
        Opus 4.5, 2048 for Haiku 3 and 3.5).

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

    def __init__(self, labeler=default_labeler, generator=default_generator,
                 api_key="test-key", latency=0.0, obey_injection=False,
                 tokenizer=char_tokens, can_count=True, batch_latency=0.2,
                 min_cache_tokens=None):
        self.labeler = labeler
        self.generator = generator
        self.api_key = api_key
        self.latency = latency
        self.obey_injection = obey_injection
        self.tokenizer = tokenizer
        self.can_count = can_count
        self.min_cache_tokens = min_cache_tokens
        self.batch_latency = batch_latency
        self.ledger = dict.fromkeys(_LEDGER, 0)
        self._prompt_cache = {}
        self.requests = []
        self.batches = {}
        self._faults = deque()
        self._lock = threading.Condition()
        self._generated = 0
        self._server = None
        self.in_flight = 0
        self.max_in_flight = 0

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        thread = threading.Thread(target=self._server.serve_forever,
                                  kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def base_url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting and inspection -------------------------------------------

    def script(self, *faults):
        """Apply ``faults`` to the next requests to ``/v1/messages``, in order."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def n_messages(self):
        """Requests received by ``/v1/messages`` (errors and retries included)."""
        with self._lock:
            return sum(r["path"] == "/v1/messages" for r in self.requests)

    def message_bodies(self):
        with self._lock:
            return [r["body"] for r in self.requests if r["path"] == "/v1/messages"]

    def wait_for_messages(self, n, timeout=30.0):
        """Block until ``n`` message requests have been answered."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(r["path"] == "/v1/messages" and r["answered"]
                      for r in self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"fewer than {n} requests in {timeout}s")
                self._lock.wait(left)

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
        self._bill(usage, ledger)
        return usage

    def _bill(self, usage, prefix=""):
        with self._lock:
            for name, value in usage.items():
                self.ledger[prefix + name] += value
            self.ledger[prefix + "n_billed"] += 1

    def wait_for_requests(self, predicate, timeout=30.0):
        """Block until a request for which ``predicate(record)`` is true arrives."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not any(predicate(r) for r in self.requests):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no such request in {timeout}s")
                self._lock.wait(left)

    # -- answering -------------------------------------------------------------

    def _record(self, path, body, headers):
        with self._lock:
            record = {"path": path, "body": body, "headers": headers,
                      "answered": False, "time": time.monotonic()}
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = self._faults.popleft() if (
                path == "/v1/messages" and self._faults) else Fault()
        return record, fault

    def _answered(self, record):
        with self._lock:
            record["answered"] = True
            self.in_flight -= 1
            self._lock.notify_all()

    def answer(self, body, fault):
        """The tool input a model would send for ``body``."""
        tool = body["tool_choice"]["name"]
        schema = body["tools"][0]["input_schema"]["properties"]
        if tool == "label_items":
            classes = schema["items"]["items"]["properties"]["label"]["enum"]
            return self._label(body, classes, fault)
        classes = schema["samples"]["items"]["properties"]["label"]["enum"]
        prompt = _text_of(body["messages"][0]["content"])
        n_samples = int(_WANTED.search(prompt).group(1))
        with self._lock:
            counter, self._generated = self._generated, self._generated + n_samples
        samples = self.generator(classes, n_samples, prompt, counter)
        entries = [{"text": text, "label": label} for text, label in samples]
        if fault.answer == "unknown_label" and entries:
            entries[0]["label"] = "NOT_A_CLASS"
        return {"samples": entries}

    def _label(self, body, classes, fault):
        prompt = _text_of(body["messages"][0]["content"])
        items = [(int(i), html.unescape(text)) for i, text in _ITEM.findall(prompt)]
        entries = []
        for item_id, text in items:
            injected = _INJECTED.search(text) if self.obey_injection else None
            label = injected.group(1) if injected else self.labeler(text, classes)
            entries.append({"id": item_id, "label": label})
        if fault.answer == "unknown_label" and entries:
            entries[0]["label"] = "NOT_A_CLASS"
        if fault.answer == "missing_ids":
            entries = entries[:-1]
        if fault.answer == "malformed":
            return {"answers": [e["label"] for e in entries]}
        return {"items": entries}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # and the client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True
    fake = None  # set by FakeAnthropic.start

    def log_message(self, *args):  # keep test output clean
        pass

    def handle(self):
        try:
            super().handle()
        except ConnectionResetError:
            pass  # the client went away (killed, or gave up) between requests

    def do_GET(self):
        self.do_POST()

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        raw = self.rfile.read(length) if length else b"{}"
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        path = self.path.split("?")[0]
        record, fault = self.fake._record(path, body, headers)
        try:
            self._respond(path, body, raw, headers, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer
        finally:
            self.fake._answered(record)

    def _respond(self, path, body, raw, headers, fault):
        fake = self.fake
        if fault.delay or fake.latency:
            time.sleep(fault.delay + fake.latency)
        if fault.drop:
            self.close_connection = True
            return
        if fake.api_key is not None and _credential(headers) != fake.api_key:
            return self._error(401, "invalid x-api-key")
        if fault.status is not None:
            return self._error(fault.status, "scripted fault",
                               retry_after=fault.retry_after)
        if path.startswith(_BATCHES):
            return self._batch_route(path, body)
        problem = _invalid(body, path)
        if problem:
            return self._error(400, problem)
        if path == "/v1/messages/count_tokens" and fake.can_count:
            counted = {k: body.get(k) for k in ("system", "messages", "tools")}
            return self._json(
                200, {"input_tokens": fake.tokenizer(json.dumps(counted))})
        if path != "/v1/messages":
            return self._error(404, f"no route {path}")
        self._json(200, self._message(body, raw, fault))

    def _batch_route(self, path, body):
        """Message Batches: create, retrieve, results and cancel."""
        fake, rest = self.fake, path[len(_BATCHES):].strip("/").split("/")
        if rest == [""] and self.command == "GET":  # newest first, one page
            ids = sorted(fake.batches, key=lambda b: -fake.batches[b]["created"])
            data = [self._batch(b) for b in ids]
            return self._json(200, {"data": data, "has_more": False,
                                    "first_id": ids[0] if ids else None,
                                    "last_id": ids[-1] if ids else None})
        if rest == [""]:
            batch_id = f"msgbatch_{time.monotonic_ns()}"
            with fake._lock:
                fake.batches[batch_id] = {"requests": body["requests"],
                                          "created": time.time(), "ended": None,
                                          "canceled": False, "results": None}
            return self._json(200, self._batch(batch_id))
        batch_id = rest[0]
        if batch_id not in fake.batches:
            return self._error(404, f"no batch {batch_id}")
        if rest[1:] == ["cancel"]:
            fake.batches[batch_id]["canceled"] = True
        elif rest[1:] == ["results"]:
            lines = [json.dumps(r) for r in self._batch_results(batch_id) or []]
            return self._send(200, "\n".join(lines).encode(), "application/binary")
        return self._json(200, self._batch(batch_id))

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

    def _error(self, status, message, retry_after=None):
        kind = _ERROR_TYPES.get(status, "api_error")
        extra = {} if retry_after is None else {"retry-after": str(retry_after)}
        self._json(status, {"type": "error",
                            "error": {"type": kind, "message": message}}, extra)

    def _json(self, status, payload, extra_headers=None):
        self._send(status, json.dumps(payload).encode(), "application/json",
                   extra_headers)

    def _send(self, status, data, content_type, extra_headers=None):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_{time.monotonic_ns()}")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _iso(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def _credential(headers):
    # SDKs send the key as x-api-key, recent ones as a bearer token.
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or bearer.removeprefix("Bearer ")


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
