"""`make load --quick`: the load test's harness on small sizes. Only its invariants are
asserted (never a timing): every order decided, nothing oversold or stuck, no order
doubled by a retried request, no 5xx or connection error, the flash sale's stock sold
exactly, every row of a catalog imported (alone and while orders are placed)."""

import json
import subprocess
import sys

import pytest

from devtools.template import ROOT

pytestmark = pytest.mark.local_only  # it starts a local stack of its own


def test_the_load_scenarios_keep_every_invariant(tmp_path):
    results_file = tmp_path / "load.json"
    completed = subprocess.run(
        [sys.executable, "-m", "bench.load", "--quick", "--json", str(results_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    results = {
        result["scenario"]["name"]: result for result in json.loads(results_file.read_text())
    }
    assert set(results) == {
        "spread",
        "flash",
        "import",
        "import-under-load",
        "spread (under import)",
    }
    for name in ("spread", "flash", "spread (under import)"):
        result, scenario = results[name], results[name]["scenario"]
        if scenario["steps"]:  # stepped: bounded by its steps, each one recorded
            assert 1 <= len(result["steps"]) <= len(scenario["steps"]), name
            assert result["orders_placed"] > 0, name
        else:
            assert result["orders_placed"] == scenario["users"] * scenario["orders_per_user"], name
        assert result["units_oversold"] == 0, name
        assert result["skus_not_adding_up"] == [], name
        assert result["orders_stuck_pending"] == 0, name
        assert result["errors"] == {}, (name, result["errors"])
        assert sum(result["outcomes"].values()) == result["orders_placed"], name
    flash = results["flash"]
    assert flash["outcomes"]["CONFIRMED"] == flash["scenario"]["units_per_sku"]
    assert flash["units_confirmed"] == flash["scenario"]["units_per_sku"]
    assert flash["transactions_per_order"] > 0  # the worker's requests were counted
    # Placed with the worker paused, then decided from the full queue.
    assert flash["decided_before_resume"] == 0
    assert flash["drained_per_second"] > 0
    for name in ("import", "import-under-load"):
        result = results[name]
        assert result["status"] == "SUCCEEDED", (name, result)
        assert result["imported"] == result["rows"], name
        assert result["rows_missing_or_wrong"] == 0, name
