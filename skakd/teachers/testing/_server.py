"""What every fake API server shares: a threaded HTTP server on 127.0.0.1,
the record of requests, scripted faults, a ledger and waiting helpers."""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ._faults import Fault, char_tokens, default_generator, default_labeler

__all__ = ["FakeServer", "Handler"]

# What a fake sends for a Fault(answer="not_json"): a proxy's error page.
NOT_JSON = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class FakeServer:
    """Lifecycle, records and faults of a fake API (subclasses answer).

    Subclasses set ``handler`` (a :class:`Handler` subclass),
    ``ledger_names`` and ``scripted_paths`` (the paths whose requests take
    the scripted faults). The parameters every fake takes are documented
    with each.
    """

    handler = None
    ledger_names = ()
    scripted_paths = ()

    def __init__(self, labeler=default_labeler, generator=default_generator,
                 api_key="test-key", latency=0.0, tokenizer=char_tokens,
                 batch_latency=0.2, max_prompt_tokens=None):
        self.labeler = labeler
        self.max_prompt_tokens = max_prompt_tokens
        self.generator = generator
        self.api_key = api_key
        self.latency = latency
        self.tokenizer = tokenizer
        self.batch_latency = batch_latency
        self._prompt_cache = {}
        self._generated = 0
        self.ledger = dict.fromkeys(self.ledger_names, 0)
        self.requests = []
        self.batches = {}
        self._faults = deque()
        self._lock = threading.Condition()
        self._server = None
        self.in_flight = 0
        self.max_in_flight = 0

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        handler = type("Handler", (self.handler,), {"fake": self})
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
    def address(self):
        """``http://127.0.0.1:<port>``, once started."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- scripting and inspection -------------------------------------------

    def script(self, *faults):
        """Apply ``faults`` to the next answering requests, in order."""
        with self._lock:
            self._faults.extend(faults)

    def answered_bodies(self):  # pragma: no cover - interface
        """Every answering request's body, batched ones included."""
        raise NotImplementedError

    def priced(self, price):  # pragma: no cover - interface
        """``(usd, tokens, n_requests)`` of the ledger at ``price``, batches
        at the batch discount; ``tokens`` in the teachers' words
        (``input_tokens``, ``output_tokens``, ``cache_write_tokens``,
        ``cache_read_tokens``)."""
        raise NotImplementedError

    def count_generated(self, n_samples):
        """The number of texts generated before these ``n_samples``."""
        with self._lock:
            counter, self._generated = self._generated, self._generated + n_samples
        return counter

    def bill(self, usage, prefix=""):
        """Add one answer's ``usage`` to the ledger (``prefix`` for batches)."""
        with self._lock:
            for name, value in usage.items():
                self.ledger[prefix + name] += value
            self.ledger[prefix + "n_billed"] += 1

    def wait_for_requests(self, predicate, timeout=30.0):
        """Block until a request for which ``predicate(record)`` is true arrives."""
        self._wait(lambda: any(predicate(r) for r in self.requests), timeout,
                   f"no such request in {timeout}s")

    def wait_until_idle(self, timeout=30.0):
        """Block until every request received has been answered (or dropped)."""
        self._wait(lambda: all(r["answered"] for r in self.requests), timeout,
                   f"requests still unanswered after {timeout}s")

    def _wait(self, done, timeout, message):
        deadline = time.monotonic() + timeout
        with self._lock:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(message)
                self._lock.wait(left)

    def record(self, path, body, headers):
        """Remember a request; its record and the fault it takes."""
        with self._lock:
            record = {"path": path, "body": body, "headers": headers,
                      "answered": False, "time": time.monotonic()}
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            fault = self._faults.popleft() if (
                path in self.scripted_paths and self._faults) else Fault()
            self._lock.notify_all()  # wake wait_for_requests
        return record, fault

    def answered(self, record):
        with self._lock:
            record["answered"] = True
            self.in_flight -= 1
            self._lock.notify_all()


class Handler(BaseHTTPRequestHandler):
    """HTTP plumbing: read, record, apply transport faults, send.

    Subclasses implement ``respond(path, body, raw, headers, fault)``,
    ``error(status, message, retry_after=None)`` and ``too_long(tokens,
    limit)`` (the 400 of a prompt over the context window).
    """

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm
    # and the client's delayed ACK add 40 ms to every answer.
    disable_nagle_algorithm = True
    fake = None  # set by FakeServer.start

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
        body = self.decode(raw, headers)
        path = self.path.split("?")[0]
        record, fault = self.fake.record(path, body, headers)
        try:
            self._answer(path, body, raw, headers, fault)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer
        finally:
            self.fake.answered(record)

    def decode(self, raw, headers):
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    def _answer(self, path, body, raw, headers, fault):
        fake = self.fake
        if fault.delay or fake.latency:
            time.sleep(fault.delay + fake.latency)
        if fault.drop:
            self.close_connection = True
            return
        if fake.api_key is not None and credential(headers) != fake.api_key:
            return self.error(401, "invalid api key")
        if fault.status is not None:
            return self.error(fault.status, "scripted fault",
                              retry_after=fault.retry_after)
        if fault.answer == "not_json":
            return self.send(200, NOT_JSON, "application/json")
        limit = fake.max_prompt_tokens
        if limit is not None and path in fake.scripted_paths:
            tokens = fake.tokenizer(raw.decode(errors="replace"))
            if tokens > limit:
                return self.too_long(tokens, limit)
        self.respond(path, body, raw, headers, fault)

    def json(self, status, payload, extra_headers=None):
        self.send(status, json.dumps(payload).encode(), "application/json",
                  extra_headers)

    def send(self, status, data, content_type, extra_headers=None):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", f"req_{time.monotonic_ns()}")
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def credential(headers):
    """The key a request carries (``x-api-key`` or a bearer token)."""
    bearer = headers.get("authorization", "")
    return headers.get("x-api-key") or bearer.removeprefix("Bearer ")
