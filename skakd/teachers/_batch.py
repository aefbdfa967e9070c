"""Labelling through a provider's batch API: half price, crash-safe.

A call's requests go out as one batch (Anthropic's Message Batches,
OpenAI's Batch API: each adapter supplies the calls). Before waiting for it, the
batch id is written to the cache next to every item it answers, so that a
process that crashed (or was interrupted) while the batch was in flight
collects its results on the next run instead of paying again. Each result
then goes through the same check, correction and per-item store as a
synchronous answer (:func:`~._exchange.label_batch`); the corrective
re-ask, and any request the batch did not answer, are sent synchronously.
"""

import dataclasses
import time
import uuid
from collections.abc import Callable

from ._cache import request_key
from ._cost import BATCH_DISCOUNT
from ._exchange import Link, label_batch

__all__ = ["Connection", "label_in_batch"]


def _pending_key(item_key):
    return request_key({"pending-batch": item_key})


def _request_key(token, custom_id):
    return request_key({"batch-request": token, "request": custom_id})


def _batch_key(token):
    return request_key({"batch-id": token})


@dataclasses.dataclass(frozen=True)
class Connection:
    """What a batch needs of the transport, bound to one teacher's settings."""

    link: Link  # synchronous: corrections and requests a batch did not answer
    create_batch: Callable  # create_batch([(custom_id, request)]) -> batch id
    batch_results: Callable  # batch_results(batch_id) -> {custom_id: message}
    find_batch: Callable  # find_batch(prefix, since) -> batch id or None
    read: Callable  # read(message, request) -> (Reply, Spent)
    price: tuple


def label_in_batch(items, split, make_request, names, connection, cache, usage,
                   multi_label=False):
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
        The synchronous link (for corrections and requests a batch did not
        answer), the batch calls, how to read a result, and the price.
    cache : TeacherCache or None
        Where answers (and the batches in flight) persist.
    usage : Usage
        Charged with every answer, batch results at the batch discount.
    """
    in_flight = _in_flight(cache, [key for key, _ in items], connection)
    covered = {k for _, members in in_flight.values() for keys, _, _ in members
               for k in keys}
    fresh = split([(k, t) for k, t in items if k not in covered])
    if fresh:
        # The batch's token and requests are written before it is created,
        # its id right after: a process that dies in between leaves the token,
        # by which the batch is found again (its custom_ids start with it).
        token = uuid.uuid4().hex
        members = [([k for k, _ in r], [t for _, t in r], f"r{i}")
                   for i, r in enumerate(fresh)]
        _remember(cache, token, members)
        batch_id = connection.create_batch(
            [(f"{token}-{cid}", make_request(texts)) for _, texts, cid in members])
        if cache is not None:
            cache.put(_batch_key(token), {"batch": batch_id})
        in_flight[token] = (batch_id, members)
    answers = {}
    for token, (batch_id, members) in in_flight.items():
        results = connection.batch_results(batch_id)
        for keys, texts, cid in members:
            link = _replay(results.get(f"{token}-{cid}"), connection)
            entries = label_batch(make_request(texts), keys, names, link, cache,
                                  usage, multi_label)
            answers.update(zip(keys, entries))
        _forget(cache, token, members)
    return answers


def _replay(message, connection):
    """A :class:`Link` whose first answer is the batch's result (if any)."""
    first = [] if message is None else [message]

    def send(request, usage):
        if not first:  # a corrective re-ask, or a request the batch missed
            return connection.link.send(request, usage)
        reply, spent = connection.read(first.pop(), request)
        usage.charge(spent, connection.price, discount=BATCH_DISCOUNT)
        return reply

    return Link(send=send, correct=connection.link.correct,
                too_long=connection.link.too_long)


def _remember(cache, token, members):
    """Write the batch's requests and a marker per item, before sending it."""
    if cache is None:
        return
    since = time.time()
    entries = [(_request_key(token, cid), {"keys": keys, "texts": texts})
               for keys, texts, cid in members]
    entries += [(_pending_key(k), {"token": token, "request": cid, "since": since})
                for keys, _, cid in members for k in keys]
    cache.put_many(entries)


def _in_flight(cache, keys, connection):
    """``{token: (batch_id, [(keys, texts, custom_id)])}`` of the batches sent
    (or perhaps sent, by a process that died) for ``keys``."""
    if cache is None:
        return {}
    pending = cache.get_many(_pending_key(k) for k in keys).values()
    requests = {(p["token"], p["request"]): p["since"] for p in pending}
    records = cache.get_many(_request_key(t, r) for t, r in requests)
    batch_ids = cache.get_many(_batch_key(t) for t, _ in requests)
    members = {}
    for (token, cid), since in sorted(requests.items()):
        record = records.get(_request_key(token, cid))
        if record is not None:
            members.setdefault(token, (since, []))[1].append(
                (record["keys"], record["texts"], cid))
    in_flight = {}
    for token, (since, found) in members.items():
        stored = batch_ids.get(_batch_key(token))
        batch_id = stored["batch"] if stored else connection.find_batch(
            f"{token}-", since)
        if batch_id is None:  # never created: its items go out again
            _forget(cache, token, found)
        else:
            in_flight[token] = (batch_id, found)
    return in_flight


def _forget(cache, token, members):
    if cache is not None:
        cache.delete([_request_key(token, cid) for _, _, cid in members]
                     + [_pending_key(k) for keys, _, _ in members for k in keys]
                     + [_batch_key(token)])
