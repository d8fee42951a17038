"""What both FastAPI functions share: the error envelope, the caller, the Lambda
handler around Mangum."""

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mangum import Mangum
from starlette.exceptions import HTTPException

from stockroom import container
from stockroom.errors import FieldProblem, StockroomError
from stockroom.http_rules import (
    caller_from_claims,
    error_envelope,
    refusal_response,
    refused_request,
    status_of,
    validation_failure,
    with_cache_control,
)
from stockroom.identity import Caller
from stockroom.models import ErrorEnvelope
from stockroom.observability import logger, metrics

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def _envelope_response(status: int, envelope: ErrorEnvelope) -> JSONResponse:
    return JSONResponse(envelope.model_dump(mode="json"), status_code=status)


def create_app() -> FastAPI:
    """An app whose every error, expected or not, uses the one envelope."""
    app = FastAPI(title="Stockroom")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return _envelope_response(*validation_failure(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 400:
            # FastAPI's answer to a body its JSON decoder could not read at all (nested
            # too deeply); merely invalid JSON is a RequestValidationError.
            problem = FieldProblem("body", str(error.detail))
            envelope = error_envelope("MALFORMED_JSON", "request body is not valid JSON", [problem])
            return _envelope_response(400, envelope)
        # Starlette raises the others for unknown routes (404) and methods (405).
        code = "ROUTE_NOT_FOUND" if error.status_code == 404 else f"HTTP_{error.status_code}"
        message = f"no route for {request.method} {request.url.path}"
        return _envelope_response(error.status_code, error_envelope(code, message))

    @app.exception_handler(StockroomError)
    async def domain_error(_: Request, error: StockroomError) -> JSONResponse:
        envelope = error_envelope(error.code, error.message, error.details)
        return _envelope_response(status_of(error), envelope)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        logger.exception("unhandled error while serving the request")
        envelope = error_envelope("INTERNAL_ERROR", "internal error; the request id is logged")
        return _envelope_response(500, envelope)

    return app


def caller(request: Request) -> Caller:
    """A dependency: the caller whose JWT API Gateway verified (Mangum keeps the event)."""
    authorizer = request.scope["aws.event"]["requestContext"].get("authorizer") or {}
    jwt = authorizer.get("jwt") or {}
    return caller_from_claims(jwt.get("claims") or {}, jwt.get("scopes"))


def lambda_handler(
    app: FastAPI, before: Callable[[LambdaContext], None] | None = None
) -> LambdaHandler:
    """Mangum around the app, inside the same observability as the Powertools functions,
    with its client created at init as theirs are."""
    container.prepare("dynamodb")
    adapter = Mangum(app, lifespan="off")

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @metrics.log_metrics
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        refusal = refused_request(event)
        if refusal is not None:
            return refusal_response(refusal)
        if before is not None:
            before(context)
        answer = adapter(event, context)  # type: ignore[arg-type]  # Mangum's own event types
        return with_cache_control(event, answer)

    return handler
