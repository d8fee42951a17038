"""Idempotency records for Powertools' idempotency utility (table key: id, TTL: expiration)."""

from collections.abc import Callable
from typing import cast

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from botocore.exceptions import ClientError
from pydantic import BaseModel

from stockroom import aws
from stockroom.once import per_container
from stockroom.settings import get_settings


class RetrySafePersistenceLayer(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB layer, except that a resent put of the in-progress record is
    not mistaken for a concurrent request.

    The record is put under the condition that none exists. When botocore resends that
    put because the first answer was lost, the resend fails the condition against the
    record the first copy wrote, and Powertools would answer "already in progress" to the
    only request there is. A put that botocore resent, finding a record identical to
    the one it writes (status, both expiry times to the millisecond, payload hash), found
    its own: it succeeded.
    """

    def _put_record(self, data_record: DataRecord) -> None:
        try:
            super()._put_record(data_record)
        except IdempotencyItemAlreadyExistsError as error:
            if not _is_own_record(error, data_record):
                raise


def _is_own_record(error: IdempotencyItemAlreadyExistsError, written: DataRecord) -> bool:
    found = error.old_data_record
    cause = error.__cause__
    if found is None or not isinstance(cause, ClientError) or not aws.was_resent(cause):
        return False
    return (
        found.status == written.status
        and found.expiry_timestamp == written.expiry_timestamp
        and found.in_progress_expiry_timestamp == written.in_progress_expiry_timestamp
        and found.payload_hash == written.payload_hash
    )


@per_container
def persistence_layer() -> DynamoDBPersistenceLayer:
    return RetrySafePersistenceLayer(
        table_name=get_settings().require("idempotency_table_name"),
        boto3_client=aws.dynamodb(),
    )


def once_per_key[R: BaseModel](
    function: Callable[..., R], keyword: str, output: type[R], config: IdempotencyConfig
) -> Callable[..., R]:
    """`function` made idempotent by Powertools: the key `config` reads from its `keyword`
    argument names a record here, and a repeat under that key gets the first call's
    result (an `output`) back instead of calling `function` again."""
    idempotent = idempotent_function(
        function,
        data_keyword_argument=keyword,
        persistence_store=persistence_layer(),
        config=config,
        output_serializer=PydanticSerializer(output),
    )
    return cast(Callable[..., R], idempotent)
