"""Mutation testing of the modules that decide correctness (`make mutation`).

mutmut names a mutant after its file's path and finds it at run time by the module's
import name, so the two must agree. Here they do not: the layer is imported as
`stockroom` from layers/common, and each function's modules by their bare names from
their folders. So the run happens in a copy of the repository laid out as Lambda imports
it: the layer's `stockroom` and the mutated function modules at the copy's top, each
function's other modules in its folder as before.

    python -m devtools.mutation [--groups outbox,import,stock] [--workers 2]

writes a copy a group under .mutation/, runs mutmut there on two workers (each mutant against
the tests that reached its function, from the fast and integration tiers), and prints
the kill ratio and every surviving mutant (.mutation/report.txt).
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from devtools.template import ROOT

WORK = ROOT / ".mutation"
LAYER = ROOT / "layers" / "common"
_INTEGRATION = "tests/integration/test_"
# The modules that decide correctness, in groups that share their tests: each group is
# one mutmut run over the test files that exercise it (fast and integration tiers; the
# DynamoDB Local races stay in `make integration`: each would start a server a mutant).
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "outbox": (
        [
            "functions/order_relay/order_relay.py",
            "stockroom/dal/order_queue.py",
            "functions/order_reconciler/order_reconciler.py",
        ],
        [f"{_INTEGRATION}order_outbox.py", f"{_INTEGRATION}order_reconciler.py"],
    ),
    "stock": (
        ["stockroom/dal/stock.py", "functions/order_worker/order_worker.py", "stockroom/retry.py"],
        [
            f"{_INTEGRATION}{name}.py"
            for name in (
                "order_worker",
                "group_commit",
                "stock_boundaries",
                "order_cancel",
                "holds",
                "retry_safe_writes",
                "request_shapes",
            )
        ]
        + ["tests/unit/test_retry.py"],
    ),
    "import": (
        ["stockroom/dal/products.py", "functions/catalog_import/catalog_import.py"],
        [
            f"{_INTEGRATION}catalog_import.py",
            f"{_INTEGRATION}retry_safe_writes.py",
            f"{_INTEGRATION}request_shapes.py",  # the worker's consistent reads of products
            "tests/api/test_catalog_api.py",  # the products table's listing
        ],
    ),
}
# Tests that swap the logger's stream: the stats run (one pytest session before the
# mutants') leaves Powertools' handler on a stream pytest has closed.
DESELECTED = [
    "tests/integration/test_order_worker.py::"
    "test_each_records_log_lines_carry_its_message_id_as_correlation_id",
]


def lay_out(work: Path, modules: list[str], tests: list[str]) -> None:
    """The copy under `work`, with mutmut's settings for `modules` and `tests`."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("tests", "devtools", "events", "seed", "functions"):
        shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "template.yaml", work / "template.yaml")
    shutil.copytree(LAYER / "stockroom", work / "stockroom")
    mutated: list[str] = []
    for module in modules:
        source = ROOT / module
        if module.startswith("functions/"):
            # Its only copy at the top, so the function folder cannot shadow the mutants.
            (work / module).unlink()
            shutil.copy2(source, work / source.name)
            mutated.append(source.name)
        else:
            mutated.append(module)
    tops = ["stockroom", *(m for m in mutated if "/" not in m)]
    settings = (ROOT / "pyproject.toml").read_text() + _mutmut_settings(tops, mutated, tests)
    (work / "pyproject.toml").write_text(settings)


def _mutmut_settings(sources: list[str], mutated: list[str], tests: list[str]) -> str:
    def quoted(values: list[str]) -> str:
        return "[" + ", ".join(f'"{value}"' for value in values) + "]"

    selection = [*tests, *(f"--deselect={test}" for test in DESELECTED)]
    return (
        "\n[tool.mutmut]\n"
        f"source_paths = {quoted(sources)}\n"
        f"only_mutate = {quoted(mutated)}\n"
        f"also_copy = {quoted(['devtools', 'events', 'seed', 'functions', 'template.yaml'])}\n"
        f"pytest_add_cli_args_test_selection = {quoted(selection)}\n"
        # A mutant's tests fastest first: a killed mutant costs about its killing test.
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "devtools.fastest_first"]\n'
        # Log lines say what happened; they decide nothing (their mutants would be noise).
        "do_not_mutate_patterns = ['^\\s*logger\\.']\n"
        "use_git_change_detection = false\n"
        # A hung mutant stops at 4x its tests' measured time, not mutmut's default 30x.
        "timeout_multiplier = 2.0\n"
    )


def run(work: Path, workers: int) -> str:
    """Runs mutmut in `work`; returns `mutmut results --all true`."""
    mutmut = [sys.executable, "-m", "mutmut"]
    # Property tests draw a quarter of their examples (tests/support/examples.py).
    env = {**os.environ, "STOCKROOM_MUTATION": "1"}
    subprocess.call([*mutmut, "run", "--max-children", str(workers)], cwd=work, env=env)
    results = subprocess.run(
        [*mutmut, "results", "--all", "true"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    (work / "results.txt").write_text(results)
    return results


def summary(results: str) -> str:
    """The kill ratio from `mutmut results --all true` (one `name: status` line a
    mutant), then every mutant not killed (surviving, or reached by no test)."""
    statuses = [line.rsplit(": ", 1) for line in results.splitlines() if ": " in line]
    dead = ("killed", "timeout")  # a mutant that hangs the tests is caught too
    killed = sum(1 for _, status in statuses if status in dead)
    others = [f"  {name.strip()}: {status}" for name, status in statuses if status not in dead]
    ratio = killed / len(statuses) if statuses else 0.0
    return "\n".join([f"{killed} of {len(statuses)} mutants killed ({ratio:.1%})", *others])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--groups", default=",".join(GROUPS), help="comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    results = ""
    for group in args.groups.split(","):
        modules, tests = GROUPS[group]
        lay_out(WORK / group, modules, tests)
        results += run(WORK / group, args.workers)
        report = summary(results)
        (WORK / "report.txt").write_text(report + "\n")
        print(f"after {group}:\n{report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
