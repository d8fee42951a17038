"""HTTP API plumbing shared by the API functions: the resolver, the one error envelope,
the exception-to-status table, and the caller's identity from the JWT authorizer."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestValidationError,
    ResponseValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
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
from stockroom.observability import logger

# Every domain error's HTTP status, in one place.
STATUS_OF: dict[type[StockroomError], int] = {
    InvalidRequestError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    UnauthorizedError: 401,
    RetryLaterError: 503,
}
_LOCATION_KINDS = {"body", "query", "path", "header", "cookie"}


_ERROR_MEANINGS = {
    400: "Malformed request (for example a body that is not JSON)",
    401: "No valid bearer token",
    404: "Not found",
    409: "Conflict with the resource's current state or an earlier request",
    422: "Invalid request; details name each field",
    503: "Busy with concurrent changes to the same data; send the request again",
}


def described(description: str, model: type[BaseModel] | None = None) -> OpenAPIResponse:
    """One documented response, with a JSON body of `model` if it has one."""
    if model is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"model": model}}}


def documented(success: dict[int, OpenAPIResponse], *errors: int) -> dict[int, OpenAPIResponse]:
    """OpenAPI responses of a route: its successes plus its errors in the one envelope.
    (500 is added by devtools/openapi.py: Powertools documents it on its own terms.)"""
    failures = {
        status: described(_ERROR_MEANINGS[status], ErrorEnvelope) for status in (*errors, 422)
    }
    return success | failures


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


def error_response(
    status: int, code: str, message: str, details: list[FieldProblem] | None = None
) -> Response[Any]:
    envelope = ErrorEnvelope(
        error=ErrorBody(
            code=code,
            message=message,
            details=[ErrorDetail(field=d.field, message=d.message) for d in details or []],
        )
    )
    return json_response(status, envelope)


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


def _validation_response(error: RequestValidationError) -> Response[Any]:
    problems = [
        FieldProblem(field_name(detail.get("loc", ())), str(detail.get("msg", "invalid")))
        for detail in error.errors()
    ]
    if any(detail.get("type") == "json_invalid" for detail in error.errors()):
        return error_response(400, "MALFORMED_JSON", "request body is not valid JSON", problems)
    fields = ", ".join(dict.fromkeys(problem.field for problem in problems))
    return error_response(422, "VALIDATION_FAILED", f"invalid request: {fields}", problems)


def create_resolver() -> APIGatewayHttpResolver:
    """A validating resolver whose every error, expected or not, uses the envelope."""
    # A response that fails its own model is our bug: 500, not the client's 422.
    app = APIGatewayHttpResolver(enable_validation=True, response_validation_error_http_code=500)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        return _validation_response(error)

    @app.exception_handler(ResponseValidationError)
    def invalid_response(error: ResponseValidationError) -> Response[Any]:
        logger.error("response failed its model", errors=error.errors())
        return error_response(500, "INTERNAL_ERROR", "internal error; the request id is logged")

    @app.exception_handler(StockroomError)
    def domain_error(error: StockroomError) -> Response[Any]:
        status = next((code for kind, code in STATUS_OF.items() if isinstance(error, kind)), 500)
        return error_response(status, error.code, error.message, error.details)

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


def caller_of(app: APIGatewayHttpResolver) -> Caller:
    """The caller whose JWT API Gateway verified; a route without one is refused."""
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.jwt_claim
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnauthorizedError("a bearer token with a subject is required")
    scopes = set(authorizer.jwt_scopes or [])
    claimed = claims.get("scope") or claims.get("scp") or ""
    if isinstance(claimed, str):
        # HTTP APIs pass list claims as "[a b]" strings.
        scopes.update(claimed.strip("[]").split())
    elif isinstance(claimed, list):
        scopes.update(str(scope) for scope in claimed)
    return Caller(customer_id=subject, scopes=frozenset(scopes))
