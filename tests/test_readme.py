"""The README's Python examples run as written, offline: each on its own,
without a warning, printing exactly the output the README shows after it,
and every model they fit survives ``joblib.dump``/``load``."""

import contextlib
import io
import re
import textwrap
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator

README = Path(__file__).resolve().parents[1] / "README.md"
# A python block, then optionally "prints" and the text block it prints.
BLOCK = re.compile(r"```python\n(.*?)```(?:\s*prints\s*```text\n(.*?)```)?", re.S)


def examples(text):
    """``(code, expected_output or None)`` for each python block."""
    return [(textwrap.dedent(m.group(1)),
             None if m.group(2) is None else textwrap.dedent(m.group(2)))
            for m in BLOCK.finditer(text)]


def test_examples_are_found():
    text = "```python\nprint(1)\n```\n\nprints\n\n```text\n1\n```\n```python\nx = 2\n```"
    assert examples(text) == [("print(1)\n", "1\n"), ("x = 2\n", None)]


@pytest.mark.parametrize("index", range(len(examples(README.read_text()))))
def test_readme_example(index, tmp_path, monkeypatch):
    code, expected = examples(README.read_text(encoding="utf-8"))[index]
    monkeypatch.chdir(tmp_path)
    namespace, stdout = {"__name__": "readme"}, io.StringIO()
    with warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(stdout):
        warnings.simplefilter("always")
        exec(compile(code, str(README), "exec"), namespace)
    assert [str(w.message) for w in caught] == []
    if expected is not None:
        assert stdout.getvalue() == expected
    fitted = [value for value in namespace.values()
              if isinstance(value, BaseEstimator) and hasattr(value, "predict")
              and hasattr(value, "n_features_in_") or hasattr(value, "estimator_")]
    texts = ["I still have not received my new card", "What is the capital of Peru?"]
    for model in fitted:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing may be left out
            joblib.dump(model, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
        np.testing.assert_array_equal(loaded.predict(texts), model.predict(texts))
