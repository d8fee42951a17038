"""Catalog importer: S3 notifications for files uploaded under imports/<merchant>/ (and for the
checkpoints of imports that continue in a fresh invocation) become catalog imports.

Lambda invokes this asynchronously: an exception makes Lambda retry the event, then send
it to the import DLQ. Bad files and bad rows are not exceptions; they end in a report.
"""

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

import catalog_import
from stockroom import container
from stockroom.errors import RetryLaterError
from stockroom.observability import count, logger, metrics

container.prepare("s3", "dynamodb", settings=["products_table_name", "idempotency_table_name"])

S3_REQUEST_ID = 'Records[0].responseElements."x-amz-request-id"'


# The upload's S3 request id, which S3's own logs and CloudTrail also carry.
@logger.inject_lambda_context(correlation_id_path=S3_REQUEST_ID)
@metrics.log_metrics(capture_cold_start_metric=True)
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    # An interrupted invocation's in-progress marker lapses at its deadline.
    catalog_import.idempotency_config().register_lambda_context(context)

    def seconds_left() -> float:
        return context.get_remaining_time_in_millis() / 1000

    try:
        outcomes = [handle(record, seconds_left) for record in event.records]
    except RetryLaterError:
        # On purpose, for Lambda to retry the event later; counted apart from failures,
        # so the errors alarm that rolls a deployment back can leave it out.
        count("ImportsDeferred")
        raise
    return {"objects": [outcome.model_dump(exclude_none=True) for outcome in outcomes]}


def handle(
    record: S3EventRecord, seconds_left: Callable[[], float]
) -> catalog_import.ObjectOutcome:
    return catalog_import.handle_object(
        catalog_import.StoredObject(
            bucket=record.s3.bucket.name,
            # Notifications URL-encode keys ("a b.csv" arrives as "a+b.csv").
            key=unquote_plus(record.s3.get_object.key),
            etag=record.s3.get_object.etag,
            sequencer=record.s3.get_object.get("sequencer", ""),
        ),
        seconds_left,
    )
