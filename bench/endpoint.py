"""The AWS endpoints a benchmark talks to over HTTP: moto's server in a process of its own
for S3 and SQS (answering one request at a time, see devtools/local_stack.py), and
DynamoDB Local for DynamoDB, as in the local stack (or moto's DynamoDB, with
`dynamodb="moto"` or STOCKROOM_DYNAMODB=moto).

  with aws_endpoint(latency_ms=5) as endpoints: ...   # boto3 in this process uses them

`latency_ms` is added to every DynamoDB request this process sends, before it is sent,
as the network round trip to DynamoDB in a region is (single-digit milliseconds): the
wait overlaps across threads, as it does in Lambda, and costs the emulator nothing.
"""

import logging
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Endpoints:
    backend: str  # DynamoDB's: "dynamodb-local" or "moto"
    environment: dict[str, str]  # what points boto3 and Powertools at them (another process)


@contextmanager
def aws_endpoint(latency_ms: float = 0.0, dynamodb: str | None = None) -> Iterator[Endpoints]:
    """Starts the endpoints, points boto3 and Powertools in this process at them, yields
    them and stops them afterwards."""
    from devtools import dynamodb_local
    from devtools.local_stack import free_port, local_aws_environment, use_local_endpoint

    backend = dynamodb or dynamodb_local.backend()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with ExitStack() as cleanup:
        local = None
        if backend == "dynamodb-local":  # first: the JVM starts while moto does
            folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
            local = dynamodb_local.start(free_port(), folder / "dynamodb-local.log")
            cleanup.callback(local.stop)
        server = subprocess.Popen([sys.executable, "-m", "bench.endpoint", str(port)])
        cleanup.callback(_stop, server)
        _wait_for(endpoint, server)
        if local:
            local.wait_until_serving()
        dynamodb_endpoint = local.endpoint if local else None
        use_local_endpoint(endpoint, dynamodb_endpoint)
        if "stockroom.once" in sys.modules:  # clients made before now point elsewhere
            sys.modules["stockroom.once"].forget()
        if latency_ms:
            set_dynamodb_latency(latency_ms)
        yield Endpoints(backend, local_aws_environment(endpoint, dynamodb_endpoint))


_latency_seconds = [0.0]  # what each DynamoDB request waits
_HOOK = "bench-dynamodb-latency"  # registered once per session or client


def set_dynamodb_latency(latency_ms: float) -> None:
    """Every DynamoDB client of the layer's (stockroom.aws), made before or after,
    waits `latency_ms` before sending each request, each retry too."""
    from stockroom import aws

    aws.session().register("before-send.dynamodb", _wait, unique_id=_HOOK)
    if aws.dynamodb.cache_info().currsize:  # made already: it copied the session's hooks
        aws.dynamodb().meta.events.register("before-send.dynamodb", _wait, unique_id=_HOOK)
    _latency_seconds[0] = latency_ms / 1000


def _wait(**_: Any) -> None:
    if _latency_seconds[0]:
        time.sleep(_latency_seconds[0])


def _stop(server: "subprocess.Popen[bytes]") -> None:
    server.terminate()
    server.wait(timeout=10)


def _wait_for(endpoint: str, server: "subprocess.Popen[bytes]") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the moto endpoint exited")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise RuntimeError("the moto endpoint did not start within 30 s")


def _serve(port: int) -> None:
    from devtools.local_stack import start_aws_endpoint

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    start_aws_endpoint("127.0.0.1", port)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
