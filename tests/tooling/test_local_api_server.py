"""The local HTTP API as an HTTP server, over real sockets: what API Gateway answers
itself (HEAD, undeclared methods), percent-encoded paths, clients that go away, and many
clients at once. The functions behind it are replaced by a recorder: this is about the
server, not the functions."""

import http.client
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devtools.http_api import LocalApiServer, compile_routes, make_http_handler, make_token


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.events: list[dict[str, Any]] = []
        self.delay = delay

    def __call__(self, function: str, trigger: str, event: Any) -> Any:
        self.events.append(event)
        time.sleep(self.delay)
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


@pytest.fixture
def serve(monkeypatch, tmp_path) -> Iterator[Any]:
    monkeypatch.setenv("STOCKROOM_LOCAL_DIR", str(tmp_path))
    servers = []

    def start(recorder: Recorder) -> int:
        server = LocalApiServer(
            ("127.0.0.1", 0), make_http_handler(compile_routes(), recorder, None)
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_head_is_answered_with_headers_only(serve):
    port = serve(Recorder())
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("HEAD", "/health")
    response = connection.getresponse()
    body = response.read()
    # No HEAD route: API Gateway's 404, whose length is stated and whose body is not sent.
    assert response.status == 404
    assert int(response.getheader("Content-Length", "0")) > 0
    assert body == b""
    # The connection is still usable: no stray body bytes were left on it.
    connection.request("GET", "/health")
    assert connection.getresponse().status == 200
    connection.close()


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "CONNECT"])
def test_undeclared_methods_get_api_gateways_json(serve, method):
    port = serve(Recorder())
    status, headers, body = request(port, method, "/health")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "Not Found"}


def test_percent_encoded_paths_reach_the_function_decoded(serve):
    recorder = Recorder()
    port = serve(recorder)
    token = make_token("alice")
    status, _, _ = request(
        port, "GET", "/orders/a%20b%C3%A9c", {"Authorization": f"Bearer {token}"}
    )
    assert status == 200
    [event] = recorder.events
    assert event["pathParameters"] == {"order_id": "a b\u00e9c"}
    assert event["rawPath"] == "/orders/a b\u00e9c"
    assert event["requestContext"]["http"]["path"] == "/orders/a b\u00e9c"


def test_a_client_that_goes_away_is_not_an_error(serve, capfd):
    port = serve(Recorder(delay=0.3))
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            # Reset instead of a graceful close: the server's write then fails.
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.6)
    assert request(port, "GET", "/health")[0] == 200
    assert "Traceback" not in capfd.readouterr().err


def test_64_clients_at_once_are_all_answered(serve):
    port = serve(Recorder(delay=0.05))

    def client(_: int) -> list[int]:
        statuses = []
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(5):
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
        connection.close()
        return statuses

    barrier_pool = ThreadPoolExecutor(max_workers=64)
    results = list(barrier_pool.map(client, range(64)))
    barrier_pool.shutdown()
    assert [status for statuses in results for status in statuses] == [200] * 64 * 5


@pytest.mark.parametrize(
    ("scopes", "status"),
    [("", 403), ("admin", 403), ("orders admin", 403), ("stockroom/admin", 200)],
)
def test_a_routes_authorization_scopes_are_enforced_as_api_gateway_does(serve, scopes, status):
    """The /admin routes require the template's AdminScope: a token without it is refused
    before any function runs (403), whatever else its scopes say."""
    recorder = Recorder()
    port = serve(recorder)
    token = make_token("ops", scopes)
    auth = {"Authorization": f"Bearer {token}"}
    assert request(port, "GET", "/admin/orders/o-1", auth)[0] == status
    assert request(port, "POST", "/admin/orders/o-1/cancel", auth)[0] == status
    assert len(recorder.events) == (2 if status == 200 else 0)
    assert request(port, "GET", "/orders/o-1", auth)[0] == 200  # no scope needed there
