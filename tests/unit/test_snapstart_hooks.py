"""SnapStart: what every environment restored from one snapshot must not share."""

import random
from typing import Any

import snapshot_restore_py

from devtools.cold_import import probe
from devtools.template import handler_location
from stockroom import container


def _restore() -> None:
    """What Lambda's runtime does after a restore: the registered hooks, in order."""
    for hook, args, kwargs in snapshot_restore_py.get_after_restore():
        hook(*args, **kwargs)


def test_the_layer_registers_its_after_restore_hook():
    assert container.after_restore in [
        hook for hook, _, _ in snapshot_restore_py.get_after_restore()
    ]


def test_two_environments_restored_from_one_snapshot_draw_different_jitter():
    snapshot = random.getstate()
    drawn = []
    for _ in range(2):
        random.setstate(snapshot)
        _restore()
        drawn.append([random.random() for _ in range(3)])
    assert drawn[0] != drawn[1]


def test_without_the_hook_they_would_draw_the_same():
    snapshot = random.getstate()
    drawn = []
    for _ in range(2):
        random.setstate(snapshot)
        drawn.append([random.random() for _ in range(3)])
    assert drawn[0] == drawn[1]


_UNBUILT = (
    "from stockroom import models\n"
    "def unbuilt():\n"
    "    pending, found = list(models.Model.__subclasses__()), []\n"
    "    while pending:\n"
    "        model = pending.pop()\n"
    "        pending += model.__subclasses__()\n"
    "        if not model.__pydantic_complete__:\n"
    "            found.append(model.__name__)\n"
    "    return sorted(found)\n"
)


def test_init_builds_only_the_models_a_function_uses_and_the_snapshot_all():
    """Models build on first use (`defer_build`): the relay's init builds none it does
    not send, and SnapStart's before-snapshot hook builds every one."""
    location = handler_location("OrderRelayFunction")
    statement = (
        f"import {location.module}\n{_UNBUILT}"
        "before = unbuilt()\n"
        "import snapshot_restore_py\n"
        "for hook, args, kwargs in snapshot_restore_py.get_before_snapshot():\n"
        "    hook(*args, **kwargs)\n"
        "result = [before, unbuilt()]\n"
    )
    result: Any = probe(statement, location.folder)["result"]
    before, after = result
    assert {"Order", "Product", "ImportReport"} <= set(before)
    assert after == []
