"""The template's HTTP APIs on this machine, as API Gateway serves them: routes from the
functions' `HttpApi` events (literal paths before parameterised ones, greedy `{proxy+}`),
payload 2.0 events, the JWT authorizer checked against a local signing key (and a
route's `AuthorizationScopes` against the token's `scope` or `scp`: none of them, 403), the API's
`CorsConfiguration` (preflight answered by the API, headers added to responses), the
10 MB request payload limit, percent-encoded paths (decoded in `rawPath` and
`pathParameters`, as HTTP APIs pass them), and API Gateway's own JSON answers for what no
route serves (any method, HEAD included, and without a body for HEAD)."""

import base64
import json
import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from devtools import api_docs
from devtools.template import ROOT, http_routes, load_template, route_scopes

LOCAL_ISSUER = "https://stockroom.local/"
LOCAL_AUDIENCE = "stockroom-local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's request payload limit
# (function logical id, trigger description, event) -> the function's result
Invoke = Callable[[str, str, Any], Any]


# ------------------------------------------------------------------------- tokens
def local_dir() -> Path:
    """Where the local stack keeps its key, outputs and state (git-ignored)."""
    folder = Path(os.environ.get("STOCKROOM_LOCAL_DIR") or ROOT / ".local")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def signing_key() -> str:
    """The local stack's HS256 key, made on first use and kept out of the repository."""
    key_file = local_dir() / "jwt-signing-key"
    if not key_file.exists():
        # Written whole under another name and linked in: of callers racing here (the
        # stack and a test's threads), one key wins and none reads a half-written file.
        draft = key_file.with_name(f"{key_file.name}.{uuid.uuid4().hex}")
        draft.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
        draft.chmod(0o600)
        try:
            os.link(draft, key_file)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return key_file.read_text().strip()


def make_token(sub: str, scopes: str = "", ttl_seconds: int = 3600) -> str:
    import jwt

    now = int(time.time())
    claims = {
        "sub": sub,
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
        "scope": scopes,
    }
    return jwt.encode(claims, signing_key(), algorithm="HS256")


def admin_scope() -> str:
    """The scope the /admin routes require, as the template's AdminScope defaults it."""
    return str(load_template()["Parameters"]["AdminScope"]["Default"])


def verify_token(header: str | None) -> dict[str, Any] | None:
    """The token's claims as API Gateway passes them (strings), or None if not valid."""
    import jwt

    if not header or not header.lower().startswith("bearer "):
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            header[7:].strip(),
            signing_key(),
            algorithms=["HS256"],
            audience=LOCAL_AUDIENCE,
            issuer=LOCAL_ISSUER,
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError:
        return None
    return {key: value if isinstance(value, str) else str(value) for key, value in claims.items()}


def token_scopes(claims: dict[str, Any]) -> set[str]:
    """The scopes a token grants, as API Gateway reads them: `scope` or `scp`, space-separated."""
    return set(str(claims.get("scope") or claims.get("scp") or "").split())


# ------------------------------------------------------------------------ routing
@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    secured: bool
    pattern: re.Pattern[str]
    scopes: frozenset[str] = frozenset()  # a token must carry one, if any are named


def compile_routes(resolve: Callable[[Any], Any] | None = None) -> list[Route]:
    """The routes, their scopes resolved by `resolve` (the stack's; parameter defaults
    when none is given)."""
    if resolve is None:
        from devtools.intrinsics import Stack

        resolve = Stack("local", "eu-west-1").resolve
    scopes = {route: frozenset(resolve(named)) for route, named in route_scopes().items()}
    routes = []
    for (method, path), (function, secured) in http_routes().items():
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        required = scopes.get((method, path), frozenset())
        routes.append(Route(method, path, function, secured, re.compile(f"^{regex}$"), required))
    # Literal paths win over parameterised ones, as in API Gateway.
    return sorted(routes, key=lambda route: route.path.count("{"))


def build_event(
    route: Route,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    params: dict[str, str],
    claims: dict[str, Any] | None,
) -> dict[str, Any]:
    split = urlsplit(url)
    # HTTP APIs hand the function the path and its parameters percent-decoded.
    path = unquote(split.path)
    query: dict[str, str] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    route_key = f"{route.method} {route.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": split.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = {name: unquote(value) for name, value in params.items()}
    if body:
        event["body"] = body.decode("utf-8", errors="replace")
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


