"""Products written straight to the products table, for tests that need a catalog."""

from stockroom.dal import products as products_table
from stockroom.models import Product, utc_now


def add_product(
    sku: str,
    *,
    price: int = 1299,
    currency: str = "EUR",
    on_hand: int = 10,
    name: str | None = None,
) -> Product:
    product = Product(
        sku=sku,
        name=name or f"Product {sku}",
        unit_price_cents=price,
        currency=currency,
        on_hand=on_hand,
        reserved=0,
        available=on_hand,
        updated_at=utc_now(),
    )
    products_table.put_product(product)
    return product
