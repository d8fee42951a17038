"""The API's OpenAPI document, generated from the routes' code (Powertools resolvers) and
the template's authorizer settings. `make openapi` writes docs/openapi.json; a test fails
when the committed document and the code disagree."""

import json
import os
import re
from typing import Any

from devtools.handlers import import_handler_module
from devtools.intrinsics import Stack
from devtools.template import ROOT, http_routes, route_scopes

DOCUMENT = ROOT / "docs" / "openapi.json"
_METHODS = ("get", "post", "put", "patch", "delete")
# The routes' security schemes: API Gateway's JWT authorizer (routes the template
# secures), and the payment webhook's signature (routes whose code names it).
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "stockroomSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Stockroom-Signature",
        "description": 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under '
        "the shared secret>; refused (401) more than 300 s from the server's clock. "
        "See docs/sales.md.",
    },
}


def api_apps() -> dict[str, Any]:
    """The Powertools resolver (`app`) of each function the template gives HTTP routes."""
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    functions = sorted({function for function, _ in http_routes().values()})
    return {function: import_handler_module(function).app for function in functions}


def build_document() -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import APIKey

    # What a route's own `security` may name (Powertools checks it is declared).
    signature = SECURITY_SCHEMES["stockroomSignature"]
    declared = {"stockroomSignature": APIKey.model_validate(signature)}
    document: dict[str, Any] = {}
    for app in api_apps().values():
        part = json.loads(
            app.get_openapi_json_schema(
                title="Stockroom API",
                version="1.0.0",
                description="Catalog, orders and payments. Money is in integer minor units.",
                security_schemes=declared,
            )
        )
        if not document:
            document = part
            continue
        document["paths"].update(part["paths"])
        document.setdefault("components", {}).setdefault("schemas", {}).update(
            part.get("components", {}).get("schemas", {})
        )
    from stockroom.http_rules import MAX_BODY_BYTES  # the layer is on the path once apps load

    secured = {route for route, (_, needs_token) in http_routes().items() if needs_token}
    # A route's AuthorizationScopes, as their parameters default them (AdminScope).
    scoped = {route: Stack("doc", "eu-west-1").resolve(s) for route, s in route_scopes().items()}
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    gateway = {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayMessage"}}}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            responses = operation["responses"]
            if (method.upper(), path) in secured:
                scopes = scoped.get((method.upper(), path), [])
                operation["security"] = [{"jwt": scopes}]
                # API Gateway's JWT authorizer answers these; the function never runs.
                responses["401"] = {"description": "No valid bearer token", "content": gateway}
                if scopes:
                    responses["403"] = {
                        "description": f"The token carries none of the scopes {scopes}",
                        "content": gateway,
                    }
            if method in ("post", "put", "patch"):
                # Every route refuses a body that is not JSON, whether it reads one or not.
                responses["415"] = {
                    "description": "The body is not application/json",
                    "content": envelope,
                }
                # Ours over MAX_BODY_BYTES (the envelope); API Gateway's over 10 MB.
                either = [
                    envelope["application/json"]["schema"],
                    gateway["application/json"]["schema"],
                ]
                responses["413"] = {
                    "description": f"Body over {MAX_BODY_BYTES // 1024} KB "
                    "(PAYLOAD_TOO_LARGE), or over API Gateway's 10 MB limit (its own message)",
                    "content": {"application/json": {"schema": {"anyOf": either}}},
                }
            # Our handler answers every 500 with the envelope, not Powertools' default.
            responses["500"] = {"description": "Internal error", "content": envelope}
            responses.get("304", {}).pop("content", None)
            operation["responses"] = dict(sorted(responses.items()))
    document.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    document["paths"] = dict(sorted(document["paths"].items()))
    schemas = document["components"]["schemas"]
    from stockroom.models import GatewayMessage  # the layer is on the path once apps load

    schemas["GatewayMessage"] = GatewayMessage.model_json_schema()
    document["components"]["schemas"] = {
        name: schemas[name] for name in sorted(_referenced(document))
    }
    return document


def _referenced(document: dict[str, Any]) -> set[str]:
    """Schemas the paths use, directly or through other schemas."""
    schemas = document["components"]["schemas"]
    pattern = re.compile(r"#/components/schemas/(\w+)")
    found = set(pattern.findall(json.dumps(document["paths"])))
    pending = list(found)
    while pending:
        for name in pattern.findall(json.dumps(schemas.get(pending.pop(), {}))):
            if name not in found:
                found.add(name)
                pending.append(name)
    return found


def render() -> str:
    return json.dumps(build_document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    DOCUMENT.parent.mkdir(exist_ok=True)
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
