"""`make mutation`'s driver: the copy it lays out imports the mutated modules, not their
originals, and its summary counts what mutmut reports."""

import json
import tomllib

from devtools import fastest_first, mutation
from support.examples import examples


def test_the_copy_has_each_mutated_function_module_at_its_top_alone(tmp_path):
    work = tmp_path / "outbox"
    modules = ["functions/order_relay/order_relay.py", "stockroom/dal/order_queue.py"]

    mutation.lay_out(work, modules, ["tests/integration/test_order_outbox.py"])

    assert (work / "order_relay.py").is_file()
    assert not (work / "functions/order_relay/order_relay.py").exists()
    assert (work / "functions/order_relay/order_relay_stream.py").is_file()
    assert (work / "stockroom/dal/order_queue.py").is_file()
    assert not (work / "layers").exists()  # nothing there to shadow the mutated layer
    settings = tomllib.loads((work / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert settings["source_paths"] == ["stockroom", "order_relay.py"]
    assert settings["only_mutate"] == ["order_relay.py", "stockroom/dal/order_queue.py"]
    assert settings["pytest_add_cli_args_test_selection"][0] == (
        "tests/integration/test_order_outbox.py"
    )
    assert settings["timeout_multiplier"] == 2.0


def test_the_summary_counts_killed_and_timed_out_mutants_and_lists_the_rest():
    results = "\n".join(
        [
            "    order_relay.x_relay__mutmut_1: killed",
            "    order_relay.x_relay__mutmut_2: survived",
            "    order_relay.x_relay__mutmut_3: timeout",
            "    order_relay.x_relay__mutmut_4: no tests",
        ]
    )

    assert mutation.summary(results).splitlines() == [
        "2 of 4 mutants killed (50.0%)",
        "  order_relay.x_relay__mutmut_2: survived",
        "  order_relay.x_relay__mutmut_4: no tests",
    ]


def test_a_mutants_tests_run_fastest_first_once_their_durations_are_measured(tmp_path, monkeypatch):
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    items = [Item("t.py::slow"), Item("t.py::new"), Item("t.py::quick"), Item("t.py::mid")]
    monkeypatch.chdir(tmp_path)
    fastest_first.pytest_collection_modifyitems(items)
    assert [i.nodeid for i in items] == ["t.py::slow", "t.py::new", "t.py::quick", "t.py::mid"]

    measured = {"t.py::slow": 20.0, "t.py::quick": 0.1, "t.py::mid": 1.5}
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": measured}))
    fastest_first.pytest_collection_modifyitems(items)

    assert [i.nodeid for i in items] == ["t.py::quick", "t.py::mid", "t.py::slow", "t.py::new"]


def test_the_copys_pytest_loads_the_fastest_first_plugin(tmp_path):
    work = tmp_path / "outbox"
    mutation.lay_out(work, ["stockroom/dal/order_queue.py"], ["tests/unit/test_retry.py"])

    settings = tomllib.loads((work / "pyproject.toml").read_text())["tool"]["mutmut"]

    assert "devtools.fastest_first" in settings["pytest_add_cli_args"]
    assert (work / "devtools" / "fastest_first.py").is_file()


def test_property_tests_draw_a_quarter_of_their_examples_under_mutation(monkeypatch):
    monkeypatch.delenv("STOCKROOM_MUTATION", raising=False)
    assert examples(40) == 40

    monkeypatch.setenv("STOCKROOM_MUTATION", "1")

    assert (examples(40), examples(3)) == (10, 1)
