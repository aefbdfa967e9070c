"""The house rules of the package, checked on its source and on a real fit.

* no import cycle between skakd's modules, counting the imports inside
  functions, and no private module or private name of a package imported
  from outside that package;
* no module over 500 lines;
* the loop's working state lives on ``DistillationState`` (a strategy's on
  its ``strategy_state``), never on the estimator nor on the strategy, whose
  fitted attributes are documented and set once, when the fit ends; and
  ``finalize`` runs on every exit path;
* the private scikit-learn API that skakd uses is all still there (this is
  what fails first when a new scikit-learn release breaks us).
"""

import ast
import importlib
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier
from skakd.augmentation import PGKD, SimulatedGenerator
from skakd.callbacks import Callback
from skakd.datasets import load_dataset
from skakd.sampling import MRARU, PoolStrategy, RandomSampler, UncertaintySampler
from skakd.teachers import OracleTeacher

PACKAGE = Path(__file__).resolve().parents[1] / "skakd"


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """``(module, names, top_level)`` for each skakd import in ``path``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "skakd":
                names = [alias.name for alias in node.names]
                yield target, names, id(node) in top_level


def _modules():
    return {
        _module_name(path): path
        for path in PACKAGE.rglob("*.py")
        if "data" not in path.relative_to(PACKAGE).parts
    }


def _resolve(target, name, modules):
    """``from target import name``: the module it loads, if it is one."""
    return f"{target}.{name}" if f"{target}.{name}" in modules else target


def test_no_import_cycle():
    """Imports inside functions count: deferring one hides a cycle from the
    interpreter, not from the reader, and one move to the top reveals it."""
    modules = _modules()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names, _ in _imports(path):
            for imported in names:
                resolved = _resolve(target, imported, modules)
                # Importing a submodule runs its packages' __init__ first.
                parts = resolved.split(".")
                for i in range(1, len(parts) + 1):
                    dep = ".".join(parts[:i])
                    if dep in modules and dep != name and not name.startswith(dep + "."):
                        graph[name].add(dep)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def _find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_private_names_stay_in_their_package():
    modules = _modules()
    offences = []
    for name, path in modules.items():
        for target, names, _ in _imports(path):
            for imported in names:
                resolved = _resolve(target, imported, modules)
                parts = resolved.split(".")
                private = [i for i, part in enumerate(parts) if part.startswith("_")
                           and part != "__init__"]
                if resolved != target and imported.startswith("_"):
                    private.append(len(parts) - 1)
                elif imported.startswith("_"):
                    # A private name belongs to its module's package (to
                    # the package itself when imported from its __init__).
                    is_package = modules[resolved].name == "__init__.py"
                    private.append(len(parts) if is_package else len(parts) - 1)
                for i in private:
                    owner = ".".join(parts[:i])  # the package the private part is in
                    if not (name == owner or name.startswith(owner + ".")):
                        offences.append(f"{name}: from {target} import {imported}")
    assert not offences, "\n".join(offences)


MAX_LINES = 500


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_module_over_500_lines(module):
    """A module longer than this holds more than one concept: split it."""
    path = _modules()[module]
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)}: {n_lines} lines"


def test_cli_knows_no_strategy_by_name():
    """The command line reads a strategy's public ``summary_``: never its
    private attributes, nor a branch on which sampler was chosen."""
    offences = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            compared = isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Attribute) and side.attr == "sampler"
                for side in [node.left, *node.comparators])
            if compared:
                offences.append(f"{path.name}:{node.lineno}: compares args.sampler")
            reads = (isinstance(node, ast.Attribute)
                     and isinstance(node.value, ast.Attribute)
                     and node.value.attr == "sampler_")
            if reads and node.attr != "summary_":
                offences.append(f"{path.name}:{node.lineno}: reads sampler_.{node.attr}")
    assert not offences, "\n".join(offences)


def test_classifier_module_holds_only_the_estimator():
    tree = ast.parse((PACKAGE / "_classifier.py").read_text())
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert classes == ["ActiveDistillationClassifier"]


def test_private_sklearn_api_still_exists():
    """Every private scikit-learn name skakd imports resolves in this release."""
    used = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "sklearn"
            ):
                for alias in node.names:
                    if alias.name.startswith("_") or "._" in node.module:
                        used.add((node.module, alias.name))
    assert used  # the scan found the imports it is meant to guard
    missing = [
        f"{module}.{name}"
        for module, name in sorted(used)
        if not hasattr(importlib.import_module(module), name)
    ]
    assert not missing


class _RecordAttributes(Callback):
    def on_round_end(self, clf, record):
        self.seen_ = getattr(self, "seen_", set()) | set(vars(clf))


def _blobs():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(-2, 1, (100, 2)), rng.normal(2, 1, (100, 2))])
    y = np.repeat([0, 1], 100)
    order = rng.permutation(200)
    return X[order], y[order]


def test_fit_keeps_no_working_state_on_the_estimator():
    X, y = _blobs()
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(X, y),
        sampler=RandomSampler(batch_size=5), max_iter=3, random_state=0,
        callbacks=[_RecordAttributes()],
    ).fit(X[:6], y[:6], X_pool=X)
    seen = clf.callbacks_[0].seen_ | set(vars(clf))
    params = set(clf.get_params(deep=False))
    working = {key for key in seen if key not in params and not key.endswith("_")}
    assert working <= {"_sklearn_version"}, working
    fitted = {key for key in seen if key not in params and key.endswith("_")}
    undocumented = fitted - _documented_attributes(ActiveDistillationClassifier)
    assert not undocumented, sorted(undocumented)


class _RecordStrategyAttributes(Callback):
    def on_round_end(self, clf, record):
        self.seen_ = getattr(self, "seen_", set()) | set(vars(clf.sampler_))


def _documented_attributes(cls):
    """The names listed in the Attributes section of ``cls``'s docstring."""
    section = (cls.__doc__ or "").partition("Attributes\n    ----------\n")[2]
    section = re.split(r"\n    \w[\w ]*\n    -{3,}\n", section)[0]
    names = re.findall(r"^    (\w+(?:, \w+)*) :", section, re.MULTILINE)
    return {name for group in names for name in group.split(", ")}


