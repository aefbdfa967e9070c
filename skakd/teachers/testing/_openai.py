"""A fake OpenAI-compatible API on 127.0.0.1 (see :mod:`skakd.teachers.testing`)."""

import email.parser
import html
import itertools
import json
import math
import re
import time
import zlib

from .._cost import BATCH_DISCOUNT, cost_of_usage
from .._label_sets import MULTI_LABEL_RULE
from ._faults import (
    _PIECE,
    Fault,
    char_tokens,
    default_confidence,
    default_generator,
    default_labeler,
    items_of,
    label_entries,
    sample_entries,
    wanted,
)
from ._server import FakeServer, Handler

__all__ = ["FakeOpenAI"]

_LEDGER = ("prompt_tokens", "completion_tokens", "cached_tokens", "n_billed")
_LEDGER += tuple(f"batch_{name}" for name in _LEDGER)
_CHAT = "/v1/chat/completions"
_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error",
                404: "not_found_error", 429: "rate_limit_exceeded",
                500: "server_error", 503: "server_error"}
_CACHE_TTL = 300.0
_MIN_CACHED = 1024  # OpenAI caches prefixes of this many tokens or more...
_CACHE_STEP = 128  # ...in steps of this many
_CLASS_LINE = re.compile(r"^- (.+?)(?::.*)?$", re.MULTILINE)
_LABEL = re.compile(r'"label"\s*:\s*"((?:[^"\\]|\\.)*)"')


