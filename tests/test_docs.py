"""The documentation runs as written, offline, and builds without a warning.

Each page under ``docs/`` is run top to bottom in a fresh temporary folder:

* ```` ```python ```` blocks are executed in one namespace per page;
* ```` ```bash ```` blocks run their ``skakd ...`` commands (lines joined at
  a trailing backslash) through :func:`skakd.cli.main`, in-process, and must
  exit 0; other lines of the block (``export``, ``ls``) are not run;
* ```` ```console ```` blocks are shown only (installation commands, the
  demo, commands that need a real API key).

A python or bash block may be followed by a line ``prints`` and a
```` ```text ```` block: what the block writes to stdout must be exactly that
text, so the page shows the real output; ``...`` in it stands for any text
within its line (a duration). No block may emit a warning.

Claude is the local fake server of :mod:`skakd.teachers.testing`: pages see
``ANTHROPIC_BASE_URL`` pointing at it and a test key. Docstring examples run
separately, through ``--doctest-modules``. The last test builds the HTML
with ``sphinx-build -W`` (every warning an error) and intersphinx off, as an
offline machine would.
"""

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from skakd.cli import main

pytest.importorskip("matplotlib").use("Agg")

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md")
               if not {"_build", "generated"} & set(p.parts))
FENCE = re.compile(r"^(`{3,})(\w+)[^\n]*\n(.*?)^\1\s*$", re.DOTALL | re.MULTILINE)
PRINTS = re.compile(r"\s*prints\s*")


def code_blocks(text):
    """``(language, code, expected_stdout or None)`` of each fenced block.

    A ```` ```text ```` block that follows a line ``prints`` is the expected
    output of the block before it, not a block of its own.
    """
    fences, blocks, output = list(FENCE.finditer(text)), [], None
    for this, after in zip(fences, fences[1:] + [None]):
        if this is output:
            continue
        shows = (after is not None and after.group(2) == "text"
                 and PRINTS.fullmatch(text[this.end():after.start()]) is not None)
        output = after if shows else None
        blocks.append((this.group(2), this.group(3), output and output.group(3)))
    return blocks


def same_output(printed, expected):
    """Whether ``printed`` is ``expected``, where ``...`` stands for any text
    within its line (a run's duration)."""
    pattern = "[^\n]*".join(map(re.escape, expected.split("...")))
    return re.fullmatch(pattern, printed) is not None


def skakd_commands(code):
    """The ``skakd`` command lines of a shell block, continuations joined."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines()
            if line.strip().startswith("skakd ")]


def test_code_blocks_are_found():
    blocks = code_blocks("x\n```python\nprint(1)\n```\n\nprints\n\n```text\n1\n```\n"
                         "```bash\nskakd a \\\n  b\n```\n```text\nshown\n```\n")
    assert blocks == [("python", "print(1)\n", "1\n"),
                      ("bash", "skakd a \\\n  b\n", None),
                      ("text", "shown\n", None)]
    assert skakd_commands(blocks[1][1]) == ["skakd a b"]


def test_an_ellipsis_stands_for_text_within_its_line():
    assert same_output("done in 8.9 s.\nok\n", "done in ... s.\nok\n")
    assert not same_output("done in 8.9 s.\nnot ok\n", "done in ... s.\nok\n")
    assert not same_output("done\nin 8.9 s.\n", "done...s.\n")


@pytest.fixture
def claude(monkeypatch):
    pytest.importorskip("anthropic")
    from skakd.teachers.testing import FakeAnthropic

    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        yield server


@pytest.fixture
def gpt(monkeypatch):
    pytest.importorskip("openai")
    from skakd.teachers.testing import FakeOpenAI

    with FakeOpenAI() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield server


def run_block(language, code, where, namespace):
    """Run one block; return what it wrote to stdout and the warnings it emitted."""
    stdout = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(stdout):
        warnings.simplefilter("always")
        if language == "python":
            exec(compile(code, where, "exec"), namespace)
        for command in skakd_commands(code) if language == "bash" else []:
            assert main(shlex.split(command)[1:]) == 0, f"{where}: {command}"
    return stdout.getvalue(), [f"{w.category.__name__}: {w.message}" for w in caught]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples_run(page, tmp_path, monkeypatch, request):
    text = page.read_text(encoding="utf-8")
    blocks = [block for block in code_blocks(text) if block[0] in ("python", "bash")]
    if not blocks:
        pytest.skip("no runnable examples")
    if "anthropic" in text.lower():
        request.getfixturevalue("claude")
    if "openai" in text.lower():
        request.getfixturevalue("gpt")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs_{page.stem}"}
    for number, (language, code, expected) in enumerate(blocks, 1):
        where = f"{page.relative_to(DOCS)}, example {number}"
        printed, caught = run_block(language, code, where, namespace)
        assert caught == [], f"{where} warned"
        if expected is not None:
            assert same_output(printed, expected), f"{where} printed:\n{printed}"


def test_docs_build_without_warnings(tmp_path):
    for module in ("sphinx", "myst_parser", "numpydoc", "pydata_sphinx_theme"):
        pytest.importorskip(module, reason="the docs extra: pip install -e '.[docs]'")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, env={**os.environ, "SKAKD_DOCS_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "html" / "index.html").is_file()
