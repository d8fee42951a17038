"""`make profile FUNCTION=<LogicalId> EVENT=<file> [N=20]`: one function in a fresh
execution environment under pyinstrument, once cold (its init and first invocation) and
N times warm, against the running local stack (or a fresh embedded one, as `make
invoke`). Writes the call trees as HTML (and text) to .local/profiles/:
<function>-<pid>-cold.html and -warm.html, and prints how long each phase took.

    python -m devtools.profile OrderWorkerFunction events/order_placed_sqs.json 50

Each invocation has the function's effects (the same event N + 1 times: an order
decided once is skipped after); an event file holding a JSON list gives one event an
invocation instead, N aside. To profile the worker under a flash sale's real load:
`make load ARGS="--profile-worker"`.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from devtools.http_api import local_dir
from devtools.invoke import _endpoints, _event
from devtools.template import ROOT
from devtools.workers import RUNTIME, FunctionSpec, _runtime_spec


def profile_folder() -> Path:
    return local_dir() / "profiles"


def run(spec: FunctionSpec, events: list[object], folder: Path) -> list[float]:
    """Invokes the function with each event in turn in one profiled environment; the
    seconds each invocation took as seen from outside (the first includes the init)."""
    environment = spec.environment | {
        "STOCKROOM_PROFILE": str(folder),
        "STOCKROOM_PROFILE_FUNCTION": spec.function,
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(RUNTIME), json.dumps(_runtime_spec(spec))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=environment,
        cwd=spec.code,
        text=True,
    )
    assert process.stdin and process.stdout
    process.stdout.readline()  # {"ready": ...}
    seconds = []
    for number, event in enumerate(events):
        request = {"event": event, "request_id": f"profile-{number}"}
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        answer = json.loads(process.stdout.readline())
        seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        if "error" in answer:
            print(f"[profile] invocation {number}: {answer['error']}", file=sys.stderr)
    process.stdin.close()  # the runtime writes the warm profile and ends
    process.wait(timeout=60)
    process.stdout.close()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make profile", description=__doc__)
    parser.add_argument("function", help="the function's logical id in template.yaml")
    parser.add_argument("event", type=Path, help="a JSON event file")
    parser.add_argument("warm", type=int, nargs="?", default=20, help="warm invocations")
    arguments = parser.parse_args(argv)
    event = _event(parser, arguments.function, arguments.event)

    from devtools.local_stack import cache_environment, local_aws_environment
    from devtools.metrics import FUNCTION_ENVIRONMENT

    stack, endpoint, dynamodb_endpoint, cache_url, stop_embedded = _endpoints()
    environment = local_aws_environment(endpoint, dynamodb_endpoint)
    environment |= cache_environment(cache_url) | FUNCTION_ENVIRONMENT
    spec = FunctionSpec.from_template(arguments.function, stack, environment)
    folder = profile_folder()
    try:
        # A list is one event an invocation (a batch each, say); else the same one N + 1 times.
        events = event if isinstance(event, list) else [event] * (arguments.warm + 1)
        seconds = run(spec, events, folder)
    finally:
        stop_embedded()
    warm = seconds[1:]
    print(f"cold (init and first invocation): {seconds[0] * 1000:.1f} ms")
    if warm:
        print(
            f"warm, {len(warm)} invocations: median {statistics.median(warm) * 1000:.1f} ms, "
            f"max {max(warm) * 1000:.1f} ms"
        )
    reports = sorted(folder.glob(f"{arguments.function}-*.html"), key=lambda p: p.stat().st_mtime)
    shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
    for path in reports[-2:]:
        print(f"profile: {shown / path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
