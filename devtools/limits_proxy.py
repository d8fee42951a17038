"""The AWS limits mode's proxy: an HTTP server speaking DynamoDB's JSON protocol on the
port the stack names for DynamoDB, in front of DynamoDB Local, enforcing the limits of
devtools/dynamodb_limits.py on every client (the functions, the load test, your own
boto3). What passes is forwarded unchanged (DynamoDB Streams' requests too) and
answered with DynamoDB Local's answer; what does not, with the error AWS gives.

One thread a connection, connections kept alive, one kept-alive connection to DynamoDB
Local a thread; in a process of its own, so the stack's threads do not share its
interpreter lock. GET /limits answers its statistics (JSON).

    python -m devtools.limits_proxy PORT BACKEND_URL [aws|aws-new-table]
"""

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devtools.dynamodb_limits import Admission, Enforcer, Json, KeySchema, Limits, Refusal
from devtools.server_process import HttpServerProcess
from devtools.template import ROOT

STATISTICS_PATH = "/limits"


class Backend:
    """DynamoDB Local, reached over one kept-alive connection a thread."""

    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.local = threading.local()
        self.schemas: dict[str, KeySchema] = {}

    def send(
        self, body: bytes, headers: dict[str, str]
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        for attempt in (1, 2):  # a kept-alive connection DynamoDB Local closed: once more
            connection = getattr(self.local, "connection", None)
            if connection is None:
                connection = self.local.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=60
                )
            try:
                connection.request("POST", "/", body, headers)
                answer = connection.getresponse()
                return answer.status, answer.getheaders(), answer.read()
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                self.local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """This thread's connection closed (its client has gone)."""
        connection = getattr(self.local, "connection", None)
        if connection is not None:
            connection.close()
            self.local.connection = None

    def schema(self, table: str) -> KeySchema:
        """A table's keys, from DynamoDB Local once (tables are not rekeyed)."""
        if table not in self.schemas:
            _, _, body = self.send(
                json.dumps({"TableName": table}).encode(),
                {
                    "Content-Type": "application/x-amz-json-1.0",
                    "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
                    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/eu-west-1/"
                    "dynamodb/aws4_request, SignedHeaders=host, Signature=0",
                },
            )
            self.schemas[table] = KeySchema.of(json.loads(body)["Table"])
        return self.schemas[table]


def make_handler(backend: Backend, enforcer: Enforcer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
        disable_nagle_algorithm = True  # headers and body written apart: no 40 ms wait

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a line per request would cost more than the request

        def finish(self) -> None:
            super().finish()
            backend.close()  # the thread ends with its client's connection

        def do_GET(self) -> None:
            body = json.dumps(enforcer.statistics() | {"overhead": overhead.summary()})
            self._answer(200, [("Content-Type", "application/json")], body.encode())

        def do_POST(self) -> None:
            started = time.perf_counter()
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            target = self.headers.get("X-Amz-Target", "")
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            decided = (
                enforcer.admit(target.rsplit(".", 1)[-1], json.loads(raw))
                if target.startswith("DynamoDB_20120810.")
                else Admission(target, {})  # DynamoDB Streams: passed through
            )
            if isinstance(decided, Refusal):
                body = json.dumps(decided.body()).encode()
                overhead.add(time.perf_counter() - started)
                self._answer(400, [("Content-Type", "application/x-amz-json-1.0")], body)
                return
            if decided.unprocessed:  # a batch's admitted part only
                raw = json.dumps(decided.body).encode()
                headers["Content-Length"] = str(len(raw))
            waited = time.perf_counter()
            try:
                status, answer_headers, body = backend.send(raw, headers)
            except BaseException:
                enforcer.settle(decided, None)
                raise
            sent = time.perf_counter() - waited
            needs_answer = decided.read_charges or decided.unprocessed
            answer = json.loads(body) if status == 200 and needs_answer else None
            if enforcer.settle(decided, answer) is not None and decided.unprocessed:
                body = json.dumps(answer).encode()
            overhead.add(time.perf_counter() - started - sent)
            self._answer(status, answer_headers, body)

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response_only(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    overhead = Overhead()
    return Handler


class Overhead:
    """The proxy's own time a request (parsing, deciding, answering; not DynamoDB
    Local's), a bounded sample."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seconds: list[float] = []

    def add(self, seconds: float) -> None:
        with self.lock:
            if len(self.seconds) < 200_000:
                self.seconds.append(seconds)

    def summary(self) -> Json:
        with self.lock:
            ordered = sorted(self.seconds)
        if not ordered:
            return {"requests": 0}
        return {
            "requests": len(ordered),
            "mean_ms": round(1000 * sum(ordered) / len(ordered), 3),
            "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 3),
        }


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    enforcer: Enforcer


def serve(
    port: int, backend_url: str, mode: str, host: str = "127.0.0.1", limits: Limits | None = None
) -> ProxyServer:
    """The proxy bound to `port` (0: any free one), enforcing `mode`'s limits (or
    `limits`); serve_forever() runs it."""
    backend = Backend(backend_url)
    enforcer = Enforcer(limits or Limits.of(mode), backend.schema)
    server = ProxyServer((host, port), make_handler(backend, enforcer))
    server.enforcer = enforcer
    return server


class LimitsProxyError(RuntimeError):
    pass


class LimitsProxy(HttpServerProcess):
    """The proxy in a process of its own, on `port`."""

    label = "the AWS limits proxy"
    error = LimitsProxyError
    start_seconds = 15
    probe_path = STATISTICS_PATH


def start(port: int, backend_url: str, mode: str, log: Path) -> LimitsProxy:
    """The proxy started in the background in front of `backend_url`, serving."""
    command = [sys.executable, "-m", "devtools.limits_proxy", str(port), backend_url, mode]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    proxy = LimitsProxy(process, port, log)
    proxy.wait_until_serving()
    return proxy


def statistics(endpoint: str) -> Json:
    """What the proxy at `endpoint` counted so far (see Enforcer.statistics)."""
    with urllib.request.urlopen(endpoint + STATISTICS_PATH, timeout=5) as answer:
        found: Json = json.load(answer)
    return found


if __name__ == "__main__":
    port, backend_url, *rest = sys.argv[1:]
    serve(int(port), backend_url, rest[0] if rest else "aws").serve_forever()
