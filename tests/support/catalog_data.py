"""Products written straight to the products table, for tests that need a catalog."""

from stockroom import aws
from stockroom.dal.items import to_item
from stockroom.models import Product, utc_now
from stockroom.settings import get_settings


def add_product(
    sku: str,
    *,
    price: int = 1299,
    currency: str = "EUR",
    on_hand: int = 10,
    name: str | None = None,
    updated_at: str | None = None,
    max_per_customer: int | None = None,
) -> Product:
    product = Product(
        sku=sku,
        name=name or f"Product {sku}",
        unit_price_cents=price,
        currency=currency,
        on_hand=on_hand,
        reserved=0,
        available=on_hand,
        updated_at=updated_at or utc_now(),
        max_per_customer=max_per_customer,
    )
    table = get_settings().require("products_table_name")
    aws.dynamodb().put_item(TableName=table, Item=to_item(product))
    return product
