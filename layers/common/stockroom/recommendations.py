"""Recommendations: the products to suggest, and the customer history they come from.

Item to item, as Amazon's (Linden, Smith and York, 2003): the trainer
(functions/recommendation_trainer/training.py) stores, for each SKU, the SKUs its buyers
go on to buy with their weights; an answer adds up the rows of the few SKUs it starts
from. So `/related` reads one row and `/recommendations` one query and at most
HISTORY_SKUS rows, whatever the number of customers or products. Unavailable products are
left out (the next ones take their place), and best sellers fill an answer the model
cannot.

The catalog and the shared cache tier are imported where an answer is served: the feed,
which only learns from orders, loads neither at init.
"""

import time
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from stockroom.cache import ReadThroughCache, TtlCache
from stockroom.dal import recommendations as recommendations_table
from stockroom.models import (
    Basket,
    BasketKind,
    CountedOrder,
    Order,
    OrderStatus,
    PurchaseHistory,
    Ranked,
    RecommendationPage,
    RecommendedProduct,
    Seen,
    ViewHistory,
    utc_now,
)
from stockroom.observability import count
from stockroom.once import per_container
from stockroom.retry import with_retries
from stockroom.settings import get_settings

# A customer's recommendations start from their newest SKUs, bought or viewed, each
# weighted RECENCY_DECAY times the one after it: what someone bought last says most
# about what they buy next (measured: bench/recommendations.py).
HISTORY_SKUS = 20
RECENCY_DECAY = 0.8
# What one order (or one POST /me/views) teaches: its first ORDER_SKUS SKUs, each paired
# with the others and with the customer's PRIOR_SKUS newest earlier ones.
ORDER_SKUS = 20
PRIOR_SKUS = 20
# What a customer's history keeps.
BOUGHT_KEPT = 100
VIEWS_KEPT = 50
ORDERS_KEPT = 5
VIEW_DAYS = 30
# Products read for one answer at most: twice what was asked, so that unavailable
# products can be left out, and never more than one BatchGetItem.
_MAX_CANDIDATES = 100


@per_container
def _popular_cache() -> ReadThroughCache[Ranked]:
    # Best sellers change slowly: each container reads them at most once a minute, and
    # from the shared tier where there is one.
    from stockroom import shared_cache

    return ReadThroughCache([TtlCache[Ranked](60), *shared_cache.tiers(shared_cache.POPULAR)])


@dataclass(frozen=True)
class Suggestion:
    sku: str
    score: float
    because: str | None


def suggest(
    history: list[str],
    rows: Mapping[str, Ranked],
    exclude: Collection[str],
    popular: Ranked,
    limit: int,
) -> list[Suggestion]:
    """Up to `limit` SKUs for someone whose history is `history` (newest first), best
    first: the model's suggestions, then best sellers (score 0). Never a SKU of `exclude`
    or of the history itself."""
    left_out = {*exclude, *history}
    scores: dict[str, float] = {}
    strongest: dict[str, tuple[float, str]] = {}
    for position, source in enumerate(history[:HISTORY_SKUS]):
        weight = RECENCY_DECAY**position
        for sku, score in rows.get(source, []):
            if sku in left_out:
                continue
            share = weight * score
            scores[sku] = scores.get(sku, 0.0) + share
            if share > strongest.get(sku, (0.0, ""))[0]:
                strongest[sku] = (share, source)
    ranked = sorted((item for item in scores.items() if item[1] > 0), key=lambda i: (-i[1], i[0]))
    suggestions = [Suggestion(sku, score, strongest[sku][1]) for sku, score in ranked[:limit]]
    chosen = {suggestion.sku for suggestion in suggestions}
    for sku, _ in popular:
        if len(suggestions) >= limit:
            break
        if sku not in left_out and sku not in chosen:
            suggestions.append(Suggestion(sku, 0.0, None))
            chosen.add(sku)
    return suggestions


@per_container
def _rows_cache() -> ReadThroughCache[Ranked]:
    # The trainer rewrites rows every few minutes at most: a row is kept as long as a
    # product by each container, and for SHARED_CACHE_TTL_SECONDS by the shared tier.
    # Rows are public (one per SKU); what a customer's history makes of them is not cached.
    from stockroom import shared_cache

    return ReadThroughCache(
        [
            TtlCache[Ranked](get_settings().product_cache_ttl_seconds),
            *shared_cache.tiers(shared_cache.RELATED),
        ]
    )


def _rows(skus: list[str], fresh: bool = False) -> dict[str, Ranked]:
    return _rows_cache().get_many(skus, recommendations_table.get_related, bypass=fresh)


def related(sku: str, limit: int, fresh: bool = False) -> RecommendationPage:
    """Products bought (and viewed) together with `sku`; NotFoundError for an unknown SKU."""
    from stockroom import catalog

    catalog.get_product(sku, fresh=fresh)
    rows = _rows([sku], fresh)
    suggestions = suggest([sku], rows, (), _popular(), _candidates(limit))
    return _page(suggestions, limit, because=False, fresh=fresh)


def for_customer(customer_id: str, limit: int) -> RecommendationPage:
    """What to suggest to a customer, from their newest purchases and views, never what
    they bought; best sellers for a customer without history."""
    views, purchases = recommendations_table.get_history(customer_id)
    history = recent_skus(views, purchases)
    rows = _rows(history[:HISTORY_SKUS])
    bought = [seen.sku for seen in purchases.bought]
    suggestions = suggest(history, rows, bought, _popular(), _candidates(limit))
    return _page(suggestions, limit, because=True, fresh=False)


