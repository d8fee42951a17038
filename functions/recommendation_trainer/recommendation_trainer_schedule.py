"""Recommendation trainer (scheduled): the baskets since its last run folded into the
model, the SKUs they touched solved again, their rows and the best sellers written for
the API (stockroom/recommendation_trainer.py)."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

import recommendation_trainer
from stockroom import container
from stockroom.observability import logger, metrics

container.prepare("dynamodb", "s3", settings=["recommendations_table_name", "model_bucket_name"])


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A scheduled event's detail is empty; {"full": true} solves every SKU again.
    full = bool(event.get("full")) if isinstance(event, dict) else False
    return recommendation_trainer.refresh(full=full).model_dump()
