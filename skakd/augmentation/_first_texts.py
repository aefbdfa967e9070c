"""PGKD from a taxonomy alone: the teacher writes the first texts.

Without a seed (see :class:`~skakd.ActiveDistillationClassifier`'s cold
start), there are no examples to show the teacher nor to validate on: the
first request asks for texts of every class from its name and description
only, as evenly as the round allows. PGKD then takes its validation split
from them and goes on as from a seed.
"""

import numpy as np

from ..strategy import Acquisition
from ._guidance import native
from ._request import GenerationRequest, check_answer, check_generator

__all__ = ["first_request", "write_first_texts"]


def first_request(classes, n_samples, class_descriptions=None):
    """The request of a cold start: ``n_samples`` texts spread evenly over
    ``classes``, with no example, report or error to show.

    Examples
    --------
    >>> from skakd.augmentation._first_texts import first_request
    >>> first_request(["neg", "pos"], 5).class_counts
    {'neg': 3, 'pos': 2}
    """
    classes = native(np.asarray(classes))
    share, extra = divmod(n_samples, len(classes))
    counts = {label: share + (i < extra) for i, label in enumerate(classes)}
    counts = {label: k for label, k in counts.items() if k > 0}
    return GenerationRequest(classes=classes, n_samples=sum(counts.values()),
                             class_counts=counts,
                             class_descriptions=class_descriptions)


def write_first_texts(state, class_descriptions=None):
    """Ask ``state.teacher`` for the first ``state.n_wanted`` texts; they join
    the labelled set as ``"generated"`` (labels outside the classes are
    rejected as for any answer)."""
    check_generator(state.teacher)
    request = first_request(state.classes, state.n_wanted, class_descriptions)
    answer = state.teacher.generate(request)
    samples = [(text, label) for text, label in check_answer(answer, state.teacher)
               if isinstance(text, str) and text.strip()]
    texts = np.empty(len(samples), dtype=object)
    texts[:] = [text for text, _ in samples]
    return Acquisition(texts, [label for _, label in samples], "generated", None,
                       answer, {"n_generated": len(samples)})
