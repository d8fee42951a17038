"""Payment webhook (public, signed): POST /payments/webhook.

The signature is checked on the raw body before anything else reads it: a request
that is not signed with the shared secret is 401 whatever its body, and only a signed
body is validated (422 naming the field) and applied."""

import base64
import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import payment_webhook
from stockroom import container
from stockroom.errors import UnauthorizedError
from stockroom.http import answers, create_resolver, resolve
from stockroom.http_rules import error_envelope, refusal_response, status_of
from stockroom.models import PaymentEvent, PaymentReceipt
from stockroom.observability import logger, metrics

container.prepare(
    "dynamodb", "secretsmanager", settings=["orders_table_name", "payment_webhook_secret_arn"]
)

app = create_resolver()


@app.post(
    "/payments/webhook",
    security=[{"stockroomSignature": []}],
    responses=answers(
        200,
        "The payment is recorded (PAID, REFUND_DUE) or was already (ALREADY_RECORDED): "
        "the provider stops sending it",
        PaymentReceipt,
        401,
        404,
        409,
        503,
    ),
)
def receive_payment(payment: Annotated[PaymentEvent, Body()]) -> PaymentReceipt:
    return payment_webhook.receive_payment(payment)


def _raw_body(event: dict[str, Any]) -> bytes:
    """The body as the provider signed it: API Gateway base64-encodes non-text bodies."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()


def _refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a request whose signature fails (401), or None for a signed one."""
    headers = event.get("headers") or {}  # API Gateway lowercases their names
    try:
        payment_webhook.verify_signature(
            headers.get(payment_webhook.SIGNATURE_HEADER.lower()),
            _raw_body(event),
            time.time(),
            payment_webhook.webhook_secret(),
        )
    except UnauthorizedError as error:
        envelope = error_envelope(error.code, error.message, error.details)
        return refusal_response((status_of(error), envelope))
    return None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _refusal(event) or resolve(app, event, context)
