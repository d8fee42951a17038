"""What Stockroom's HTTP APIs answer, whatever framework serves them: each domain
error's status, the one error envelope, the fields a validation error names, the
caching headers (what a shared cache may keep), and which request bodies are refused
before any route sees them. No web framework is imported here (bench/fastapi/ serves
the same answers with FastAPI)."""

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from stockroom.errors import (
    ConflictError,
    FieldProblem,
    InvalidRequestError,
    NotFoundError,
    RetryLaterError,
    StockroomError,
    UnauthorizedError,
)
from stockroom.identity import Caller
from stockroom.models import ErrorBody, ErrorDetail, ErrorEnvelope

# Every domain error's HTTP status, in one place.
STATUS_OF: dict[type[StockroomError], int] = {
    InvalidRequestError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    UnauthorizedError: 401,
    RetryLaterError: 503,
}
_LOCATION_KINDS = {"body", "query", "path", "header", "cookie"}
JSON_MEDIA_TYPE = "application/json"
# The largest body any route takes: an order of 49 lines is under 4 KB. A larger one is
# 413 before it is decoded (API Gateway's own limit, 10 MB, is far above what any route
# needs, and everything under it would be parsed and validated).
MAX_BODY_BYTES = 64 * 1024
# The most problems one validation answer lists (it says how many there were in all).
MAX_PROBLEMS = 20


def status_of(error: StockroomError) -> int:
    return next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 500)


def error_envelope(
    code: str, message: str, details: list[FieldProblem] | None = None
) -> ErrorEnvelope:
    return ErrorEnvelope(
        error=ErrorBody(
            code=code,
            message=message,
            details=[ErrorDetail(field=d.field, message=d.message) for d in details or []],
        )
    )


