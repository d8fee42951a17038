"""Real API Gateway v2 events, built from the samples in events/ (the same files
`sam local invoke -e` takes), with the parts a test varies replaced."""

import copy
import json
import re
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode

from devtools.template import ROOT

EVENTS_DIR = ROOT / "events"


@cache
def _sample(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return sample


def load_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(_sample(name))


def http_event(
    method: str,
    route: str,
    *,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    raw_body: str | None = None,
    sub: str | None = "customer-123",
    scope: str = "orders",
) -> dict[str, Any]:
    """A v2 event for `route` (e.g. "/products/{sku}"); `sub=None` means no token."""
    event = load_event("place_order")
    path = route
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    assert not re.search(r"{\w+}", path), f"unfilled path parameter in {path}"
    event["routeKey"] = f"{method} {route}"
    event["rawPath"] = path
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["requestId"] = uuid.uuid4().hex
    event["headers"] = {
        key: value
        for key, value in event["headers"].items()
        if key not in {"idempotency-key", "content-type", "authorization"}
    }
    event["headers"].update({key.lower(): value for key, value in (headers or {}).items()})
    event.pop("pathParameters", None)
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["rawQueryString"] = urlencode(query or {})
    event.pop("queryStringParameters", None)
    if query:
        event["queryStringParameters"] = dict(query)
    event.pop("body", None)
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    if sub is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["headers"]["authorization"] = "Bearer test-token"
        claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
        claims["sub"] = sub
        claims["scope"] = scope
    return event


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        error: dict[str, Any] = self.body["error"]
        return error

    def error_fields(self) -> list[str]:
        return [detail["field"] for detail in self.error["details"]]


def parse_response(response: dict[str, Any]) -> HttpResult:
    raw = response.get("body") or ""
    return HttpResult(
        status=response["statusCode"],
        headers={key.lower(): value for key, value in (response.get("headers") or {}).items()},
        body=json.loads(raw) if raw else None,
    )
