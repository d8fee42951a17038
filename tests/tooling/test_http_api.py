"""How the local HTTP API turns function results into responses and orders its routes."""

import base64
import json

from devtools.http_api import _http_response, compile_routes


def test_a_result_with_a_status_code_is_the_response_and_base64_bodies_are_decoded():
    headers, status, payload = _http_response(
        {
            "statusCode": 201,
            "headers": {"x-count": 3},
            "body": base64.b64encode(b"\x00bytes").decode(),
            "isBase64Encoded": True,
        }
    )
    assert (status, headers, payload) == (201, {"x-count": "3"}, b"\x00bytes")


def test_any_other_result_is_a_200_json_body():
    headers, status, payload = _http_response({"items": []})
    assert (status, headers["Content-Type"], json.loads(payload)) == (
        200,
        "application/json",
        {"items": []},
    )


def test_literal_paths_are_tried_before_parameterised_ones():
    paths = [route.path for route in compile_routes()]
    assert paths.index("/products") < paths.index("/products/{sku}")
    (cancel,) = [r for r in compile_routes() if r.path == "/orders/{order_id}/cancel"]
    match = cancel.pattern.match("/orders/abc/cancel")
    assert match and match.groupdict() == {"order_id": "abc"}
