"""Cold import of each handler module: a fresh interpreter importing it, as Lambda's init
does (minus the runtime's own start). Prints median, min and max over repeated runs and
the boto3 floor (import boto3 and create a DynamoDB client) beside them.

`python -m devtools.cold_import [runs]`; `loaded_modules(module)` lists what a handler
imports, so tests can check a function does not import what it does not use.
"""

import json
import os
import statistics
import subprocess
import sys
from functools import cache
from pathlib import Path

from devtools.template import ROOT, handler_location, resources

FLOOR = "import boto3; boto3.client('dynamodb')"

_PROBE = """
import json, sys, time
started = time.perf_counter()
exec(sys.argv[1])
elapsed = time.perf_counter() - started
print(json.dumps({
    "seconds": elapsed,
    "modules": sorted(sys.modules),
    "result": globals().get("result"),  # what the statement left in `result`, if anything
}))
"""


def isolated_environment(path: tuple[Path, ...]) -> dict[str, str]:
    """This process's environment without Python's, Powertools' or AWS's settings, with
    `path` as PYTHONPATH: what a fresh function interpreter starts from."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "POWERTOOLS_", "AWS_"))
    }
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(str(folder) for folder in path),
            "PYTHONDONTWRITEBYTECODE": "",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "cold-start",
            "AWS_SECRET_ACCESS_KEY": "cold-start",
            "POWERTOOLS_SERVICE_NAME": "stockroom",
            "POWERTOOLS_METRICS_NAMESPACE": "Stockroom",
        }
    )
    return env


def probe(
    statement: str, function_folder: Path, environment: dict[str, str] | None = None
) -> dict[str, object]:
    """`statement` run in a fresh interpreter with the layer and `function_folder` on its
    path, and the functions' variables set (and `environment`'s over them): its seconds,
    the modules it loaded and the value it left in `result`."""
    from devtools.provision import environments_as_provisioned  # a handler checks its own

    env = isolated_environment((ROOT / "layers/common", function_folder))
    env |= environments_as_provisioned() | (environment or {})
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, statement],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@cache  # one fresh interpreter a function per test run: what it loads does not change
def loaded_modules(function: str) -> frozenset[str]:
    location = handler_location(function)
    modules = probe(f"import {location.module}", location.folder)["modules"]
    assert isinstance(modules, list)
    return frozenset(modules)


def measure(statement: str, folder: Path, runs: int) -> list[float]:
    probe(statement, folder)  # the first run writes .pyc files, as a deployed package has them
    return [float(str(probe(statement, folder)["seconds"])) * 1000 for _ in range(runs)]


def main(runs: int) -> None:
    rows = [("boto3 floor", measure(FLOOR, ROOT, runs))]
    for function in resources("AWS::Serverless::Function"):
        location = handler_location(function)
        import_statement = f"import {location.module}"
        rows.append(
            (f"{function} ({location.module})", measure(import_statement, location.folder, runs))
        )
    floor = statistics.median(rows[0][1])
    print(f"cold import over {runs} fresh interpreters, Python {sys.version.split()[0]}")
    print(f"{'what':40} {'median ms':>10} {'min':>8} {'max':>8} {'x floor':>8}")
    for name, samples in rows:
        median = statistics.median(samples)
        spread = f"{min(samples):8.1f} {max(samples):8.1f}"
        print(f"{name:40} {median:10.1f} {spread} {median / floor:8.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
