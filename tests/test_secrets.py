"""No API key in any exception a teacher raises, on any path: not in its
pickle, and not anywhere in the graph of objects it reaches."""

import gc
import pickle
import types

import pytest

from skakd.teachers import AnthropicTeacher, OpenAITeacher
from skakd.teachers.testing import FakeAnthropic, FakeOpenAI, Fault

pytest.importorskip("anthropic")
pytest.importorskip("openai")

SECRET = "sk-very-secret-key-0123456789"
PROVIDERS = {
    "anthropic": (FakeAnthropic, AnthropicTeacher, "claude-haiku-4-5"),
    "openai": (FakeOpenAI, OpenAITeacher, "gpt-4.1-mini"),
}


def reaches_secret(root, limit=200_000):
    """Whether any string or bytes reachable from ``root`` holds the key.

    Tracebacks are left out: their frames are the callers', the test's own
    among them (which holds the key it passed).
    """
    seen, stack = set(), [root]
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str) and SECRET in obj:
            return True
        if isinstance(obj, (bytes, bytearray)) and SECRET.encode() in obj:
            return True
        if isinstance(obj, (type, types.ModuleType, types.TracebackType,
                            types.FrameType)):
            continue
        stack.extend(gc.get_referents(obj))
    return False


def fail(provider, path, tmp_path):
    fake, teacher_class, model = PROVIDERS[provider]
    server = fake(api_key=SECRET).start()
    teacher = teacher_class(model=model, base_url=server.base_url, api_key=SECRET,
                            cache=tmp_path / "c.sqlite", max_retries=0,
                            timeout=2)
    try:
        if path == "status":
            server.script(Fault(status=400))
        elif path == "batch_create":
            teacher.set_params(batch_api=True)
            server.script(*[Fault(status=400)] * 3)
            server.scripted_paths = ("/v1/messages/batches", "/v1/files")
        elif path == "connection":
            server.stop()
        with pytest.raises(Exception) as info:
            teacher.label(["where is my parcel"], ["a", "b"])
        return info.value
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["status", "connection", "batch_create"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_exception_carries_the_key(provider, path, tmp_path):
    exc = fail(provider, path, tmp_path)
    assert SECRET.encode() not in pickle.dumps(exc)
    assert not reaches_secret(exc)