def _texts():
    data = load_dataset("trec")
    return np.asarray(data.X_train[:2000], dtype=object), np.asarray(data.y_train[:2000])


# The sampler protocol's one channel during a fit: what the last select did.
SAMPLER_REPORT = {"last_stats_"}


@pytest.mark.parametrize("make", [
    lambda: MRARU(batch_size=10), lambda: RandomSampler(batch_size=10),
    lambda: UncertaintySampler(batch_size=10), lambda: PGKD(batch_size=10),
], ids=["MRARU", "RandomSampler", "UncertaintySampler", "PGKD"])
def test_a_strategy_keeps_no_working_state_on_itself(make):
    """During the fit a strategy's working state is on ``strategy_state``;
    its fitted attributes appear once, at the end, each one documented."""
    X, y = _texts()
    strategy = make()
    generative = strategy.generative
    if generative:
        teacher = SimulatedGenerator(X[300:], y[300:], random_state=0)
    else:
        teacher = OracleTeacher(X, y)
    clf = ActiveDistillationClassifier(
        teacher=teacher, sampler=strategy, max_iter=3, random_state=0,
        callbacks=[_RecordStrategyAttributes()],
    ).fit(X[:300], y[:300], X_pool=None if generative else X[300:])
    params = set(clf.sampler_.get_params(deep=False))
    during_fit = clf.callbacks_[0].seen_ - params - SAMPLER_REPORT
    assert not during_fit, sorted(during_fit)
    fitted = set(vars(clf.sampler_)) - params
    assert all(name.endswith("_") for name in fitted), sorted(fitted)
    undocumented = fitted - _documented_attributes(type(clf.sampler_))
    assert not undocumented, sorted(undocumented)


class _FailingStrategy:
    """Labels pool items, fails in round 2, and records its finalize."""

    generative = False
    batch_size = 5

    def __init__(self):
        self.pool = PoolStrategy(RandomSampler(batch_size=5))
        self.finalized_ = []

    def prepare(self, state):
        state.strategy_state = {"scratch": np.zeros(10)}

    def acquire(self, state):
        if state.round == 2:
            raise RuntimeError("teacher went away")
        return self.pool.acquire(state)

    def finalize(self, state):
        self.finalized_.append((state.round, state.strategy_state is not None))

    def get_params(self, deep=False):
        return {}

    def set_params(self, **params):
        return self


def test_finalize_runs_on_error_and_the_fit_so_far_is_kept():
    X, y = _blobs()
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(X, y),
        sampler=_FailingStrategy(), max_iter=5, random_state=0,
    )
    with pytest.raises(RuntimeError, match="teacher went away") as info:
        clf.fit(X[:6], y[:6], X_pool=X)
    assert clf.sampler_.finalized_ == [(2, True)]
    assert clf.termination_condition_ == "error"
    assert len(clf.labeled_y_) == 6 + 5 and clf.n_iter_ == 1
    assert any("round 2 failed" in note for note in info.value.__notes__)
    # The state (and the strategy's scratch in it) went with the fit.
    assert b"scratch" not in pickle.dumps(clf)


class _Generative(_FailingStrategy):
    generative = True


def test_a_teacher_is_required_only_by_what_asks_one():
    X, y = _blobs()
    seed_only = ActiveDistillationClassifier(LogisticRegression(), max_iter=2)
    assert seed_only.fit(X[:6], y[:6]).n_iter_ == 0  # pool-based, no pool
    generative = ActiveDistillationClassifier(LogisticRegression(),
                                              sampler=_Generative())
    with pytest.raises(ValueError, match="teacher is None"):
        generative.fit(X[:6], y[:6])
