"""Why a fit stopped, and why an item was rejected or left unlabelled.

One vocabulary, defined here once, for every part of skakd that says *why*:
the classifier's ``termination_condition_``, a callback's ``stop_reason``,
the teachers' ``TeacherResult.reasons``, PGKD's screening counts and the
``history_`` keys made from them (``n_unlabeled_<reason>``,
``n_rejected_<reason>``), and the command line's summary. The values are
plain strings, so ``clf.termination_condition_ == "max_labels"`` and
``clf.termination_condition_ == reasons.MAX_LABELS`` say the same.

Examples
--------
>>> from sklearn.datasets import make_classification
>>> from sklearn.linear_model import LogisticRegression
>>> from skakd import ActiveDistillationClassifier, reasons
>>> from skakd.teachers import OracleTeacher
>>> X, y = make_classification(n_samples=300, random_state=0)
>>> clf = ActiveDistillationClassifier(
...     LogisticRegression(), teacher=OracleTeacher(X, y), max_labels=50,
...     random_state=0).fit(X[:10], y[:10], X_pool=X[10:])
>>> clf.termination_condition_ == reasons.MAX_LABELS
True
>>> reasons.STOP_REASONS
('max_iter', 'max_labels', 'max_cost', 'pool_exhausted', 'early_stopping', \
'converged', 'labels_rejected', 'interrupted', 'error')
"""

__all__ = [
    "AWAITING_REVIEW",
    "BLANK",
    "CONVERGED",
    "DUPLICATE",
    "EARLY_STOPPING",
    "EMPTY",
    "ERROR",
    "INTERRUPTED",
    "LABELS_REJECTED",
    "LEAK",
    "LENGTH",
    "MALFORMED",
    "MAX_COST",
    "MAX_ITER",
    "MAX_LABELS",
    "NEAR_DUPLICATE",
    "NOT_IN_CLASSES",
    "NO_ANSWER",
    "POOL_EXHAUSTED",
    "REFUSAL",
    "REJECTION_DESCRIPTIONS",
    "REJECTION_REASONS",
    "STOP_REASONS",
    "SURPLUS",
    "TOO_LONG",
    "UNENCODABLE",
    "UNKNOWN",
    "UNKNOWN_LABEL",
    "UNLABELED_REASONS",
]

# -- why the loop stopped: ``termination_condition_`` ------------------------

#: ``max_iter`` teacher rounds ran.
MAX_ITER = "max_iter"
#: ``max_labels`` items were sent to the teacher or written by it.
MAX_LABELS = "max_labels"
#: The next round would exceed ``max_cost`` USD.
MAX_COST = "max_cost"
#: Every pool item went to the teacher (a strategy's ``acquire`` gave ``None``).
POOL_EXHAUSTED = "pool_exhausted"
#: A strategy (PGKD's ``patience``) or a callback such as
#: :class:`~skakd.callbacks.EarlyStopping` stopped the loop.
EARLY_STOPPING = "early_stopping"
#: A label-free stopping criterion of :mod:`skakd.stopping` found that the
#: student stopped learning.
CONVERGED = "converged"
#: Every answer of a round named a label outside the classes (even up to
#: case and spaces): the next rounds would pay for labels thrown away. Pass
#: the teacher's labels as ``classes`` (``--classes``), or fix the teacher.
LABELS_REJECTED = "labels_rejected"
#: Ctrl-C: what was learned so far is kept.
INTERRUPTED = "interrupted"
#: A round raised; set before the error propagates.
ERROR = "error"
STOP_REASONS = (MAX_ITER, MAX_LABELS, MAX_COST, POOL_EXHAUSTED, EARLY_STOPPING,
                CONVERGED, LABELS_REJECTED, INTERRUPTED, ERROR)

# -- why the teacher left an item unlabelled: ``n_unlabeled_<reason>`` --------

#: The model refused to answer.
REFUSAL = "refusal"
#: The answer could not be read (no readable tool call, not a ``(text,
#: label)`` pair); also a generated sample's first rejection reason.
MALFORMED = "malformed"
#: The teacher answered a label outside the classes.
UNKNOWN_LABEL = "unknown_label"
#: The answer left the item out.
NO_ANSWER = "no_answer"
#: Alone, the item made a prompt longer than the model's context window.
TOO_LONG = "too_long"
#: The text is empty or only whitespace: there is nothing to label.
BLANK = "blank"
#: The text cannot be encoded (a lone surrogate): no API can carry it.
UNENCODABLE = "unencodable"
#: The item waits in a review file for a person to label it
#: (:class:`~skakd.teachers.HumanReview`).
AWAITING_REVIEW = "awaiting_review"
#: A teacher that gives no reason for an item it did not label.
UNKNOWN = "unknown"
UNLABELED_REASONS = (REFUSAL, MALFORMED, UNKNOWN_LABEL, NO_ANSWER, TOO_LONG,
                     BLANK, UNENCODABLE, AWAITING_REVIEW, UNKNOWN)

# -- why a generated sample was dropped: ``n_rejected_<reason>`` --------------

#: Its label is not one of the classes.
NOT_IN_CLASSES = "label"
#: Its text is blank.
EMPTY = "empty"
#: Its text is shorter or longer than the bounds.
LENGTH = "length"
#: It copies (or nearly copies) a validation text.
LEAK = "leak"
#: It copies a training text, or a sample earlier in its batch.
DUPLICATE = "duplicate"
#: It nearly copies a training text, or a sample earlier in its batch.
NEAR_DUPLICATE = "near_duplicate"
#: In the order the screen checks them.
REJECTION_REASONS = (MALFORMED, NOT_IN_CLASSES, EMPTY, LENGTH, LEAK, DUPLICATE,
                     NEAR_DUPLICATE)
#: A valid sample beyond the number asked for (in all, or of its class):
#: dropped, and counted apart from the rejections (``n_surplus``).
SURPLUS = "surplus"

#: Each reason a generated sample is dropped for, in a report's words.
REJECTION_DESCRIPTIONS = {
    MALFORMED: "malformed answers",
    NOT_IN_CLASSES: "labels outside the classes",
    EMPTY: "empty texts",
    LENGTH: "texts too short or too long",
    LEAK: "copies of validation texts",
    DUPLICATE: "duplicates",
    NEAR_DUPLICATE: "near-duplicates",
    SURPLUS: "texts beyond the number asked for",
}
