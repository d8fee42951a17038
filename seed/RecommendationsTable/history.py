"""A small purchase and browsing history for the local stack's recommendations: 281
confirmed orders of 36 customers and the views of eight of them, as the recommendation feed
and `POST /me/views` would have written them over the four hours before the start.

Only the records the trainer and `/recommendations` read are written (each customer's
PURCHASES and VIEWS items, and the baskets), never an order or a stock counter, so the
catalog's stock is untouched. The trainer's first run, at start, learns from them.

Deterministic: the same customers, orders and views every time. Only the stamps move
with the start, each within the four hours before the hour it falls in, so that the
trainer's first run (which looks six hours back) reads them; loading again within that
hour puts the very same items (the same keys), which changes nothing.

Planted: kitchen customers buy the mug with the kettle (and with the tray), home
customers the lamp with the vase, wardrobe customers two sizes of the tee; shopper-01
bought the mug alone, last, so `/products/MUG-1/related` and shopper-01's
`/recommendations` both put the kettle first.
"""

import random
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeSerializer

CATALOG = ["MUG-1", "KETTLE-1", "TRAY-1", "LAMP-1", "VASE-1", "TEE-S", "TEE-M", "TEE-L"]
# Each taste: the pairs its customers buy together, with their weights, and its SKUs.
TASTES: list[tuple[list[tuple[list[str], int]], list[str]]] = [
    ([(["MUG-1", "KETTLE-1"], 3), (["MUG-1", "TRAY-1"], 1)], ["MUG-1", "KETTLE-1", "TRAY-1"]),
    ([(["LAMP-1", "VASE-1"], 3), (["VASE-1", "TRAY-1"], 1)], ["LAMP-1", "VASE-1", "TRAY-1"]),
    ([(["TEE-S", "TEE-M"], 1)], ["TEE-S", "TEE-M"]),
]
CUSTOMERS = [f"shopper-{n:02}" for n in range(1, 37)]
ORDERS_EACH = 8
SPAN_MINUTES = 240
# As the layer's stockroom/dal/recommendations.py and stockroom/recommendations.py keep
# them (a test holds these items to the layer's models and to what the trainer learns).
BASKET_SHARDS = 4
BASKET_DAYS = 7
VIEW_DAYS = 30
PRIOR_SKUS = 20
ORDERS_KEPT = 5
STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def orders() -> list[tuple[str, list[str]]]:
    """Every order, oldest first: (customer, SKUs). shopper-01's one order, the mug
    alone, is the newest."""
    chance = random.Random("stockroom seed history")
    placed = []
    for index, customer in enumerate(CUSTOMERS[1:]):
        pairs, own = TASTES[index % len(TASTES)]
        for _ in range(ORDERS_EACH):
            roll = chance.random()
            if roll < 0.7:
                (skus,) = chance.choices([p for p, _ in pairs], [w for _, w in pairs])
            else:  # one SKU: mostly of the customer's taste, now and then any
                skus = [chance.choice(own if roll < 0.9 else CATALOG)]
            placed.append((customer, list(skus)))
    chance.shuffle(placed)
    return [*placed, (CUSTOMERS[0], ["MUG-1"])]


def views() -> dict[str, list[str]]:
    """The SKUs some customers viewed (newest first), in one visit near the end."""
    return {
        customer: list(TASTES[index % len(TASTES)][1][::-1])
        for index, customer in enumerate(CUSTOMERS[1:])
        if index % 4 == 3
    }


def items(now: float) -> list[dict[str, Any]]:
    """The history's items in DynamoDB JSON, stamped for a start at `now` (epoch s)."""
    hour = datetime.fromtimestamp(now, UTC).replace(minute=0, second=0, microsecond=0)
    start = hour - timedelta(minutes=SPAN_MINUTES + 1)
    placed = orders()
    step = timedelta(minutes=SPAN_MINUTES) / len(placed)
    expires = int(hour.timestamp()) + BASKET_DAYS * 86_400
    histories: dict[str, dict[str, Any]] = {}
    written: list[dict[str, Any]] = []
    for number, (customer, skus) in enumerate(placed):
        at = start + number * step
        history = histories.setdefault(customer, {"bought": [], "orders": [], "version": 0})
        prior = [seen["sku"] for seen in history["bought"] if seen["sku"] not in skus]
        order_id = f"seed-order-{number:03}"
        history["bought"] = [{"sku": sku, "at": int(at.timestamp())} for sku in skus] + [
            seen for seen in history["bought"] if seen["sku"] not in skus
        ]
        counted = {"order_id": order_id, "skus": skus, "prior": prior[:PRIOR_SKUS]}
        history["orders"] = [counted, *history["orders"][: ORDERS_KEPT - 1]]
        history["version"] += 1
        written.append(_basket(f"{order_id}-purchase", "PURCHASE", skus, prior, at, expires))
    visit = start + timedelta(minutes=SPAN_MINUTES - 5)
    for customer, seen in views().items():
        written.append(_basket(f"views-{customer}", "VIEW", seen, [], visit, expires))
        viewed = int(visit.timestamp())
        view_history = {"views": [{"sku": sku, "at": viewed} for sku in seen], "version": 1}
        written.append(_history(customer, "VIEWS", view_history, viewed + VIEW_DAYS * 86_400))
    written += [_history(c, "PURCHASES", h, None) for c, h in histories.items()]
    return written


def _basket(
    key: str, kind: str, skus: list[str], prior: list[str], at: datetime, expires: int
) -> dict[str, Any]:
    stamp = at.strftime(STAMP)
    shard = zlib.crc32(key.encode()) % BASKET_SHARDS
    return _item(
        {
            "pk": f"BASKETS#{stamp[:16]}#{shard}",
            "sk": f"{stamp}#{key}",
            "key": key,
            "kind": kind,
            "skus": skus,
            "prior": prior[:PRIOR_SKUS],
            "at": stamp,
            "expires_at": expires,
        }
    )


def _history(
    customer: str, sk: str, history: dict[str, Any], expires: int | None
) -> dict[str, Any]:
    ttl = {} if expires is None else {"expires_at": expires}
    return _item({"pk": f"CUSTOMER#{customer}", "sk": sk, **history, **ttl})


def _item(plain: dict[str, Any]) -> dict[str, Any]:
    serialize = TypeSerializer().serialize
    return {name: serialize(value) for name, value in plain.items()}
