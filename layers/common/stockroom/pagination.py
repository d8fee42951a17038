"""Opaque page cursors: the last key of a page, as URL-safe base64 JSON, signed.

`<payload>.<mac>`: the MAC is HMAC-SHA256 of the payload under a key only the deployed
stack holds (Secrets Manager, `CursorSigningSecret`), so a client can hand back a cursor
but not make one: any edit, whether or not it keeps the cursor's shape, is refused."""

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from stockroom import aws
from stockroom.errors import FieldProblem, InvalidRequestError
from stockroom.once import per_container
from stockroom.settings import get_settings


@per_container
def cursor_key() -> bytes:
    """The signing key, read from Secrets Manager once per container, on the first page
    that has or takes a cursor (not at init: no request is sent at init). Never logged."""
    arn = get_settings().require("cursor_secret_arn")
    return str(aws.secretsmanager().get_secret_value(SecretId=arn)["SecretString"]).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mac(payload: str) -> str:
    return _b64(hmac.new(cursor_key(), payload.encode(), hashlib.sha256).digest())


def encode_cursor(position: dict[str, str]) -> str:
    payload = _b64(json.dumps(position, separators=(",", ":"), sort_keys=True).encode())
    return f"{payload}.{_mac(payload)}"


def decode_cursor(cursor: str, fields: tuple[str, ...]) -> dict[str, str]:
    """The position a cursor names; a cursor that is not one of ours, exactly as it was
    issued, is a 4xx on `cursor`."""
    payload, _, mac = cursor.partition(".")
    position: Any = None
    # Ours are ASCII (a query string can bring any text, lone surrogates included, which
    # would not even encode); the MAC is compared in constant time.
    if cursor.isascii() and mac and hmac.compare_digest(mac, _mac(payload)):
        try:
            position = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (binascii.Error, ValueError):
            position = None
    if (
        not isinstance(position, dict)
        or set(position) != set(fields)
        or not all(isinstance(value, str) and value for value in position.values())
    ):
        raise InvalidRequestError(
            "cursor is not valid; pass next_cursor from the previous page unchanged",
            code="INVALID_CURSOR",
            details=[FieldProblem("cursor", "not a cursor returned by this API")],
        )
    return position
