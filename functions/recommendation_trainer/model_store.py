"""The recommendation model between the trainer's runs: one object in the model bucket
(versioned, so a bad write can be rolled back to the previous version)."""

from botocore.exceptions import ClientError

from stockroom import aws
from stockroom.settings import get_settings

MODEL_KEY = "recommendations/model.npz"


def _bucket() -> str:
    return get_settings().require("model_bucket_name")


def load() -> bytes | None:
    """The saved model, or None before the first run."""
    try:
        response = aws.s3().get_object(Bucket=_bucket(), Key=MODEL_KEY)
    except ClientError as error:
        if aws.error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    return response["Body"].read()


def save(model: bytes) -> None:
    aws.s3().put_object(Bucket=_bucket(), Key=MODEL_KEY, Body=model)