class FakeOpenAI(FakeServer):
    """A local fake of OpenAI's Chat Completions, Files and Batch APIs.

    It answers ``POST /v1/chat/completions`` in every way a server may be
    asked for an answer object (``response_format`` with a JSON schema or
    JSON mode, a forced tool call, plain text), bills ``usage`` with
    ``prompt_tokens_details.cached_tokens`` (prefixes of 1,024 tokens or
    more are cached for 5 minutes, in steps of 128, as OpenAI does), errors
    as OpenAI words them, and runs batches (``/v1/files``, ``/v1/batches``)
    that end after ``batch_latency`` seconds.

    Parameters
    ----------
    labeler : callable, default=default_labeler
        ``labeler(text, classes) -> label``.
    generator : callable, default=default_generator
        ``generator(classes, n_samples, prompt, counter) -> [(text, label)]``
        (a label may be a collection of labels for label sets).
    api_key : str or None, default="test-key"
        Required bearer token (``None`` accepts any, as local servers do).
    latency : float, default=0.0
        Seconds every answer takes.
    supports : tuple of str, default=("json_schema", "tool", "json_object")
        The ways of asking for an answer object the server knows; a request
        using another gets a 400 naming it (plain text always works).
    tokenizer : callable, default=char_tokens
        ``tokenizer(text) -> int``, the tokens billed.
    batch_latency : float, default=0.2
        Seconds a batch stays ``in_progress``.
    model : str, default="fake-model"
        What ``/v1/models`` lists.
    max_prompt_tokens : int or None, default=None
        The context window: a longer request gets a 400
        (``context_length_exceeded``).
    confidence : callable, default=default_confidence
        ``confidence(text, classes) -> float``: the model's probability of
        its label. Given as a stated ``confidence`` when the answer schema
        asks for one, and as token log-probabilities
        (``choices[0].logprobs.content``, with ``top_logprobs`` alternatives)
        when the request asks for ``logprobs``: the rest of the mass is
        spread evenly over the other classes, and the tokens of a label
        (pieces as :func:`subword_tokens` cuts them) carry their share of
        it, so that their product with the closing quote's is the label's
        probability.

    Attributes
    ----------
    ledger : dict
        What the server billed: ``prompt_tokens``, ``completion_tokens``,
        ``cached_tokens``, ``n_billed``, and ``batch_*`` for batch results.
        A 200 whose body is not JSON (``Fault(answer="not_json")``) stands
        for a proxy's error page and is not billed.

    Examples
    --------
    >>> import openai
    >>> from skakd.teachers.testing import FakeOpenAI
    >>> with FakeOpenAI(labeler=lambda text, classes: classes[-1]) as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key="test-key")
    ...     answer = client.chat.completions.create(
    ...         model="gpt-4.1-mini", response_format={"type": "json_schema",
    ...         "json_schema": {"name": "label_items", "schema": {"properties": {
    ...             "items": {"items": {"properties": {"label": {
    ...                 "enum": ["neg", "pos"]}}}}}}}},
    ...         messages=[{"role": "user", "content": '<item id="0">nice</item>'}])
    >>> answer.choices[0].message.content
    '{"items": [{"id": 0, "label": "pos"}]}'
    """

    ledger_names = _LEDGER
    scripted_paths = (_CHAT,)

    def __init__(self, labeler=default_labeler, generator=default_generator,
                 api_key="test-key", latency=0.0,
                 supports=("json_schema", "tool", "json_object"),
                 tokenizer=char_tokens, batch_latency=0.2, model="fake-model",
                 max_prompt_tokens=None, confidence=default_confidence):
        super().__init__(labeler, generator, api_key, latency, tokenizer,
                         batch_latency, max_prompt_tokens)
        self.confidence = confidence
        self.supports = supports
        self.model = model
        self.files = {}

    @property
    def base_url(self):
        """``http://127.0.0.1:<port>/v1``, what the ``openai`` SDK wants."""
        return self.address + "/v1"

    @property
    def n_completions(self):
        """Requests to ``/v1/chat/completions`` (errors and retries included)."""
        with self._lock:
            return sum(r["path"] == _CHAT for r in self.requests)

    def answered_bodies(self):
        bodies = self.completion_bodies()
        for batch in self.batches.values():
            bodies += [json.loads(line)["body"] for line in
                       self.files[batch["input_file_id"]].splitlines()]
        return bodies

    def priced(self, price):
        ledger, usd = self.ledger, 0.0
        for prefix, discount in (("", 1.0), ("batch_", BATCH_DISCOUNT)):
            cached = ledger[prefix + "cached_tokens"]
            usd += discount * cost_of_usage(
                price, ledger[prefix + "prompt_tokens"] - cached,
                ledger[prefix + "completion_tokens"], 0, cached)
        both = {k: ledger[k] + ledger[f"batch_{k}"] for k in
                ("prompt_tokens", "completion_tokens", "cached_tokens")}
        tokens = {"input_tokens": both["prompt_tokens"] - both["cached_tokens"],
                  "output_tokens": both["completion_tokens"],
                  "cache_write_tokens": 0,
                  "cache_read_tokens": both["cached_tokens"]}
        return usd, tokens, ledger["n_billed"] + ledger["batch_n_billed"]

    def completion_bodies(self):
        with self._lock:
            return [r["body"] for r in self.requests if r["path"] == _CHAT]

    # -- answering -------------------------------------------------------------

    def completion(self, body, raw, fault, ledger=""):
        """The ``chat.completion`` object answering ``body``."""
        mode, name, schema = _asked(body)
        message = {"role": "assistant", "content": None}
        finish = "stop"
        if fault.answer == "refusal":
            message["refusal"] = "I can't help with that."
        elif fault.answer == "text_only":
            message["content"] = "I think it is the first class."
        else:
            text = self._answer_text(body, mode, name, schema, fault)
            if mode == "tool":
                message["tool_calls"] = [{
                    "id": f"call_{zlib.crc32(raw):08x}", "type": "function",
                    "function": {"name": name, "arguments": text}}]
                finish = "tool_calls"
            else:
                message["content"] = text
        output = message["content"] or message.get("refusal") or json.dumps(
            message.get("tool_calls"))
        logprobs = None
        if body.get("logprobs") and message["content"]:
            logprobs = {"content": self._logprobs(body, message["content"]),
                        "refusal": None}
        return {
            "id": f"chatcmpl-{time.monotonic_ns()}", "object": "chat.completion",
            "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish,
                         "logprobs": logprobs}],
            "usage": self.usage(body, raw, output, ledger),
        }

    def usage(self, body, raw, output, ledger=""):
        """Bill one answer: its ``usage``, with automatic prefix caching."""
        prompt = self.tokenizer(raw.decode())
        prefix = _prefix(body)
        cached = 0
        tokens = self.tokenizer(prefix)
        if tokens >= _MIN_CACHED:
            key = zlib.crc32(prefix.encode())
            with self._lock:
                now = time.monotonic()
                if self._prompt_cache.get(key, 0) > now:
                    cached = min(tokens // _CACHE_STEP * _CACHE_STEP, prompt)
                self._prompt_cache[key] = now + _CACHE_TTL
        completion = self.tokenizer(output)
        self.bill({"prompt_tokens": prompt, "completion_tokens": completion,
                   "cached_tokens": cached}, ledger)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached}}

    def _answer_text(self, body, mode, name, schema, fault):
        system = _text(body["messages"][0])
        prompt = next(_text(m) for m in body["messages"] if m["role"] == "user")
        schema = schema or _schema_in(system)
        if name == "write_samples" or (name is None and "<item id=" not in prompt):
            classes, multi_label = _classes(schema, system, "samples")
            return json.dumps(self._samples(prompt, classes, fault, multi_label))
        classes, multi_label = _classes(schema, system, "items")
        stated = "confidence" in _item_properties(schema)
        answer = label_entries(prompt, classes, self.labeler, fault,
                               confidence=self.confidence if stated else None,
                               multi_label=multi_label)
        if mode == "text":
            return "\n".join(f"{e['id']}: {_line_value(e)}"
                             for e in answer.get("items", []))
        return json.dumps(answer)

    def _logprobs(self, body, text):
        """``logprobs.content`` of an answer ``text`` to ``body``."""
        system = _text(body["messages"][0])
        prompt = next(_text(m) for m in body["messages"] if m["role"] == "user")
        classes, _ = _classes(_asked(body)[2] or _schema_in(system), system,
                              "items")
        sure = [self.confidence(t, classes) for _, t in items_of(prompt)]
        return token_logprobs(text, classes, sure, body.get("top_logprobs") or 0)

    def _samples(self, prompt, classes, fault, multi_label=False):
        n_samples = wanted(prompt)
        counter = self.count_generated(n_samples)
        entries = sample_entries(self.generator(classes, n_samples, prompt, counter),
                                 fault, multi_label)
        if fault.answer == "malformed":
            return {"texts": [e["text"] for e in entries]}
        return {"samples": entries}

    # -- batches -----------------------------------------------------------------

    def batch(self, batch_id):
        """The batch object, its results made (and billed) once it is due."""
        batch = self.batches[batch_id]
        with self._lock:
            due = time.time() - batch["created_at"] >= self.batch_latency
            make = due and batch["output_file_id"] is None
            if make:
                batch["output_file_id"] = f"file-out-{time.monotonic_ns()}"
        if make:
            lines = []
            for line in self.files[batch["input_file_id"]].splitlines():
                entry = json.loads(line)
                raw = json.dumps(entry["body"]).encode()
                answer = self.completion(entry["body"], raw, Fault(), "batch_")
                lines.append(json.dumps({
                    "id": f"batch_req_{len(lines)}", "custom_id": entry["custom_id"],
                    "response": {"status_code": 200, "request_id": "req",
                                 "body": answer}, "error": None}))
            self.files[batch["output_file_id"]] = "\n".join(lines).encode()
            n = len(lines)
            batch.update(status="completed", completed_at=int(time.time()),
                         request_counts={"total": n, "completed": n, "failed": 0})
        return dict(batch)