def field_name(location: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'items', 0, 'sku') -> 'items[0].sku'; ('query', 'limit') -> 'limit'."""
    parts = list(location)
    if parts and parts[0] in _LOCATION_KINDS:
        kind = parts.pop(0)
        if not parts or (kind == "body" and all(isinstance(part, int) for part in parts)):
            return str(kind)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def validation_failure(errors: Iterable[Mapping[str, Any]]) -> tuple[int, ErrorEnvelope]:
    """A request that failed validation (pydantic's error list): 400 for a body that is
    not JSON, else 422 naming each field. At most MAX_PROBLEMS are listed, in `details`
    and in the message, which then says how many there were: a body of thousands of
    unknown keys is a short answer, not one twice its size."""
    errors = list(errors)
    problems = [
        FieldProblem(field_name(error.get("loc", ())), str(error.get("msg", "invalid")))
        for error in errors[:MAX_PROBLEMS]
    ]
    invalid_json = [error for error in errors if error.get("type") == "json_invalid"]
    if invalid_json:
        why = (invalid_json[0].get("ctx") or {}).get("error")
        message = (
            f"request body is not valid JSON: {why}" if why else "request body is not valid JSON"
        )
        return 400, error_envelope("MALFORMED_JSON", message, problems)
    fields = ", ".join(dict.fromkeys(problem.field for problem in problems))
    if len(errors) > MAX_PROBLEMS:
        fields += f" (the first {MAX_PROBLEMS} of {len(errors)} problems)"
    return 422, error_envelope("VALIDATION_FAILED", f"invalid request: {fields}", problems)


def wants_fresh(cache_control: str | None) -> bool:
    """True when the client asked not to be served from a cache (no-cache, max-age=0)."""
    directives = {part.strip().lower() for part in (cache_control or "").split(",")}
    return bool(directives & {"no-cache", "no-store", "max-age=0"})


# What a shared cache (the edge, a proxy) may keep (docs/caching.md): a public read's
# answer for its max-age, then stale for STALE_WHILE_REVALIDATE_SECONDS more while the
# cache fetches the next in the background; every other answer nothing.
NOT_CACHEABLE = "private, no-store"
STALE_WHILE_REVALIDATE_SECONDS = 30


def public_cache_control(max_age: int) -> str:
    """The Cache-Control of a public read anyone may cache for `max_age` seconds. With
    max-age 0 (fresh reads asked for) no cache may serve it stale either."""
    if max_age <= 0:
        return "public, max-age=0"
    return f"public, max-age={max_age}, stale-while-revalidate={STALE_WHILE_REVALIDATE_SECONDS}"


def cache_control_of(request_headers: Mapping[str, str], route_cache_control: str | None) -> str:
    """The Cache-Control an answer leaves with: the one its route gave (a public read's),
    unless the request carried Authorization; `private, no-store` for every other answer,
    so that what one caller was told is never kept for another."""
    authorized = any(name.lower() == "authorization" for name in request_headers)
    if route_cache_control is None or authorized:
        return NOT_CACHEABLE
    return route_cache_control


def with_cache_control(event: Mapping[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """A payload 2.0 function result with the Cache-Control `cache_control_of` gives it."""
    headers = dict(result.get("headers") or {})
    given = [name for name in headers if name.lower() == "cache-control"]
    route_cache_control = headers[given[0]] if given else None
    for name in given:
        del headers[name]
    headers["Cache-Control"] = cache_control_of(event.get("headers") or {}, route_cache_control)
    return {**result, "headers": headers}


def etag_of(view: BaseModel) -> str:
    return '"' + hashlib.sha256(view.model_dump_json().encode()).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses weak comparison: W/ prefixes are ignored, `*` matches anything."""
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def caller_from_claims(claims: Mapping[str, Any], scopes: Iterable[str] | None) -> Caller:
    """The caller named by the claims API Gateway's JWT authorizer verified; none, 401."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnauthorizedError("a bearer token with a subject is required")
    granted = set(scopes or [])
    claimed = claims.get("scope") or claims.get("scp") or ""
    if isinstance(claimed, str):
        # HTTP APIs pass list claims as "[a b]" strings.
        granted.update(claimed.strip("[]").split())
    elif isinstance(claimed, list):
        granted.update(str(scope) for scope in claimed)
    return Caller(customer_id=subject, scopes=frozenset(granted))


class _NotJsonError(ValueError):
    """A value json.loads takes that JSON has not: NaN, Infinity, a number out of range."""


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJsonError("a number out of range")
    return value


def _no_constant(constant: str) -> Any:
    raise _NotJsonError(f"{constant} is not JSON")


def decode_json(text: str | bytes) -> Any:
    """json.loads, strictly: NaN and Infinity and numbers out of range are refused, and
    every way a body can fail to decode (nested too deeply, an integer past Python's digit
    limit, bytes that are not UTF-8) is the JSONDecodeError a framework answers with 400,
    never an exception that would be a 500."""
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except RecursionError as error:
        raise json.JSONDecodeError("nested too deeply", _head(text), 0) from error
    except ValueError as error:
        if isinstance(error, _NotJsonError):
            why = str(error)
        elif isinstance(error, UnicodeDecodeError):
            why = "not UTF-8"
        else:  # int() past sys.get_int_max_str_digits(); its message is advice for us
            why = "a number too long to read"
        raise json.JSONDecodeError(why, _head(text), 0) from error


def _head(text: str | bytes) -> str:
    return (text if isinstance(text, str) else text.decode(errors="replace"))[:64]


def body_size(event: Mapping[str, Any]) -> int:
    """The bytes of a payload 2.0 event's body as the client sent it, or, for a body far
    over the limit, a lower bound (no body of megabytes is encoded to be measured). A
    base64 body's padding counts as bytes: at most two."""
    body: str = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4
    if len(body) > MAX_BODY_BYTES:  # UTF-8 has at least a byte for each character
        return len(body)
    return len(body.encode(errors="surrogatepass"))


def refused_request(event: dict[str, Any]) -> tuple[int, ErrorEnvelope] | None:
    """Checks a payload 2.0 event before routing. A body over MAX_BODY_BYTES is 413,
    before anything decodes it. A body must be JSON: media types are
    compared case-insensitively and parameters (`; charset=utf-8`) are allowed; no
    Content-Type at all is taken as JSON. Anything else is 415 naming the accepted type.
    A JSON body's Content-Type is rewritten to the plain `application/json` the
    frameworks recognise, and a base64-encoded body to its text (400 if it is not UTF-8):
    a framework decoding it would fail with an exception of its own, a 500."""
    headers = event.get("headers") or {}
    content_type = headers.get("content-type")
    if not event.get("body"):
        return None
    if body_size(event) > MAX_BODY_BYTES:
        return 413, error_envelope(
            "PAYLOAD_TOO_LARGE",
            f"request bodies are limited to {MAX_BODY_BYTES} bytes",
            [FieldProblem("body", f"at most {MAX_BODY_BYTES} bytes")],
        )
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE:
            return 415, error_envelope(
                "UNSUPPORTED_MEDIA_TYPE",
                f"request bodies must be {JSON_MEDIA_TYPE}; got {content_type!r}",
                [FieldProblem("Content-Type", f"use {JSON_MEDIA_TYPE}")],
            )
        headers["content-type"] = JSON_MEDIA_TYPE
    if event.get("isBase64Encoded"):
        try:
            event["body"] = base64.b64decode(event["body"], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return 400, error_envelope(
                "MALFORMED_JSON",
                "request body is not valid JSON: not UTF-8",
                [FieldProblem("body", "not UTF-8 text")],
            )
        event["isBase64Encoded"] = False
    return None


def refusal_response(refusal: tuple[int, ErrorEnvelope]) -> dict[str, Any]:
    """A refused request's answer as a payload 2.0 function result."""
    status, envelope = refusal
    return {
        "statusCode": status,
        "headers": {"Content-Type": JSON_MEDIA_TYPE, "Cache-Control": NOT_CACHEABLE},
        "body": envelope.model_dump_json(),
        "isBase64Encoded": False,
    }
