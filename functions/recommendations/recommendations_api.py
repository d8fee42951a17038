"""Recommendations HTTP API: GET /products/{sku}/related (public), GET /recommendations
and POST /me/views (JWT)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

import stockroom.recommendations
from stockroom import catalog, container
from stockroom.http import (
    answers,
    cached_response,
    caller_of,
    create_resolver,
    described,
    documented,
    json_response,
    resolve,
)
from stockroom.http_rules import wants_fresh
from stockroom.models import (
    MAX_RECOMMENDATIONS,
    RecommendationPage,
    Sku,
    ViewsAccepted,
    ViewsRequest,
)
from stockroom.observability import logger, metrics

container.prepare(
    "dynamodb", "cache", settings=["products_table_name", "recommendations_table_name"]
)

app = create_resolver()


def limit_query() -> Any:
    return Query(ge=1, le=MAX_RECOMMENDATIONS, description="how many products at most")


@app.get(
    "/products/<sku>/related",
    responses=documented(
        {
            200: described(
                "Products bought (and viewed) together with this one, best first; best "
                "sellers where it has no history; unavailable products left out. With ETag "
                "and Cache-Control headers",
                RecommendationPage,
            ),
            304: described("Not modified: If-None-Match matched the current ETag"),
        },
        404,
    ),
)
def related(
    sku: Annotated[Sku, Path(examples=["MUG-1"])],
    limit: Annotated[int, limit_query()] = 10,
    if_none_match: Annotated[str | None, Header()] = None,
    cache_control: Annotated[str | None, Header()] = None,
) -> Response[Any]:
    page = stockroom.recommendations.related(sku, limit, fresh=wants_fresh(cache_control))
    return cached_response(page, catalog.product_cache_ttl_seconds(), if_none_match)


@app.get(
    "/recommendations",
    responses=answers(
        200,
        "Products for the caller from their recent orders and views, never one "
        "they bought, each with the SKU that led to it (`because`); best sellers "
        "for a caller without history",
        RecommendationPage,
    ),
)
def recommendations(limit: Annotated[int, limit_query()] = 10) -> RecommendationPage:
    return stockroom.recommendations.for_customer(caller_of(app).customer_id, limit)


@app.post(
    "/me/views",
    responses=answers(
        202,
        "Views recorded; `kept` counts the SKUs the caller's views hold",
        ViewsAccepted,
        400,
        503,
        unprocessable="a SKU no product has (UNKNOWN_SKU)",
    ),
)
def record_views(request: Annotated[ViewsRequest, Body()]) -> Response[ViewsAccepted]:
    kept = stockroom.recommendations.record_views(caller_of(app).customer_id, request.skus)
    return json_response(202, ViewsAccepted(kept=kept))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
