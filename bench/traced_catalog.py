"""The catalog function traced as it was before: Powertools Tracer, which loads the
X-Ray SDK, created at import and wrapped around the handler. bench.cold_start measures
it beside the deployed function, to show what leaving the SDK out saves."""

from typing import Any

from aws_lambda_powertools import Tracer

import catalog_api  # functions/catalog, on the path as Lambda has it

tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = catalog_api.handler(event, context)
    return result
