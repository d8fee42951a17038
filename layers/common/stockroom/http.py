"""HTTP API plumbing shared by the Powertools API functions: the validating resolver
whose every error uses the one envelope, the Cache-Control of every answer, the OpenAPI
response descriptions, and the caller from the JWT authorizer. The rules themselves
(statuses, envelope, claims, caching headers) are framework-free in
stockroom/http_rules.py."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from stockroom.errors import FieldProblem, StockroomError
from stockroom.http_rules import (
    MAX_PROBLEMS,
    caller_from_claims,
    decode_json,
    error_envelope,
    etag_matches,
    etag_of,
    public_cache_control,
    refusal_response,
    refused_request,
    status_of,
    validation_failure,
    with_cache_control,
)
from stockroom.identity import Caller
from stockroom.models import ErrorEnvelope
from stockroom.observability import logger

_ERROR_MEANINGS = {
    400: "Malformed request: a body that is not JSON, nested too deeply or holding a number "
    "JSON cannot hold (NaN, Infinity, out of range, past 4,300 digits)",
    401: "Missing, wrong or stale credentials; nothing was changed",
    404: "Not found",
    409: "Conflict with the resource's current state or an earlier request",
    422: f"Invalid request; details name each field (the first {MAX_PROBLEMS}, and the message "
    "says how many there were)",
    503: "Busy with concurrent changes to the same data; send the request again",
}


def cursor_query() -> Any:
    """The `cursor` query parameter of every listing (a fresh one per route)."""
    return Query(
        min_length=1,
        max_length=1024,
        description="next_cursor of the previous page, unchanged (opaque)",
    )


# The 422 a cursor can get, for `documented(unprocessable=...)` and `answers`.
INVALID_CURSOR = "a cursor this API did not return, or one edited (INVALID_CURSOR)"


def described(description: str, model: type[BaseModel] | None = None) -> OpenAPIResponse:
    """One documented response, with a JSON body of `model` if it has one."""
    if model is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"model": model}}}


def documented(
    success: dict[int, OpenAPIResponse],
    *errors: int,
    unprocessable: str | None = None,
    conflict: str | None = None,
) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of a route: its successes plus its errors in the one envelope
    (`conflict` names a 409's cases). devtools/openapi.py adds what every route shares:
    500 (Powertools documents it on its own terms), 415 and API Gateway's own 401 and 413."""
    meanings = _ERROR_MEANINGS | ({409: f"{_ERROR_MEANINGS[409]}: {conflict}"} if conflict else {})
    failures = {status: described(meanings[status], ErrorEnvelope) for status in errors}
    # A request can match its schema and still be unprocessable (a SKU no product has, a
    # cursor this API never issued): `unprocessable` names those cases.
    meaning = _ERROR_MEANINGS[422] + (f"; also {unprocessable}" if unprocessable else "")
    return success | failures | {422: described(meaning, ErrorEnvelope)}


def answers(
    status: int,
    description: str,
    model: type[BaseModel] | None = None,
    *errors: int,
    unprocessable: str | None = None,
    conflict: str | None = None,
) -> dict[int, OpenAPIResponse]:
    """`documented` for a route with one success: `status`, its description, and a JSON
    body of `model` if it has one."""
    return documented(
        {status: described(description, model)},
        *errors,
        unprocessable=unprocessable,
        conflict=conflict,
    )


def json_response(
    status: int, body: BaseModel | dict[str, Any] | None, headers: dict[str, str] | None = None
) -> Response[Any]:
    payload = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=payload,
        headers=headers,
    )


def cached_response(view: BaseModel, max_age: int, if_none_match: str | None) -> Response[Any]:
    """`view` with its ETag and a public Cache-Control of `max_age` seconds, or a 304
    when If-None-Match names that ETag (`resolve` makes it private for a caller who sent
    Authorization)."""
    etag = etag_of(view)
    headers = {"ETag": etag, "Cache-Control": public_cache_control(max_age)}
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return json_response(200, view, headers)


def error_response(
    status: int, code: str, message: str, details: list[FieldProblem] | None = None
) -> Response[Any]:
    return json_response(status, error_envelope(code, message, details))


def _validation_response(error: RequestValidationError) -> Response[Any]:
    status, envelope = validation_failure(error.errors())
    return json_response(status, envelope)


def create_resolver() -> APIGatewayHttpResolver:
    """A validating resolver whose every error, expected or not, uses the envelope."""
    # A response that fails its own model is our bug: 500, not the client's 422.
    app = APIGatewayHttpResolver(
        enable_validation=True,
        response_validation_error_http_code=500,
        json_body_deserializer=decode_json,
    )

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        return _validation_response(error)

    @app.exception_handler(ResponseValidationError)
    def invalid_response(error: ResponseValidationError) -> Response[Any]:
        # Where and how it failed, never what it held: a response carries customers' data.
        problems = [{"loc": e.get("loc"), "type": e.get("type")} for e in error.errors()]
        logger.error("response failed its model", problems=problems)
        return error_response(500, "INTERNAL_ERROR", "internal error; the request id is logged")

    @app.exception_handler(StockroomError)
    def domain_error(error: StockroomError) -> Response[Any]:
        return error_response(status_of(error), error.code, error.message, error.details)

    @app.not_found
    def no_route(_: Exception) -> Response[Any]:
        event = app.current_event
        return error_response(
            404, "ROUTE_NOT_FOUND", f"no route for {event.request_context.http.method} {event.path}"
        )

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[Any]:
        logger.exception("unhandled error while serving the request")
        return error_response(500, "INTERNAL_ERROR", "internal error; the request id is logged")

    return app


def resolve(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The route's answer to `event`, once the request passes the checks every route
    shares (a body must be JSON), with the Cache-Control every answer leaves with: a
    public read's own to an anonymous caller, `private, no-store` to everyone else
    (stockroom/http_rules.py)."""
    refusal = refused_request(event)
    if refusal is not None:
        return refusal_response(refusal)
    return with_cache_control(event, app.resolve(event, context))


def caller_of(app: APIGatewayHttpResolver) -> Caller:
    """The caller whose JWT API Gateway verified; a route without one is refused."""
    authorizer = app.current_event.request_context.authorizer
    return caller_from_claims(authorizer.jwt_claim, authorizer.jwt_scopes)