class _Handler(Handler):
    def decode(self, raw, headers):
        if headers.get("content-type", "").startswith("multipart/form-data"):
            return _multipart(raw, headers["content-type"])
        return super().decode(raw, headers)

    def respond(self, path, body, raw, headers, fault):
        fake = self.fake
        if path == "/v1/models":
            return self.json(200, {"object": "list", "data": [
                {"id": fake.model, "object": "model", "created": 0,
                 "owned_by": "skakd"}]})
        if path.startswith("/v1/files"):
            return self._files(path, body)
        if path.startswith("/v1/batches"):
            return self._batches(path, body)
        if path != _CHAT:
            return self.error(404, f"no route {path}")
        problem = _invalid(body, fake.supports)
        if problem:
            return self.error(400, problem)
        self.json(200, fake.completion(body, raw, fault))

    def _files(self, path, body):
        fake, rest = self.fake, path[len("/v1/files"):].strip("/").split("/")
        if rest == [""]:
            file_id = f"file-{time.monotonic_ns()}"
            fake.files[file_id] = body["file"]
            return self.json(200, {"id": file_id, "object": "file",
                                   "bytes": len(body["file"]),
                                   "created_at": int(time.time()),
                                   "filename": body["filename"],
                                   "purpose": body.get("purpose", "batch"),
                                   "status": "processed"})
        if rest[0] not in fake.files:
            return self.error(404, f"no file {rest[0]}")
        if rest[1:] == ["content"]:
            return self.send(200, fake.files[rest[0]], "application/octet-stream")
        return self.json(200, {"id": rest[0], "object": "file"})

    def _batches(self, path, body):
        fake, rest = self.fake, path[len("/v1/batches"):].strip("/").split("/")
        if rest == [""] and self.command == "GET":  # newest first, one page
            ids = sorted(fake.batches, key=lambda b: -fake.batches[b]["created_at"])
            data = [fake.batch(b) for b in ids]
            return self.json(200, {"object": "list", "data": data, "has_more": False,
                                   "first_id": ids[0] if ids else None,
                                   "last_id": ids[-1] if ids else None})
        if rest == [""]:
            batch_id = f"batch_{time.monotonic_ns()}"
            with fake._lock:
                fake.batches[batch_id] = {
                    "id": batch_id, "object": "batch",
                    "endpoint": body["endpoint"],
                    "input_file_id": body["input_file_id"],
                    "completion_window": body["completion_window"],
                    "status": "in_progress", "created_at": time.time(),
                    "output_file_id": None, "error_file_id": None,
                    "request_counts": {"total": 0, "completed": 0, "failed": 0}}
            return self.json(200, fake.batch(batch_id))
        if rest[0] not in fake.batches:
            return self.error(404, f"no batch {rest[0]}")
        batch = fake.batch(rest[0])
        return self.json(200, dict(batch, created_at=int(batch["created_at"])))

    def too_long(self, tokens, limit):
        self.json(400, {"error": {
            "message": f"This model's maximum context length is {limit} tokens. "
                       f"However, your messages resulted in {tokens} tokens.",
            "type": "invalid_request_error", "param": "messages",
            "code": "context_length_exceeded"}})

    def error(self, status, message, retry_after=None):
        extra = {} if retry_after is None else {"retry-after": str(retry_after)}
        self.json(status, {"error": {"message": message,
                                     "type": _ERROR_TYPES.get(status, "api_error"),
                                     "param": None, "code": None}}, extra)


