"""pydantic models for every request, response, message and stored item.

Money is in integer minor units (cents). Timestamps are UTC ISO 8601 strings of fixed
width (`2026-11-21T16:04:05.123456Z`) so that they sort as text in DynamoDB keys.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
ProductName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Cents = Annotated[int, Field(ge=0)]
Timestamp = str

# An order's transaction holds a counter and, for a SKU with a per-customer limit, an
# allowance a line, and its status: 49 lines fit DynamoDB's 100 items a transaction.
MAX_ORDER_LINES = 49
MAX_LINE_QUANTITY = 1000


def utc_now() -> Timestamp:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_of(moment: datetime) -> Timestamp:
    """`moment` as a Timestamp (in UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Model(BaseModel):
    """Every model here: its validator and serializer are built when it is first used,
    not at import, so a function's init pays only for the models its requests use
    (`build_all` builds them at once, for a SnapStart snapshot)."""

    model_config = ConfigDict(defer_build=True)


def build_all() -> None:
    """Every model's validator and serializer built now, not on first use."""
    pending = list(Model.__subclasses__())
    while pending:
        model = pending.pop()
        model.model_rebuild()
        pending += model.__subclasses__()


# ------------------------------------------------------------------------ products
class CatalogEntry(Model):
    """What a merchant states about a product: catalog data and units on hand. A row of
    an import file is validated by this model; the stored Product extends it."""

    sku: Sku
    name: ProductName
    unit_price_cents: Cents
    currency: Currency
    on_hand: Annotated[int, Field(ge=0)]
    # At most this many units per customer held at once (None: no limit).
    max_per_customer: Annotated[int, Field(ge=1)] | None = None


class Product(CatalogEntry):
    """A product as stored: catalog data plus stock counters."""

    reserved: Annotated[int, Field(ge=0)] = 0
    available: int
    updated_at: Timestamp


class ProductView(Model):
    """A product as the public catalog shows it."""

    sku: Sku
    name: ProductName
    unit_price_cents: Cents
    currency: Currency
    available: int
    updated_at: Timestamp
    max_per_customer: int | None = Field(
        default=None,
        description="At most this many units held by one customer's orders at once; null: no limit",
    )

    @classmethod
    def of(cls, product: Product) -> "ProductView":
        return cls.model_validate(product.model_dump(include=set(cls.model_fields)))


class ProductPage(Model):
    items: list[ProductView]
    next_cursor: str | None


# -------------------------------------------------------------------------- orders
class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    # A CONFIRMED order's payment arrived: its units stay reserved, for good.
    PAID = "PAID"
    # A CONFIRMED order's hold ran out unpaid: its units went back to stock.
    EXPIRED = "EXPIRED"


# The statuses in which an order holds its units, out of `available`: held (CONFIRMED)
# or paid for (PAID). They count against the customer's per-customer limits until the
# order leaves them (cancel or expiry, through stock.release; a PAID order keeps them).
HOLDING_STATUSES = frozenset({OrderStatus.CONFIRMED, OrderStatus.PAID})


class OrderLineRequest(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]


class PlaceOrderRequest(Model):
    """Body of POST /orders."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"items": [{"sku": "MUG-1", "quantity": 1}]}]},
    )

    items: Annotated[list[OrderLineRequest], Field(min_length=1, max_length=MAX_ORDER_LINES)]

    @field_validator("items")
    @classmethod
    def skus_are_distinct(cls, items: list[OrderLineRequest]) -> list[OrderLineRequest]:
        seen: set[str] = set()
        for line in items:
            if line.sku in seen:
                raise ValueError(f"SKU {line.sku!r} appears more than once; use one line per SKU")
            seen.add(line.sku)
        return items


class OrderLine(Model):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]
    unit_price_cents: Cents


class OrderReason(Model):
    """Why an order is not (or no longer) going ahead, e.g. OUT_OF_STOCK with its SKUs."""

    code: str
    skus: list[Sku] | None = None


class RefundReason(StrEnum):
    """Why a payment was kept apart from its order, to be refunded."""

    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # not the order's total_cents
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"  # not the order's currency
    ORDER_EXPIRED = "ORDER_EXPIRED"  # the hold ran out first; the units went back
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_REJECTED = "ORDER_REJECTED"
    ALREADY_PAID = "ALREADY_PAID"  # another payment paid the order first


class RefundDue(Model):
    """A payment the order received but did not take: the store owes it back."""

    payment_id: str = Field(description="The payment event's id")
    amount_cents: Cents
    currency: Currency
    reason: RefundReason
    received_at: Timestamp


class Order(Model):
    order_id: str
    customer_id: str
    status: OrderStatus
    items: list[OrderLine]
    total_cents: Cents
    currency: Currency
    created_at: Timestamp
    updated_at: Timestamp
    # Present only once the order is decided against (REJECTED, CANCELLED, EXPIRED).
    reason: OrderReason | None = Field(default=None, exclude_if=lambda reason: reason is None)
    # Stored from confirmation on, never shown: the SKUs whose units this order counts
    # against its customer's allowances (they had a limit when it was confirmed), so a
    # release returns exactly those.
    limited_skus: list[Sku] | None = Field(default=None, exclude=True)
    # While CONFIRMED under a hold (HoldMinutes above 0): when it EXPIRES unless paid.
    hold_expires_at: Timestamp | None = Field(
        default=None,
        exclude_if=lambda at: at is None,
        description="While CONFIRMED with a hold: when it expires unless paid",
    )
    # Once PAID: when, and by which payment event.
    paid_at: Timestamp | None = Field(default=None, exclude_if=lambda at: at is None)
    payment_id: str | None = Field(default=None, exclude_if=lambda at: at is None)
    refunds_due: list[RefundDue] = Field(
        default_factory=list,
        exclude_if=lambda refunds: not refunds,
        description="Payments received but not taken (wrong amount or currency, or the "
        "order no longer payable): each is owed back to the payer",
    )


class OrderPage(Model):
    items: list[Order]
    next_cursor: str | None


class PaymentEvent(Model):
    """Body of POST /payments/webhook: a payment the provider took for an order. Fields
    the provider adds later are ignored, so they never make it retry."""

    model_config = ConfigDict(
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "evt_1f2e3d",
                    "type": "payment.succeeded",
                    "order_id": "5b0e3c1a-8f7d-4c2b-9a6e-1d2f3a4b5c6d",
                    "amount_cents": 1234,
                    "currency": "EUR",
                }
            ]
        },
    )

    id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    type: Literal["payment.succeeded"]
    order_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    amount_cents: Cents
    currency: Currency


class PaymentOutcome(StrEnum):
    PAID = "PAID"  # this payment paid the order
    REFUND_DUE = "REFUND_DUE"  # recorded on the order as due a refund, the order unchanged
    ALREADY_RECORDED = "ALREADY_RECORDED"  # this event id was handled before: no new effect


class PaymentReceipt(Model):
    """Answer to POST /payments/webhook."""

    event_id: str
    order_id: str
    outcome: PaymentOutcome


class OrderPlacedMessage(Model):
    """Body of a message on the order queue: the worker loads the order by id."""

    order_id: str


# ----------------------------------------------------------------- recommendations
MAX_RECOMMENDATIONS = 50
MAX_VIEWED_SKUS = 50
# SKUs with their scores, best first: a trained row, the best sellers.
type Ranked = list[tuple[str, float]]


class RecommendedProduct(Model):
    """A product suggested to a customer: its public fields and how strongly it is
    suggested (higher first; comparable within one answer only)."""

    sku: Sku
    name: ProductName
    unit_price_cents: Cents
    currency: Currency
    available: int
    score: float
    # The SKU of the caller's history that contributed most; absent for best sellers.
    because: Sku | None = Field(default=None, exclude_if=lambda because: because is None)


class RecommendationPage(Model):
    items: list[RecommendedProduct]


class ViewsRequest(Model):
    """Body of POST /me/views: the products a signed-in customer just viewed."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"skus": ["MUG-1", "LAMP-1"]}]},
    )

    skus: Annotated[list[Sku], Field(min_length=1, max_length=MAX_VIEWED_SKUS)]


