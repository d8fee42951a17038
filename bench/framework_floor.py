"""The framework floor: what every Stockroom API function is built on, and nothing of
ours. A botocore DynamoDB client made as the layer makes it (stockroom/aws.py: no
boto3), pydantic, Powertools' validating HTTP resolver, Logger and Metrics, serving
GET /products/{sku} with one read into a pydantic model. bench.cold_start measures it
beside the functions: between the boto3 floor and this is what those libraries cost at
import; above this, what our code does."""

import os
import warnings
from typing import Annotated, Any

import botocore.session
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Path
from pydantic import BaseModel, StringConstraints

warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

dynamodb: Any = botocore.session.Session().create_client("dynamodb")
logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)

Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class Product(BaseModel):
    sku: Sku
    name: str
    available: int


@app.get("/products/<sku>")
def get_product(sku: Annotated[Sku, Path()]) -> Product:
    table = os.environ["PRODUCTS_TABLE_NAME"]
    item = dynamodb.get_item(TableName=table, Key={"sku": {"S": sku}}).get("Item")
    if item is None:
        raise NotFoundError(sku)
    return Product(sku=sku, name=item["name"]["S"], available=int(item["available"]["N"]))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
