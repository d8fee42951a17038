"""A pytest plugin for `make mutation`: a mutant's tests run fastest first.

mutmut runs each mutant against the tests that reached its function, with `-x`, in no
set order, so a mutant a 0.1 s test kills may first sit through a 20 s property test.
With the durations mutmut measured in its stats run (`mutmut-stats.json`, beside the
tests), the quick tests go first and a killed mutant costs about its killing test.
Without that file (the stats run itself), the order is left alone.
"""

import json
from pathlib import Path
from typing import Any

STATS = Path("mutmut-stats.json")


def durations(stats: Path = STATS) -> dict[str, float]:
    """Each test's measured duration by node id; empty before the stats run."""
    try:
        measured = json.loads(stats.read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(test): float(seconds) for test, seconds in measured.items()}


def pytest_collection_modifyitems(items: list[Any]) -> None:
    measured = durations()
    if measured:
        # Unmeasured tests last; sorted() is stable, so ties keep pytest's order.
        items.sort(key=lambda item: measured.get(item.nodeid, float("inf")))
