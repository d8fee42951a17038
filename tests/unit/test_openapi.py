"""The committed OpenAPI document is what the code generates, and matches the template."""

import json

from devtools.openapi import DOCUMENT, build_document, render
from devtools.template import http_routes


def test_committed_document_is_up_to_date():
    assert DOCUMENT.read_text() == render(), "docs/openapi.json is stale: run `make openapi`"


def test_document_has_exactly_the_template_routes_with_their_security():
    document = build_document()
    documented = {
        (method.upper(), path): "security" in operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert documented == {route: secured for route, (_, secured) in http_routes().items()}


def test_every_error_response_is_the_envelope():
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in build_document()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == envelope, (method, path, status, json.dumps(response))
