"""A running Stockroom the end-to-end journeys talk to, local or deployed
(tests/e2e/conftest.py says how each is chosen)."""

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

OUTPUTS_VARIABLE = "STOCKROOM_E2E_OUTPUTS"
TOKEN_VARIABLE = "STOCKROOM_E2E_TOKEN"


def deployed() -> bool:
    return OUTPUTS_VARIABLE in os.environ


def read_outputs(path: Path) -> dict[str, str]:
    outputs = json.loads(path.read_text())
    if isinstance(outputs, list):  # sam list stack-outputs / CloudFormation's shape
        return {output["OutputKey"]: output["OutputValue"] for output in outputs}
    return {str(key): str(value) for key, value in outputs.items()}


@dataclass(frozen=True)
class Target:
    """A running Stockroom: its API, outputs, AWS endpoint and a way to get tokens."""

    api: str
    outputs: dict[str, str]
    endpoint: str | None  # None: boto3's own (the deployed stack's account)
    token_for: Callable[[str], str]
    # DynamoDB's, where another endpoint than `endpoint` serves it (DynamoDB Local).
    dynamodb_endpoint: str | None = None
    # Names this run creates (SKUs, object keys) carry it, so runs never collide.
    run_id: str = uuid.uuid4().hex[:8].upper()

    def client(self, service: str) -> Any:
        make_client: Any = boto3.client  # typed per service name; this one is a variable
        dynamodb = service in ("dynamodb", "dynamodbstreams") and self.dynamodb_endpoint
        return make_client(
            service, endpoint_url=self.dynamodb_endpoint if dynamodb else self.endpoint
        )
