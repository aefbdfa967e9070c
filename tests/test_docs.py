"""Every code example of the documentation runs, offline.

Each page under ``docs/`` is run top to bottom in a fresh temporary folder:

* ```` ```python ```` blocks are executed in one namespace per page;
* ```` ```bash ```` blocks run their ``skakd ...`` commands (lines joined at
  a trailing backslash) through :func:`skakd.cli.main`, in-process, and must
  exit 0; other lines of the block (``export``, ``ls``) are not run;
* ```` ```console ```` blocks are shown only (installation commands, the
  demo, commands that need a real API key).

Claude is the local fake server of :mod:`skakd.teachers.testing`: pages see
``ANTHROPIC_BASE_URL`` pointing at it and a test key. Docstring examples run
separately, through ``--doctest-modules``.
"""

import re
import shlex
from pathlib import Path

import pytest

from skakd.cli import main

pytest.importorskip("matplotlib").use("Agg")

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
FENCE = re.compile(r"^(`{3,})(\w+)[^\n]*\n(.*?)^\1\s*$", re.DOTALL | re.MULTILINE)


def code_blocks(text):
    """``(language, code)`` of each fenced block of a Markdown page."""
    return [(m.group(2), m.group(3)) for m in FENCE.finditer(text)]


def skakd_commands(code):
    """The ``skakd`` command lines of a shell block, continuations joined."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines()
            if line.strip().startswith("skakd ")]


def test_code_blocks_are_found():
    blocks = code_blocks("x\n```python\nprint(1)\n```\n```bash\nskakd a \\\n  b\n```\n")
    assert blocks == [("python", "print(1)\n"), ("bash", "skakd a \\\n  b\n")]
    assert skakd_commands(blocks[1][1]) == ["skakd a b"]


@pytest.fixture
def claude(monkeypatch):
    pytest.importorskip("anthropic")
    from skakd.teachers.testing import FakeAnthropic

    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        yield server


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch, request):
    blocks = [(lang, code) for lang, code in code_blocks(page.read_text())
              if lang in ("python", "bash")]
    if not blocks:
        pytest.skip("no runnable examples")
    if "anthropic" in page.read_text().lower():
        request.getfixturevalue("claude")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, (language, code) in enumerate(blocks, 1):
        where = f"{page.relative_to(DOCS)}, example {number}"
        if language == "python":
            exec(compile(code, where, "exec"), namespace)
            continue
        for command in skakd_commands(code):
            assert main(shlex.split(command)[1:]) == 0, f"{where}: {command}"