# --------------------------------------------------------------------------- CORS
@dataclass(frozen=True)
class Cors:
    """An HttpApi's CorsConfiguration (with its intrinsics resolved)."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_configuration(cls, configuration: Any) -> "Cors | None":
        if not configuration:
            return None
        if configuration is True:  # `CorsConfiguration: true` allows every origin
            return cls(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))

        def names(key: str) -> tuple[str, ...]:
            return tuple(str(value) for value in configuration.get(key, []))

        max_age = configuration.get("MaxAge")
        return cls(
            allow_origins=names("AllowOrigins"),
            allow_methods=names("AllowMethods"),
            allow_headers=names("AllowHeaders"),
            expose_headers=names("ExposeHeaders"),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(configuration.get("AllowCredentials", False)),
        )

    def allowed_origin(self, origin: str | None) -> str | None:
        """What Access-Control-Allow-Origin says for a request from `origin`, if allowed."""
        if not origin:
            return None
        for allowed in self.allow_origins:
            if allowed == "*":
                return "*" if not self.allow_credentials else origin
            if allowed.endswith("*") and origin.startswith(allowed[:-1]):
                return origin
            if allowed.lower() == origin.lower():
                return origin
        return None

    def preflight_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed}
        if self.allow_methods:
            headers["Access-Control-Allow-Methods"] = ",".join(self.allow_methods)
        if self.allow_headers:
            headers["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
        if self.max_age is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def response_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.allowed_origin(origin)
        if allowed is None:
            return {}
        headers = {"Access-Control-Allow-Origin": allowed}
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers


def api_cors(resolve: Callable[[Any], Any]) -> "Cors | None":
    """The CORS configuration of the template's HTTP API, if it declares one."""
    for resource in load_template()["Resources"].values():
        if resource["Type"] == "AWS::Serverless::HttpApi":
            configuration = resource.get("Properties", {}).get("CorsConfiguration")
            return Cors.from_configuration(resolve(configuration))
    return None


# ------------------------------------------------------------------------ handler
@dataclass(frozen=True)
class ServedApi:
    """What one local API serves: its routes, the functions behind them, its CORS."""

    routes: list[Route]
    invoke: Invoke
    cors: Cors | None


class ApiRequestHandler(BaseHTTPRequestHandler):
    """A request to the local API, answered as API Gateway answers it; `api` says what
    the API serves (make_http_handler sets it)."""

    api: ClassVar[ServedApi]
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm the body
    # would wait for the client's delayed ACK (40 ms on Linux) on kept-alive connections.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        # Every method, declared or not (TRACE, PROPFIND, ...), goes through `_serve`:
        # routing decides what exists, and API Gateway answers the rest in JSON.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD response has headers only
            self.wfile.write(body)

    def _reject(self, status: int, message: str) -> None:
        body = json.dumps({"message": message}).encode()
        self._answer(status, {"Content-Type": "application/json", **self._cors()}, body)

    def _cors(self) -> dict[str, str]:
        cors = self.api.cors
        return cors.response_headers(self.headers.get("Origin")) if cors else {}

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._reject(413, "Request Entity Too Large")
            return
        body = self.rfile.read(length) if length else b""
        cors = self.api.cors
        if cors and self.command == "OPTIONS" and "Access-Control-Request-Method" in self.headers:
            # A preflight: answered by API Gateway itself, never by a function.
            self._answer(204, cors.preflight_headers(self.headers.get("Origin")), b"")
            return
        found = self._route()
        if found is None:
            docs = None  # the API's documentation page, where no route of the template is
            if self.command in ("GET", "HEAD"):
                docs = api_docs.answer(urlsplit(self.path).path, self.headers.get("Host", ""))
            if docs is None:
                self._reject(404, "Not Found")
            else:
                self._answer(*docs)
            return
        route, parameters = found
        headers = {key.lower(): value for key, value in self.headers.items()}
        claims = None
        if route.secured:
            claims = verify_token(headers.get("authorization"))
            if claims is None:
                self._reject(401, "Unauthorized")
                return
            if route.scopes and not route.scopes & token_scopes(claims):
                self._reject(403, "Forbidden")
                return
        self._invoke(
            route, build_event(route, self.command, self.path, headers, body, parameters, claims)
        )

    def _route(self) -> tuple[Route, dict[str, str]] | None:
        """The first route serving this request's method and path, and its parameters."""
        path = urlsplit(self.path).path
        for route in self.api.routes:
            match = route.pattern.match(path)
            if match and route.method in (self.command, "ANY"):
                return route, match.groupdict()
        return None

    def _invoke(self, route: Route, event: dict[str, Any]) -> None:
        try:
            result = self.api.invoke(route.function, f"http {route.method} {route.path}", event)
        except Exception:
            self._reject(500, "Internal Server Error")
            return
        response_headers, status, payload = _http_response(result)
        if self.api.cors:  # API Gateway drops the function's CORS headers and sends its own
            response_headers = {
                key: value
                for key, value in response_headers.items()
                if not key.lower().startswith("access-control-")
            }
            response_headers.update(self._cors())
        self._answer(status, response_headers, payload)


def make_http_handler(
    routes: list[Route], invoke: Invoke, cors: Cors | None
) -> type[BaseHTTPRequestHandler]:
    class Handler(ApiRequestHandler):
        api = ServedApi(routes, invoke, cors)

    return Handler


class LocalApiServer(ThreadingHTTPServer):
    """The local API's server: a thread per connection, a listen backlog deep enough for
    bursts of clients, and a client that goes away treated as the normal event it is."""

    request_queue_size = 1024
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return  # the client closed or reset its connection
        super().handle_error(request, client_address)


def _http_response(result: Any) -> tuple[dict[str, str], int, bytes]:
    """A payload 2.0 function result as API Gateway turns it into a response: a dict
    with a statusCode is used as given; anything else is a 200 JSON body."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body") or ""
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        headers = {key: str(value) for key, value in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(str(value) for value in values)
        return headers, int(result["statusCode"]), payload
    return {"Content-Type": "application/json"}, 200, json.dumps(result).encode()
