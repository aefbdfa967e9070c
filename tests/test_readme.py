"""The README's Python examples run as written, offline."""

import re
import textwrap
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text):
    return [textwrap.dedent(block) for block in
            re.findall(r"```python\n(.*?)```", text, flags=re.S)]


def test_readme_examples_run_in_order():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    clf = namespace["clf"]
    assert clf.history_[:, "n_labeled"] == [77, 102, 127, 152, 177]
    assert clf.termination_condition_ == "max_iter"
    assert namespace["search"].best_params_["sampler__batch_size"] in (10, 25)
