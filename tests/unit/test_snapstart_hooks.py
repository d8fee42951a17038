"""SnapStart: what every environment restored from one snapshot must not share."""

import random

import snapshot_restore_py

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
