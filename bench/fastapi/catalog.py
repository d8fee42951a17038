"""The catalog function's routes with FastAPI + Mangum: GET /health, GET /products,
GET /products/{sku} (functions/catalog/catalog_api.py is the deployed version)."""

from typing import Annotated

from fastapi import Header, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bench.fastapi.common import create_app, lambda_handler
from stockroom import catalog
from stockroom.http_rules import etag_matches, etag_of, public_cache_control, wants_fresh
from stockroom.models import ProductPage, ProductView, Sku

app = create_app()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def cached(view: BaseModel, if_none_match: str | None) -> Response:
    """`view` with its ETag and public Cache-Control, or a 304 for its ETag (as
    stockroom.http.cached_response)."""
    etag = etag_of(view)
    headers = {
        "ETag": etag,
        "Cache-Control": public_cache_control(catalog.product_cache_ttl_seconds()),
    }
    if if_none_match is not None and etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return JSONResponse(view.model_dump(mode="json"), headers=headers)


@app.get("/products/{sku}", response_model=ProductView)
def get_product(
    sku: Annotated[Sku, Path()],
    if_none_match: Annotated[str | None, Header()] = None,
    cache_control: Annotated[str | None, Header()] = None,
) -> Response:
    view = ProductView.of(catalog.get_product(sku, fresh=wants_fresh(cache_control)))
    return cached(view, if_none_match)


@app.get("/products", response_model=ProductPage)
def list_products(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return cached(catalog.list_products(limit, cursor), if_none_match)


handler = lambda_handler(app)
