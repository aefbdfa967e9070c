"""Labelling through the Message Batches API: half price, crash-safe.

A call's requests go out as one Message Batch. Before waiting for it, the
batch id is written to the cache next to every item it answers, so that a
process that crashed (or was interrupted) while the batch was in flight
collects its results on the next run instead of paying again. Each result
then goes through the same check, correction and per-item store as a
synchronous answer (:func:`~._exchange.label_batch`); the corrective
re-ask, and any request the batch did not answer, are sent synchronously.
"""

import dataclasses
from collections.abc import Callable

from ._cache import request_key
from ._exchange import label_batch
from ._pricing import BATCH_DISCOUNT

__all__ = ["Connection", "label_in_batch"]


def _pending_key(item_key):
    return request_key({"pending-batch": item_key})


def _request_key(batch_id, custom_id):
    return request_key({"batch": batch_id, "request": custom_id})


@dataclasses.dataclass(frozen=True)
class Connection:
    """What a batch needs of the transport, bound to one teacher's settings."""

    send: Callable  # send(request, usage) -> (content, stop_reason)
    create_batch: Callable  # create_batch([(custom_id, request)]) -> batch id
    batch_results: Callable  # batch_results(batch_id) -> {custom_id: message}
    price: tuple


def label_in_batch(items, split, make_request, names, connection, cache, usage):
    """``{key: entry}`` for ``items``, answered through a Message Batch.

    Parameters
    ----------
    items : list of (key, text)
        The items to label, by cache key.
    split : callable
        ``split(items) -> list of lists``: the items of each request.
    make_request : callable
        ``make_request(texts) -> request``.
    names : list of str
        The label names.
    connection : Connection
        The synchronous ``send`` (for corrections and requests a batch did
        not answer), the batch calls and the price.
    cache : TeacherCache or None
        Where answers (and the ids of batches in flight) persist.
    usage : Usage
        Charged with every answer, batch results at the batch discount.
    """
    in_flight = _in_flight(cache, [key for key, _ in items])
    covered = {k for members in in_flight.values() for keys, _, _ in members
               for k in keys}
    fresh = split([(k, t) for k, t in items if k not in covered])
    if fresh:
        named = [(f"r{i}", [k for k, _ in r], [t for _, t in r])
                 for i, r in enumerate(fresh)]
        batch_id = connection.create_batch(
            [(cid, make_request(texts)) for cid, _, texts in named])
        _remember(cache, batch_id, named)
        in_flight[batch_id] = [(keys, texts, cid) for cid, keys, texts in named]
    answers = {}
    for batch_id, members in in_flight.items():
        results = connection.batch_results(batch_id)
        for keys, texts, cid in members:
            send = _replay(results.get(cid), connection)
            entries = label_batch(make_request(texts), keys, names, send, cache,
                                  usage)
            answers.update(zip(keys, entries))
        _forget(cache, batch_id, members)
    return answers


def _replay(message, connection):
    """A ``send`` whose first answer is the batch's result (if it has one)."""
    first = [] if message is None else [message]

    def send(request, usage):
        if not first:  # a corrective re-ask, or a request the batch missed
            return connection.send(request, usage)
        message = first.pop()
        usage.charge(message.usage, connection.price, discount=BATCH_DISCOUNT)
        return ([block.model_dump(mode="json") for block in message.content],
                message.stop_reason)

    return send


def _remember(cache, batch_id, named):
    """Write the batch id next to every item before waiting for it."""
    if cache is None:
        return
    entries = [(_request_key(batch_id, cid), {"keys": keys, "texts": texts})
               for cid, keys, texts in named]
    entries += [(_pending_key(k), {"batch": batch_id, "request": cid})
                for cid, keys, _ in named for k in keys]
    cache.put_many(entries)


def _in_flight(cache, keys):
    """``{batch_id: [(keys, texts, custom_id)]}`` of batches sent for ``keys``."""
    if cache is None:
        return {}
    pending = cache.get_many(_pending_key(k) for k in keys)
    found = {(p["batch"], p["request"]) for p in pending.values()}
    records = cache.get_many(_request_key(b, r) for b, r in found)
    in_flight = {}
    for batch_id, cid in sorted(found):
        record = records.get(_request_key(batch_id, cid))
        if record is not None:
            in_flight.setdefault(batch_id, []).append(
                (record["keys"], record["texts"], cid))
    return in_flight


def _forget(cache, batch_id, members):
    if cache is not None:
        cache.delete([_request_key(batch_id, cid) for _, _, cid in members]
                     + [_pending_key(k) for keys, _, _ in members for k in keys])
