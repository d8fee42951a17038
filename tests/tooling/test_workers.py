"""Functions in execution environments of their own (devtools/workers.py, runtime.py):
a throwaway function in a temporary folder, run in real processes."""

import json
import os
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devtools.intrinsics import Stack
from devtools.local_stack import CodeWatcher, handler_overrides
from devtools.template import ROOT, load_template
from devtools.workers import DEFAULT_MAX_ENVIRONMENTS, FunctionError, FunctionPool, FunctionSpec


def write_function(folder: Path, body: str) -> None:
    (folder / "handler_module.py").write_text(textwrap.dedent(body))
    # A file changed within the same mtime tick must still look changed.
    stamp = time.time_ns() + 10_000_000
    os.utime(folder / "handler_module.py", ns=(stamp, stamp))


@pytest.fixture
def function_folders(tmp_path: Path) -> tuple[Path, Path]:
    code, layer = tmp_path / "code", tmp_path / "layer"
    code.mkdir()
    layer.mkdir()
    (layer / "shared_helper.py").write_text("GREETING = 'hello from the layer'\n")
    return code, layer


def spec(code: Path, layer: Path, timeout: float = 5, max_environments: int = 4) -> FunctionSpec:
    return FunctionSpec(
        function="ThrowawayFunction",
        module="handler_module",
        attribute="handler",
        code=code,
        layers=(layer,),
        timeout=timeout,
        memory=256,
        environment={"PATH": os.environ["PATH"], "GREETING_TARGET": "world"},
        max_environments=max_environments,
    )