FakeOpenAI.handler = _Handler


def _asked(body):
    """``(mode, name, schema)``: how the request asks for its answer."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        spec = response_format["json_schema"]
        return "json_schema", spec.get("name"), spec.get("schema")
    if body.get("tools"):
        function = body["tools"][0]["function"]
        return "tool", function["name"], function.get("parameters")
    if response_format.get("type") == "json_object":
        return "json_object", None, None
    return "text", None, None


def token_logprobs(text, classes, sure, top):
    """The tokens of ``text`` with log-probabilities and ``top`` alternatives.

    The ``i``-th label has probability ``sure[i]``, the rest of the mass
    spread evenly over the other classes; each of its tokens (and its
    closing quote's) has its conditional probability given the tokens
    before, and the other classes' tokens at that place as alternatives, so
    that the label's tokens multiply to ``sure[i]``.
    """
    pieces = _PIECE.findall(text)
    starts = list(itertools.accumulate((len(p) for p in pieces), initial=0))
    logprobs = [0.0] * len(pieces)
    alternatives = [None] * len(pieces)
    forms = {c: tuple(_PIECE.findall(json.dumps(c)[1:-1])) for c in classes}
    for match, p in zip(_LABEL.finditer(text), sure):
        label = json.loads(f'"{match.group(1)}"')
        if match.start(1) not in starts or label not in forms:
            continue  # a label that does not start a token: left at 1
        first, chosen = starts.index(match.start(1)), forms[label]
        others = len(classes) - 1
        mass = {c: p if c == label else (1 - p) / others for c in classes} \
            if others else {label: 1.0}
        for k in range(min(len(chosen) + 1, len(pieces) - first)):
            # The classes still possible after k tokens, by their next token
            # (a class that ends here: the closing quote's).
            close = pieces[first + len(chosen)] if first + len(chosen) < len(
                pieces) else '"'
            groups = {}
            for c, m in mass.items():
                if forms[c][:k] == chosen[:k]:
                    nxt = forms[c][k] if len(forms[c]) > k else close
                    groups[nxt] = groups.get(nxt, 0.0) + m
            total = sum(groups.values())
            token = pieces[first + k]
            logprobs[first + k] = math.log(groups[token] / total)
            ranked = sorted(groups.items(), key=lambda g: -g[1])[:top]
            alternatives[first + k] = [(t, math.log(m / total))
                                       for t, m in ranked if m > 0]
    return [{"token": piece, "logprob": logprob, "bytes": list(piece.encode()),
             "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())}
                              for t, lp in (alts if alts is not None else
                                            [(piece, logprob)] if top else [])]}
            for piece, logprob, alts in zip(pieces, logprobs, alternatives)]


def _item_properties(schema):
    try:
        return schema["properties"]["items"]["items"]["properties"]
    except (KeyError, TypeError):
        return {}


def _classes(schema, system, key):
    """``(label set, multi_label)``: from the schema's enum (a ``labels``
    array for label sets), else the system prompt's list."""
    try:
        entry = schema["properties"][key]["items"]["properties"]
        if "labels" in entry:
            return entry["labels"]["items"]["enum"], True
        return entry["label"]["enum"], False
    except (KeyError, TypeError):
        listed = system.split("Classes:", 1)[-1]
        return ([html.unescape(c) for c in _CLASS_LINE.findall(listed)],
                MULTI_LABEL_RULE in system)