def recent_skus(views: ViewHistory, purchases: PurchaseHistory) -> list[str]:
    """A customer's SKUs, bought or viewed, newest first, each once."""
    seen = sorted([*purchases.bought, *views.views], key=lambda s: -s.at)
    return list(dict.fromkeys(s.sku for s in seen))


def _candidates(limit: int) -> int:
    return min(2 * limit, _MAX_CANDIDATES)


def _popular() -> Ranked:
    popular = _popular_cache().get("top", lambda _: {"top": recommendations_table.get_popular()})
    return popular or []


def _page(
    suggestions: list[Suggestion], limit: int, *, because: bool, fresh: bool
) -> RecommendationPage:
    from stockroom import catalog

    products = catalog.find_products([s.sku for s in suggestions], fresh=fresh)
    items = []
    for suggestion in suggestions:
        product = products.get(suggestion.sku)
        if product is None or product.available <= 0:
            continue  # unavailable or gone: the next suggestion takes its place
        items.append(
            RecommendedProduct(
                sku=product.sku,
                name=product.name,
                unit_price_cents=product.unit_price_cents,
                currency=product.currency,
                available=product.available,
                score=round(suggestion.score, 6),
                because=suggestion.because if because else None,
            )
        )
        if len(items) == limit:
            break
    return RecommendationPage(items=items)


# ----------------------------------------------------------------------- history
def record_views(customer_id: str, skus: list[str]) -> int:
    """`skus` (just viewed) added to the customer's views; how many SKUs they now hold.
    Views older than VIEW_DAYS are dropped, and the item expires VIEW_DAYS after the last
    view (TTL). SKUs new to the views teach the trainer (a VIEW basket). A SKU no product
    has is refused (UNKNOWN_SKU), as in an order."""
    from stockroom import catalog

    catalog.require_products(skus, "skus[{}]", "views name")

    def attempt() -> int:
        views, _ = recommendations_table.get_history(customer_id, consistent=True)
        now = int(time.time())
        fresh = list(dict.fromkeys(skus))
        earlier = [
            seen
            for seen in views.views
            if seen.sku not in fresh and seen.at > now - VIEW_DAYS * 86_400
        ]
        known = {seen.sku for seen in views.views}
        new = [sku for sku in fresh if sku not in known][:ORDER_SKUS]
        kept = ([Seen(sku=sku, at=now) for sku in fresh] + earlier)[:VIEWS_KEPT]
        basket = None
        if new:
            prior = [seen.sku for seen in earlier[:PRIOR_SKUS]]
            basket = Basket(
                key=f"views-{uuid.uuid4()}",
                kind=BasketKind.VIEW,
                skus=new,
                prior=prior,
                at=utc_now(),
            )
        recommendations_table.save_views(
            customer_id,
            ViewHistory(views=kept, version=views.version),
            expires_at=now + VIEW_DAYS * 86_400,
            basket=basket,
        )
        return len(kept)

    return with_retries(attempt, "recording views")


def learn_from_order(order: Order) -> bool:
    """A confirmed order added to its customer's purchases (and a PURCHASE basket for the
    trainer); a cancelled one that was counted taken back (a CANCEL basket). False when
    there was nothing to change: a repeated record, or an order never counted."""

    def attempt() -> bool:
        _, purchases = recommendations_table.get_history(order.customer_id, consistent=True)
        change = purchase_change(order, purchases, int(time.time()))
        if change is None:
            return False
        updated, basket = change
        recommendations_table.save_purchases(order.customer_id, updated, basket)
        return True

    changed = with_retries(attempt, f"learning from order {order.order_id}")
    if changed:
        count("RecommendationEventsRecorded")
    return changed


# Statuses that take a counted purchase back: cancelled, or a hold that ran out unpaid.
_TAKEN_BACK = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED})


def purchase_change(
    order: Order, purchases: PurchaseHistory, now: int
) -> tuple[PurchaseHistory, Basket] | None:
    counted = next((o for o in purchases.orders if o.order_id == order.order_id), None)
    skus = [line.sku for line in order.items]
    if order.status is OrderStatus.CONFIRMED and counted is None:
        prior = [seen.sku for seen in purchases.bought if seen.sku not in skus][:PRIOR_SKUS]
        bought = [Seen(sku=sku, at=now) for sku in skus]
        bought += [seen for seen in purchases.bought if seen.sku not in skus]
        orders = [CountedOrder(order_id=order.order_id, skus=skus, prior=prior)]
        orders += purchases.orders[: ORDERS_KEPT - 1]
        kind, basket_skus = BasketKind.PURCHASE, skus[:ORDER_SKUS]
    elif order.status in _TAKEN_BACK and counted is not None:
        orders = [o for o in purchases.orders if o.order_id != order.order_id]
        # A SKU also in another counted order stays bought.
        still = {sku for o in orders for sku in o.skus}
        bought = [s for s in purchases.bought if s.sku not in counted.skus or s.sku in still]
        kind, basket_skus, prior = BasketKind.CANCEL, counted.skus[:ORDER_SKUS], counted.prior
    else:
        return None
    basket = Basket(
        key=f"{order.order_id}-{kind.lower()}",
        kind=kind,
        skus=basket_skus,
        prior=prior,
        at=utc_now(),
    )
    updated = PurchaseHistory(bought=bought[:BOUGHT_KEPT], orders=orders, version=purchases.version)
    return updated, basket