@pytest.fixture
def pool_for(function_folders):
    pools: list[FunctionPool] = []

    def make(body: str, **limits: float) -> FunctionPool:
        code, layer = function_folders
        write_function(code, body)
        pool = FunctionPool(spec(code, layer, **limits))  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def failure(pool: FunctionPool, event: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error, in Lambda's shape, that invoking `pool` with `event` fails with."""
    with pytest.raises(FunctionError) as raised:
        pool.invoke(event or {})
    return raised.value.shape


def test_the_function_sees_its_layer_environment_and_context_and_may_print(pool_for):
    pool = pool_for(
        """
        import os, sys
        import shared_helper

        def handler(event, context):
            print("printed output must not corrupt the answer")
            return {
                "echo": event,
                "greeting": shared_helper.GREETING,
                "target": os.environ.get("GREETING_TARGET"),
                "home_of_the_runtime_on_path": any(p.endswith("devtools") for p in sys.path),
                "function": context.function_name,
                "memory": context.memory_limit_in_mb,
                "time_left_ms": context.get_remaining_time_in_millis(),
                "request_id": context.aws_request_id,
            }
        """
    )

    result = pool.invoke({"n": 1})

    assert result["echo"] == {"n": 1}
    assert result["greeting"] == "hello from the layer"
    assert result["target"] == "world"
    assert result["home_of_the_runtime_on_path"] is False
    assert (result["function"], result["memory"]) == ("ThrowawayFunction", 256)
    assert 0 < result["time_left_ms"] <= 5000
    assert result["request_id"] != pool.invoke({"n": 2})["request_id"]


def test_an_environment_stays_warm_between_invocations(pool_for):
    pool = pool_for(
        """
        import os
        calls = []

        def handler(event, context):
            calls.append(event)
            return {"pid": os.getpid(), "calls": len(calls)}
        """
    )
    first, second = pool.invoke({}), pool.invoke({})
    assert first["pid"] == second["pid"]
    assert (first["calls"], second["calls"]) == (1, 2)
    assert pool.size == 1


def test_an_unhandled_error_comes_back_in_lambdas_shape_and_the_environment_lives_on(pool_for):
    pool = pool_for(
        """
        import os

        def handler(event, context):
            if event.get("fail"):
                raise ValueError("the event asked to fail")
            return os.getpid()
        """
    )
    pid = pool.invoke({})
    error = failure(pool, {"fail": True})
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "the event asked to fail"
    assert error["stackTrace"]
    assert pool.invoke({}) == pid


def test_a_timeout_ends_the_environment_and_the_next_invocation_gets_a_fresh_one(pool_for):
    pool = pool_for(
        """
        import os, time

        def handler(event, context):
            time.sleep(event.get("sleep", 0))
            return os.getpid()
        """,
        timeout=0.5,
    )
    pid = pool.invoke({})
    error = failure(pool, {"sleep": 3})
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 0.50 seconds" in error["errorMessage"]
    assert pool.size == 0
    assert pool.invoke({}) != pid


def test_a_process_that_dies_is_reported_and_replaced(pool_for):
    pool = pool_for(
        """
        import os

        def handler(event, context):
            if event.get("exit"):
                os._exit(3)
            return os.getpid()
        """
    )
    pid = pool.invoke({})
    error = failure(pool, {"exit": True})
    assert error["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in error["errorMessage"]
    assert pool.invoke({}) != pid


def test_a_module_that_fails_to_import_fails_each_invocation_with_its_error(pool_for):
    pool = pool_for("import a_module_that_does_not_exist\n\ndef handler(event, context): ...\n")
    assert failure(pool)["errorType"] == "ModuleNotFoundError"


def test_a_result_that_is_not_json_is_a_marshal_error(pool_for):
    pool = pool_for("def handler(event, context):\n    return {1, 2}\n")
    assert failure(pool)["errorType"] == "Runtime.MarshalError"


def test_the_pool_grows_under_concurrent_invocations_up_to_its_limit(pool_for):
    pool = pool_for(
        """
        import os, time

        def handler(event, context):
            time.sleep(0.4)
            return os.getpid()
        """,
        max_environments=3,
    )
    with ThreadPoolExecutor(max_workers=6) as threads:
        pids = list(threads.map(pool.invoke, [{}] * 6))
    assert len(set(pids)) == 3  # six invocations, at most three at a time, all served
    assert pool.size == 3


def test_a_code_change_reloads_the_function_with_the_new_code(pool_for, function_folders):
    code, layer = function_folders
    pool = pool_for("def handler(event, context):\n    return 'first version'\n")
    watcher = CodeWatcher([pool])
    assert pool.invoke({}) == "first version"
    assert watcher.reload_changed() == []

    write_function(code, "def handler(event, context):\n    return 'second version'\n")
    assert watcher.reload_changed() == [pool]
    assert pool.invoke({}) == "second version"

    (layer / "shared_helper.py").write_text("GREETING = 'changed'\n")
    assert watcher.reload_changed() == [pool]  # a layer change reloads its users too


def test_a_change_elsewhere_reloads_nothing(pool_for, tmp_path):
    pool = pool_for("def handler(event, context):\n    return 1\n")
    watcher = CodeWatcher([pool])
    (tmp_path / "unrelated.py").write_text("x = 1\n")
    assert watcher.reload_changed() == []


def test_invoke_logs_one_line_per_invocation(pool_for, capsys):
    from devtools.workers import invoke_logged

    pool = pool_for("def handler(event, context):\n    return {'statusCode': 201}\n")
    invoke_logged(pool, "http POST /things", {})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("[invoke] ThrowawayFunction http POST /things ")
    assert line.endswith(" ms 201")
    json.dumps(line)  # one plain line


def test_a_response_over_six_megabytes_is_refused_as_lambda_refuses_it(pool_for):
    pool = pool_for("def handler(event, context):\n    return 'x' * (6 * 1024 * 1024 + 1)\n")
    assert failure(pool)["errorType"] == "Function.ResponseSizeTooLarge"


def test_a_module_that_exits_while_importing_fails_the_invocation_and_warming_is_quiet(pool_for):
    pool = pool_for("import sys\nsys.exit(4)\n")
    pool.warm()
    assert pool.size == 0
    assert failure(pool)["errorType"] == "Runtime.ExitError"
    assert pool.size == 0


def test_an_idle_environment_killed_from_outside_is_replaced_unnoticed(pool_for):
    pool = pool_for("import os\n\ndef handler(event, context):\n    return os.getpid()\n")
    pid = pool.invoke({})
    os.kill(pid, 9)
    time.sleep(0.2)
    assert pool.invoke({}) != pid
    assert pool.size == 1


@pytest.mark.parametrize(("reserved", "expected"), [("0", DEFAULT_MAX_ENVIRONMENTS), ("3", 3)])
def test_the_importers_reserved_concurrency_bounds_its_pool_when_set(reserved, expected):
    stack = Stack(
        "local",
        "eu-west-1",
        parameter_overrides={"ImportReservedConcurrency": reserved},
        refs={name: name for name in load_template()["Resources"]},
    )
    spec = FunctionSpec.from_template("CatalogImportFunction", stack, local={})
    assert spec.max_environments == expected


def test_a_handler_override_runs_a_module_named_from_the_root_with_the_functions_path_first(
    function_folders, tmp_path
):
    code, layer = function_folders
    write_function(code, "SOURCE = 'the function folder'\n")
    root = tmp_path / "root"
    (root / "baseline").mkdir(parents=True)
    (root / "baseline" / "__init__.py").write_text("")
    (root / "baseline" / "alternative.py").write_text(
        textwrap.dedent(
            """
            import sys
            import handler_module
            import shared_helper

            def handler(event, context):
                return [handler_module.SOURCE, shared_helper.GREETING, sys.path[-1]]
            """
        )
    )
    overridden = replace(spec(code, layer), module="baseline.alternative", extra_path=(root,))
    pool = FunctionPool(overridden)
    try:
        # The function's own modules and its layer's are found first; the root comes last.
        assert pool.invoke({}) == ["the function folder", "hello from the layer", str(root)]
    finally:
        pool.close()


def test_a_handler_override_replaces_the_templates_handler_and_nothing_else(monkeypatch):
    stack = Stack("local", "eu-west-1", refs={name: name for name in load_template()["Resources"]})
    declared = FunctionSpec.from_template("OrderWorkerFunction", stack, local={})
    monkeypatch.setenv("STOCKROOM_HANDLER_OVERRIDES", "OrderWorkerFunction=bench.baseline.handler")
    (handler,) = handler_overrides().values()

    overridden = FunctionSpec.from_template("OrderWorkerFunction", stack, {}, handler)

    assert (overridden.module, overridden.attribute) == ("bench.baseline", "handler")
    assert overridden.environment["_HANDLER"] == "bench.baseline.handler"
    assert overridden.extra_path == (ROOT,) and declared.extra_path == ()
    assert replace(overridden, module=declared.module, extra_path=()) == replace(
        declared, environment=overridden.environment
    )


@pytest.mark.parametrize("value", ["NoSuchFunction=bench.x.handler", "OrderWorkerFunction=x"])
def test_a_handler_override_names_a_function_and_a_module_attribute(monkeypatch, value):
    monkeypatch.setenv("STOCKROOM_HANDLER_OVERRIDES", value)
    with pytest.raises(SystemExit, match="STOCKROOM_HANDLER_OVERRIDES"):
        handler_overrides()
