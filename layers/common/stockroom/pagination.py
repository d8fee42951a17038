"""Opaque page cursors: the last key of a page, as URL-safe base64 JSON."""

import base64
import binascii
import json
from typing import Any

from stockroom.errors import FieldProblem, InvalidRequestError


def encode_cursor(position: dict[str, str]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fields: tuple[str, ...]) -> dict[str, str]:
    """The position a cursor names; a cursor that is not one of ours is a 4xx on `cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position: Any = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
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
