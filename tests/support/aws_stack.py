"""moto's in-process AWS, provisioned from template.yaml."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from devtools.intrinsics import Stack
from devtools.provision import function_environments, provision
from stockroom import container

# Answers given in moto's place, as (status, headers, body), where one returns one: a test
# refusing requests as DynamoDB would (support.orders.dynamodb_refusals).
type Refusal = Callable[[Any], tuple[int, dict[str, str], bytes] | None]
REFUSALS: list[Refusal] = []


def _serialize_moto_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each request to moto becomes atomic, as DynamoDB's conditional writes and
    transactions are. moto 5.2.5 checks a condition and writes in separate steps, so
    concurrent threads could both pass one condition (measured: 9 of 40 races).
    Clients still interleave between requests, which is where application races live."""
    lock = threading.Lock()
    process_request = BotocoreStubber.process_request

    def atomic(self: BotocoreStubber, request: Any) -> Any:
        for refuse in REFUSALS:
            answer = refuse(request)
            if answer is not None:
                return answer
        with lock:
            return process_request(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", atomic)


@contextmanager
def provisioned(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """moto's AWS with the template's tables, queues and buckets, and every function's
    environment set: what a fresh deployment and a fresh container would see."""
    _serialize_moto_requests(monkeypatch)
    with mock_aws():
        stack = provision()
        for key, value in function_environments(stack).items():
            monkeypatch.setenv(key, value)
        container.reset()
        try:
            yield stack
        finally:
            container.reset()
