"""What a pickled classifier keeps of its teacher.

A fitted classifier is saved (``joblib.dump``) and copied to workers
(``GridSearchCV(n_jobs=...)``) by pickling it. Its teacher is kept where it
can be: by reference when the standard ``pickle`` can, else by value with
cloudpickle, as joblib sends functions (lambdas, closures, functions of
``__main__``). Only a teacher that cannot be serialised at all (an open
client, a lock) is left out.
"""

import pickle
import warnings

import cloudpickle

__all__ = ["portable", "without_unpicklable_teacher"]


class _ByValue:
    """A cloudpickled object that unpickles as the object itself."""

    def __init__(self, payload):
        self.payload = payload

    def __reduce__(self):
        return pickle.loads, (self.payload,)


def portable(obj):
    """``obj`` itself, a by-value stand-in for it, or ``None`` if neither pickles.

    Examples
    --------
    >>> import pickle
    >>> from skakd._persistence import portable
    >>> double = portable(lambda items: [2 * x for x in items])
    >>> pickle.loads(pickle.dumps(double))([1, 2])
    [2, 4]
    """
    for dumps, wrap in ((pickle.dumps, None), (cloudpickle.dumps, _ByValue)):
        try:
            payload = dumps(obj)
        except Exception:  # any failure means: not serialisable this way
            continue
        return obj if wrap is None else wrap(payload)
    return None


def without_unpicklable_teacher(state):
    """A classifier's pickled ``state`` with its teacher made portable, or
    left out (with a warning) when it cannot be serialised at all."""
    state = dict(state)  # object.__getstate__ returns the live __dict__ itself
    teacher = state.get("teacher")
    if teacher is None:
        return state
    state["teacher"] = portable(teacher)
    if state["teacher"] is None:
        warnings.warn(
            f"the teacher ({type(teacher).__name__}) cannot be pickled "
            "and was left out: the loaded model predicts as before, but "
            "needs set_params(teacher=...) before it can be refitted.",
            UserWarning,
            stacklevel=3,
        )
    return state
