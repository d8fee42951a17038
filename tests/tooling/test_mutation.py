"""`make mutation`'s driver: the copy it lays out imports the mutated modules, not their
originals, and its summary counts what mutmut reports."""

import tomllib

from devtools import mutation


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
