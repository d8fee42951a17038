"""Catalog HTTP API (public): GET /health, GET /products, GET /products/{sku}."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from stockroom import catalog, container
from stockroom.http import (
    INVALID_CURSOR,
    answers,
    cached_response,
    create_resolver,
    cursor_query,
    described,
    documented,
    resolve,
)
from stockroom.http_rules import wants_fresh
from stockroom.models import ProductPage, ProductView, Sku
from stockroom.observability import logger, metrics

# The cursor key's client is made on the first page that needs it: most requests are
# product reads, and a client made at init costs every cold start.
container.prepare("dynamodb", "cache", settings=["products_table_name", "cursor_secret_arn"])

app = create_resolver()


@app.get("/health", responses=answers(200, "The service is up"))
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get(
    "/products/<sku>",
    responses=documented(
        {
            200: described("The product, with ETag and Cache-Control headers", ProductView),
            304: described("Not modified: If-None-Match matched the current ETag"),
        },
        404,
    ),
)
def get_product(
    sku: Annotated[Sku, Path(examples=["MUG-1"])],
    if_none_match: Annotated[str | None, Header()] = None,
    cache_control: Annotated[str | None, Header()] = None,
) -> Response[Any]:
    view = ProductView.of(catalog.get_product(sku, fresh=wants_fresh(cache_control)))
    return cached_response(view, catalog.product_cache_ttl_seconds(), if_none_match)


@app.get(
    "/products",
    responses=documented(
        {
            200: described("A page of products, with ETag and Cache-Control headers", ProductPage),
            304: described("Not modified: If-None-Match matched the current ETag"),
        },
        unprocessable=INVALID_CURSOR,
    ),
)
def list_products(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, cursor_query()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response[Any]:
    page = catalog.list_products(limit, cursor)
    return cached_response(page, catalog.product_cache_ttl_seconds(), if_none_match)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
