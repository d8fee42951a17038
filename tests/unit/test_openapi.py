"""The committed OpenAPI document is what the code generates, and matches the template."""

import json

from devtools.openapi import DOCUMENT, build_document, render
from devtools.template import http_routes, load_template, route_scopes


def test_committed_document_is_up_to_date():
    assert DOCUMENT.read_text() == render(), "docs/openapi.json is stale: run `make openapi`"


# Routes whose requests carry the payment provider's signature instead of a token.
SIGNED = {("POST", "/payments/webhook")}


def test_document_has_exactly_the_template_routes_with_their_security():
    document = build_document()
    documented = {
        (method.upper(), path): operation.get("security")
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    admin = load_template()["Parameters"]["AdminScope"]["Default"]
    scopes = {route: [admin] for route in route_scopes()}  # the /admin routes'
    assert documented == {
        route: [{"jwt": scopes.get(route, [])}]
        if secured
        else [{"stockroomSignature": []}]
        if route in SIGNED
        else None
        for route, (_, secured) in http_routes().items()
    }
    schemes = document["components"]["securitySchemes"]
    assert schemes["stockroomSignature"]["name"] == "Stockroom-Signature"


def _secured(method: str, path: str) -> bool:
    return http_routes()[(method.upper(), path)][1]


def test_every_error_response_is_the_envelope_or_api_gateways_message():
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    gateway = {"$ref": "#/components/schemas/GatewayMessage"}
    for path, operations in build_document()["paths"].items():
        for method, operation in operations.items():
            # Answered by API Gateway itself, before any function runs, in its own shape:
            # the JWT authorizer's 401 (a signed route's 401 is the function's) and, for
            # a route with scopes, its 403; 413 by either: the function's over 64 KB, API
            # Gateway's over 10 MB.
            gateway_statuses = {"401"} if _secured(method, path) else set()
            if (method.upper(), path) in route_scopes():
                gateway_statuses.add("403")
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    expected = (
                        {"anyOf": [envelope, gateway]}
                        if status == "413"
                        else gateway
                        if status in gateway_statuses
                        else envelope
                    )
                    assert schema == expected, (method, path, status, json.dumps(response))


def test_secured_routes_document_the_authorizers_401_and_bodies_their_415():
    document = build_document()
    for (method, path), (_, secured) in http_routes().items():
        responses = document["paths"][path][method.lower()]["responses"]
        assert ("401" in responses) is (secured or (method, path) in SIGNED), (method, path)
        assert ("415" in responses) is (method == "POST"), (method, path)
    assert document["components"]["schemas"]["GatewayMessage"]["required"] == ["message"]
