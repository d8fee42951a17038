"""Catalog logic: product reads through the container's cache, then the shared one."""

from stockroom import shared_cache
from stockroom.cache import ReadThroughCache, TtlCache
from stockroom.dal import products as products_table
from stockroom.errors import FieldProblem, InvalidRequestError, NotFoundError
from stockroom.models import Product, ProductPage, ProductView
from stockroom.observability import count
from stockroom.once import per_container
from stockroom.pagination import decode_cursor, encode_cursor
from stockroom.settings import get_settings


def _count_cache_results(hits: int, misses: int) -> None:
    count("ProductCacheHits", hits)
    count("ProductCacheMisses", misses)


@per_container
def product_cache() -> ReadThroughCache[Product]:
    """Products by SKU: this container's for PRODUCT_CACHE_TTL_SECONDS, then the shared
    tier's, which the products table's stream keeps fresh (functions/stock_flags)."""
    return ReadThroughCache(
        [
            TtlCache[Product](get_settings().product_cache_ttl_seconds),
            *shared_cache.tiers(shared_cache.PRODUCTS),
        ],
        on_result=_count_cache_results,
    )


def product_cache_ttl_seconds() -> int:
    return int(get_settings().product_cache_ttl_seconds)


def get_product(sku: str, *, fresh: bool = False) -> Product:
    product = product_cache().get(sku, products_table.get_products, bypass=fresh)
    if product is None:
        raise NotFoundError(f"no product with SKU {sku!r}", code="PRODUCT_NOT_FOUND")
    return product


def find_products(skus: list[str], *, fresh: bool = False) -> dict[str, Product]:
    """The products among `skus` that exist, by SKU."""
    return product_cache().get_many(skus, products_table.get_products, bypass=fresh)


def require_products(skus: list[str], field: str, what: str) -> dict[str, Product]:
    """The products of `skus`, by SKU; InvalidRequestError (UNKNOWN_SKU) naming each SKU no
    product has by its field (`field` with the SKU's index, e.g. "items[{}].sku")."""
    products = find_products(skus)
    unknown = [
        FieldProblem(field.format(index), f"no product with SKU {sku!r}")
        for index, sku in enumerate(skus)
        if sku not in products
    ]
    if unknown:
        raise InvalidRequestError(f"{what} unknown SKUs", code="UNKNOWN_SKU", details=unknown)
    return products


def list_products(limit: int, cursor: str | None) -> ProductPage:
    after = decode_cursor(cursor, ("sku",))["sku"] if cursor else None
    products, last_sku = products_table.list_products(limit, after)
    return ProductPage(
        items=[ProductView.of(product) for product in products],
        next_cursor=encode_cursor({"sku": last_sku}) if last_sku else None,
    )