class ViewsAccepted(Model):
    """Answer to POST /me/views: how many distinct SKUs the customer's views now hold."""

    kept: int


class Seen(Model):
    """A SKU in a customer's history, with when (epoch seconds) it was last viewed or bought."""

    sku: Sku
    at: int


class ViewHistory(Model):
    """The products a customer viewed, newest first, each once."""

    views: list[Seen] = []
    version: int = 0


class CountedOrder(Model):
    """A confirmed order the recommendations learned from, kept so that a repeated
    stream record counts once and a cancellation can take the order back."""

    order_id: str
    skus: list[Sku]
    prior: list[Sku]


class PurchaseHistory(Model):
    """What a customer bought (newest first, each SKU once) and the orders counted."""

    bought: list[Seen] = []
    orders: list[CountedOrder] = []
    version: int = 0


class BasketKind(StrEnum):
    PURCHASE = "PURCHASE"
    VIEW = "VIEW"
    CANCEL = "CANCEL"  # a purchase taken back: its pairs counted again, negatively


class Basket(Model):
    """One event for the recommendation trainer: SKUs a customer bought (or viewed)
    together, and the SKUs of their history each of them pairs with."""

    key: str
    kind: BasketKind
    skus: list[Sku]
    prior: list[Sku]
    at: Timestamp


# -------------------------------------------------------------------------- errors
class ErrorDetail(Model):
    field: str
    message: str


class ErrorBody(Model):
    code: str
    message: str
    details: list[ErrorDetail] = []


class ErrorEnvelope(Model):
    """The one shape of every error response our functions send."""

    error: ErrorBody


class GatewayMessage(Model):
    """What API Gateway itself answers before any function runs: 401 from the JWT
    authorizer, 404 for no route, 413 over its payload limit."""

    message: str


# ------------------------------------------------------------------------- imports
class ImportStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    PARTIAL = "PARTIAL"  # some rows rejected, every other row imported
    FAILED = "FAILED"  # the file itself could not be read; `reason` says why


class RejectedRow(Model):
    """One line of reports/<key>.errors.jsonl."""

    line: int
    sku: str | None
    errors: list[ErrorDetail]


class ImportReport(Model):
    """reports/<key>.json: the outcome of importing one object."""

    key: str
    status: ImportStatus
    rows: int
    imported: int
    rejected: int
    started_at: Timestamp
    finished_at: Timestamp
    duration_ms: int
    reason: str | None = Field(default=None, exclude_if=lambda reason: reason is None)
    errors_key: str
    # How many rejected rows errors_key lists: the first ones, up to a bound.
    errors_listed: int
    ignored_columns: list[str]
    invocations: int


class ImportCheckpoint(Model):
    """Where an import that ran out of time stands; the next invocation resumes from it.

    `offset` counts bytes of the (decompressed) file consumed by complete lines, and
    every row before it has been written, so resuming there neither skips nor repeats."""

    bucket: str
    key: str
    etag: str
    # The upload's size with its ETag: a checkpoint matching neither is ignored (None, from
    # before sizes were kept, matches nothing).
    size: int | None = None
    offset: int
    line: int
    columns: list[str] | None
    rows: int
    imported: int
    rejected: int
    listed_errors: list[RejectedRow]
    ignored_columns: list[str]
    started_at: Timestamp
    invocations: int
