"""moto's server in a process of its own, as the AWS endpoint a benchmark talks to over
HTTP, answering one request at a time (see devtools/local_stack.py).

  with moto_endpoint(latency_ms=5) as endpoint: ...   # boto3 in this process uses it
"""

import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def moto_endpoint(latency_ms: float = 0.0) -> Iterator[str]:
    """Starts the server, points boto3 and Powertools in this process at it, and stops
    it afterwards. `latency_ms` is added to every request, as a network round trip."""
    from devtools.local_stack import free_port

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "bench.endpoint", str(port), str(latency_ms)])
    try:
        _wait_for(endpoint, server)
        from devtools.local_stack import use_local_endpoint

        use_local_endpoint(endpoint)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(endpoint: str, server: subprocess.Popen[bytes]) -> None:
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


def _serve(port: int, latency_ms: float) -> None:
    from devtools.local_stack import start_aws_endpoint

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    start_aws_endpoint("127.0.0.1", port, latency_ms / 1000)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), float(sys.argv[2]))
