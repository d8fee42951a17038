"""The local stack's cost: time from `python -m devtools.local_stack` to serving and to
ready (sample catalog imported), the latency a request through its HTTP API adds over
calling the same handler directly against the same AWS endpoint, and the time from a
code change to a request served by the new code.

  .venv/bin/python -m bench.local_api [--requests N] [--json]

Both paths read the same product from the same moto server (the catalog's in-memory
cache answers after the first read), so the difference is the local API: HTTP parsing,
routing, the payload 2.0 event, the pipe to the function's process and back.
"""

import http.client
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cli import sized_command
from bench.seed import sample_event
from bench.stats import percentiles
from devtools.template import ROOT

SKU = "MUG-1"  # in the sample catalog under seed/
PATH = f"/products/{SKU}"


def _wait_for(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} from the local stack:\n{log.read_text()}")
        time.sleep(0.01)


def _serving(port: int, process: subprocess.Popen[bytes]) -> float:
    """perf_counter() when GET /health first answers 200."""
    while process.poll() is None:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return time.perf_counter()
        except OSError:
            time.sleep(0.01)
        finally:
            connection.close()
    raise RuntimeError("the local stack exited before serving")


def _through_api(port: int, requests: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", PATH)
        response = connection.getresponse()
        response.read()
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.status
    connection.close()
    return timings


def _direct(local_dir: Path, requests: int) -> list[float]:
    """The catalog handler in this process, against the running stack's endpoint."""
    os.environ["STOCKROOM_LOCAL_DIR"] = str(local_dir)
    from devtools.handlers import import_handler_module
    from devtools.local_stack import load_state, use_local_endpoint
    from devtools.runtime import LocalContext

    running = load_state()
    assert running, "the local stack's state is missing"
    stack, endpoint, dynamodb_endpoint = running
    use_local_endpoint(endpoint, dynamodb_endpoint)
    os.environ.update(stack.function_environment("CatalogFunction"))
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    handler = import_handler_module("CatalogFunction").handler
    event = sample_event("get_product")
    event["rawPath"] = event["requestContext"]["http"]["path"] = PATH
    event["pathParameters"] = {"sku": SKU}
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        result = handler(event, LocalContext("CatalogFunction", 10))
        timings.append((time.perf_counter() - started) * 1000)
        assert result["statusCode"] == 200, result
    return timings


def _reload(port: int, log: Path) -> float:
    """Milliseconds from touching the catalog's code to a request served after the
    stack reloaded it (the new environment's start included)."""
    source = ROOT / "functions" / "catalog" / "catalog_api.py"
    reloads = log.read_text().count("[reload] CatalogFunction")
    started = time.perf_counter()
    os.utime(source)  # a save without a change: the stack cannot tell the difference
    while log.read_text().count("[reload] CatalogFunction") == reloads:
        time.sleep(0.005)
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", PATH)
    assert connection.getresponse().status == 200
    connection.close()
    return (time.perf_counter() - started) * 1000


def run(requests: int) -> dict[str, Any]:
    from devtools.local_stack import start_in_background

    local_dir = Path(tempfile.mkdtemp(prefix="stockroom-bench-"))
    started = time.perf_counter()
    stack = start_in_background(
        local_dir, local_dir / "output.log", {"POWERTOOLS_LOG_LEVEL": "ERROR"}
    )
    try:
        serving_s = _serving(stack.api_port, stack.process) - started
        _wait_for(stack.log, "ready in", stack.process, 60)
        ready_s = time.perf_counter() - started
        _through_api(stack.api_port, 5)  # warm: the environment and the catalog's cache
        api = _through_api(stack.api_port, requests)
        _direct(local_dir, 5)
        direct = _direct(local_dir, requests)
        reload_ms = _reload(stack.api_port, stack.log)
    finally:
        stack.stop()
    through_api, directly = percentiles(api, 2), percentiles(direct, 2)
    return {
        "requests": requests,
        "through_api": through_api,
        "direct": directly,
        "overhead_p50_ms": round(through_api["p50_ms"] - directly["p50_ms"], 2),
        "serving_s": round(serving_s, 2),
        "ready_s": round(ready_s, 2),
        "reload_to_served_ms": round(reload_ms, 1),
    }


def print_table(summary: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(f"local stack: GET {PATH}, {summary['requests']} requests each, moto server over HTTP")
    for name in ("through_api", "direct"):
        figures = summary[name]
        out(
            f"{name:<12} p50 {figures['p50_ms']:>6} ms  p99 {figures['p99_ms']:>6} ms"
            f"  min {figures['min_ms']:>6} ms  max {figures['max_ms']:>6} ms"
        )
    out(f"overhead p50 {summary['overhead_p50_ms']} ms")
    out(f"serving after {summary['serving_s']} s, ready after {summary['ready_s']} s (seeded)")
    out(f"code change to a request served by the new code: {summary['reload_to_served_ms']} ms")


def main() -> None:
    sized_command(run, print_table, "--requests", 500)


if __name__ == "__main__":
    main()
