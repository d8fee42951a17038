"""moto's SQS, made to keep its speed as a queue backs up, answering exactly as before.

moto 5.2 recomputes a queue's ApproximateNumberOf* attributes, a pass over every message
with a datetime-based clock read per message, on each message it sends and each message
it hands out (the retention check reads all queue attributes), and scans the whole queue
twice to delete one message. With 2,000 messages waiting, ReceiveMessage took about a
second and SendMessageBatch 200 ms; a flash sale's backlog of 20,000 stalled the local
stack. `faster()` replaces those four places, and only them:

- the clock moto's SQS reads (`unix_time`, `unix_time_millis` with no argument): the
  same epoch seconds, from time.time();
- the retention check: the queue's MessageRetentionPeriod read directly;
- sending to a standard queue: the attributes it consults (ContentBasedDeduplication,
  which only FIFO queues have) without the message counts it ignores;
- deleting: the message is looked for among those in flight (a receipt handle is only
  ever given to a received message) and taken out of the queue's list by identity;
  moto's own code answers whatever else (an unknown handle, a message moved to the
  dead-letter queue).

tests/tooling/test_moto_sqs.py runs the same calls against moto with and without it
and compares every answer. The local stack's AWS endpoint (devtools/local_stack.py) and
bench/endpoint.py run with it.
"""

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.sqs import models

_original_unix_time = models.unix_time  # type: ignore[attr-defined]
_original_unix_time_millis = models.unix_time_millis  # type: ignore[attr-defined]
_original_attributes = vars(models.Queue)["attributes"]
_original_send_message = models.SQSBackend.send_message
_original_delete_message = models.Queue.delete_message

_sending = threading.local()


def _unix_time(dt: Any = None) -> float:
    return time.time() if dt is None else _original_unix_time(dt)


def _unix_time_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else _original_unix_time_millis(dt)


def _retained(self: models.SQSBackend, queue_name: str, message: models.Message) -> bool:
    retention = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    return bool(retention + message.sent_timestamp / 1000 > time.time())  # type: ignore[operator]


def _attributes(self: models.Queue) -> dict[str, Any]:
    if getattr(_sending, "active", False) and not self.fifo_queue:
        return {}  # send_message asks a standard queue for FIFO settings only
    result: dict[str, Any] = _original_attributes.fget(self)
    return result


def _send_message(self: models.SQSBackend, *args: Any, **kwargs: Any) -> models.Message:
    _sending.active = True
    try:
        return _original_send_message(self, *args, **kwargs)
    finally:
        _sending.active = False


def _taken_out(queue: models.Queue, message: models.Message) -> bool:
    """`message` removed from the queue's list by identity (a Message has no __eq__), in
    C: a pass over a 20,000-message list in Python took about 20 ms a message deleted."""
    try:
        queue._messages.remove(message)
    except ValueError:
        return False
    return True


def _delete_message(self: models.Queue, receipt_handle: str) -> None:
    if receipt_handle in self.deleted_messages:
        return
    found = next((m for m in self.pending_messages if m.had_receipt_handle(receipt_handle)), None)
    if found is None or not _taken_out(self, found):
        # Not in flight, or no longer in the queue: moto's own answer, and its error.
        _original_delete_message(self, receipt_handle)
        return
    self.pending_messages.discard(found)
    self.deleted_messages.update(found.all_receipt_handles)  # type: ignore[arg-type]


_REPLACEMENTS: tuple[tuple[Any, str, Any], ...] = (
    (models, "unix_time", _unix_time),
    (models, "unix_time_millis", _unix_time_millis),
    (models.SQSBackend, "is_message_valid_based_on_retention_period", _retained),
    (models.Queue, "attributes", property(_attributes)),
    (models.SQSBackend, "send_message", _send_message),
    (models.Queue, "delete_message", _delete_message),
)
_ORIGINALS = tuple((owner, name, vars(owner)[name]) for owner, name, _ in _REPLACEMENTS)


@contextmanager
def _patched(replacements: tuple[tuple[Any, str, Any], ...]) -> Iterator[None]:
    with ExitStack() as patches:
        for owner, name, replacement in replacements:
            patches.enter_context(mock.patch.object(owner, name, replacement))
        yield


def faster() -> AbstractContextManager[None]:
    """moto's SQS with the four replacements above, until the block ends."""
    return _patched(_REPLACEMENTS)


def as_moto_wrote_it() -> AbstractContextManager[None]:
    """moto's own code for the same places, even where `install()` ran before."""
    return _patched(_ORIGINALS)


_installed: list[AbstractContextManager[None]] = []  # kept, or it would be undone


def install() -> None:
    """For a process that serves moto for good (the local stack's AWS endpoint)."""
    if not _installed:
        patches = faster()
        patches.__enter__()
        _installed.append(patches)