def _line_value(entry):
    """An answer entry as a plain-text line's value, the way it was asked."""
    if "labels" not in entry:
        return entry["label"]
    return " | ".join(entry["labels"]) or "none"


def _schema_in(system):
    """The JSON schema a system prompt spells out (JSON mode), or ``None``."""
    _, found, rest = system.partition("following this JSON schema: ")
    if not found:
        return None
    return json.JSONDecoder().raw_decode(rest)[0]


def _invalid(body, supports):
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    if not isinstance(body.get("model"), str):
        return "you must provide a model parameter"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "'messages' must contain at least one message"
    mode = _asked(body)[0]
    if mode != "text" and mode not in supports:
        what = "tools" if mode == "tool" else f"response_format {mode}"
        return f"{what} is not supported by this server"
    return None


def _prefix(body):
    # What every request of a call shares, first: the answer's format and the
    # system prompt (OpenAI caches the longest known prefix).
    fmt = body.get("response_format") or body.get("tools") or ""
    return json.dumps(fmt, sort_keys=True) + _text(body["messages"][0])


def _text(message):
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return content or ""


def _multipart(raw, content_type):
    """The fields of a ``multipart/form-data`` body (a file's bytes as is)."""
    parsed = email.parser.BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    fields = {}
    for part in parsed.get_payload():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        value = part.get_payload(decode=True)
        fields[name] = value if filename else value.decode()
        if filename:
            fields["filename"] = filename
    return fields
