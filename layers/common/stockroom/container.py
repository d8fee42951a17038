"""What a function's container does once.

At init, `prepare()` creates the clients and checks the settings the function needs, so
a missing variable fails the init with its name, not a request halfway through:
Lambda runs init on boosted CPU, before the first request waits, and with SnapStart the
result lands in the snapshot. No request is sent at init, so a snapshot holds no open
connection (the shared cache's client too connects on first use); clients read
credentials through the provider chain, which Lambda points at its container
credentials endpoint for SnapStart functions.

Before a SnapStart snapshot, `before_snapshot()` builds every model (a function without
SnapStart builds each on first use). After a restore, `after_restore()` undoes what
every environment restored from one snapshot would otherwise share: the state of
`random`, which draws the retry jitter (ids come from `uuid.uuid4()`, which reads
os.urandom each time).
"""

import random
from collections.abc import Callable, Iterable
from typing import Any, Literal

from stockroom import aws, once
from stockroom.settings import ConfigurationError, get_settings

Client = Literal["dynamodb", "sqs", "s3", "secretsmanager", "cache"]


def _shared_cache() -> Any:
    # The module only where a function asks for it; redis itself only with CACHE_URL.
    from stockroom import shared_cache

    return shared_cache.client()


_CLIENTS: dict[Client, Callable[[], Any]] = {
    "dynamodb": aws.dynamodb,
    "sqs": aws.sqs,
    "s3": aws.s3,
    "secretsmanager": aws.secretsmanager,
    "cache": _shared_cache,  # the shared cache tier's client, if CACHE_URL names one
}


def prepare(*clients: Client, settings: Iterable[str] = ()) -> None:
    """The environment parsed and checked (ConfigurationError naming each variable a
    setting of `settings` lacks), and the named clients created, once per container."""
    parsed = get_settings()
    missing = [name.upper() for name in settings if not getattr(parsed, name)]
    if missing:
        raise ConfigurationError(f"environment variables not set: {', '.join(missing)}")
    for name in clients:
        _CLIENTS[name]()


def reset() -> None:
    """Everything made once per container forgotten: the next call makes it afresh."""
    once.forget()


def after_restore() -> None:
    random.seed()  # from os.urandom


def before_snapshot() -> None:
    """What SnapStart's snapshot should hold beyond init: every model built (they build
    on first use otherwise, `stockroom.models`), so no restored environment builds one
    on a request."""
    from stockroom import models

    models.build_all()


try:  # in Lambda's managed Python runtimes; a development dependency elsewhere
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ModuleNotFoundError:  # pragma: no cover - only where the library is absent
    pass
else:
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
