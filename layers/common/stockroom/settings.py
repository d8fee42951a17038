"""Environment settings, parsed once per container into a typed model."""

import os

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stockroom.once import per_container


class ConfigurationError(RuntimeError):
    """A setting this code path needs is missing from the function's environment."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    products_table_name: str | None = None
    orders_table_name: str | None = None
    # Each customer's units of each SKU with a per-customer limit (dal/allowances.py).
    allowances_table_name: str | None = None
    idempotency_table_name: str | None = None
    order_queue_url: str | None = None
    recommendations_table_name: str | None = None
    # The sold-out SKUs, kept from the products table's stream (dal/stock_flags.py).
    stock_flags_table_name: str | None = None
    # The recommendation trainer's model between runs (a bucket of its own).
    model_bucket_name: str | None = None
    product_cache_ttl_seconds: float = Field(default=5.0, ge=0, le=300)
    # The shared cache tier (stockroom/shared_cache.py): its server (redis:// or rediss://;
    # empty: no shared tier), how long it keeps an entry, how long one call may wait on
    # it, and how long it is passed over after a call failed.
    cache_url: str = Field(default="", pattern=r"^(rediss?://\S+)?$")
    shared_cache_ttl_seconds: int = Field(default=60, ge=1, le=86_400)
    shared_cache_timeout_seconds: float = Field(default=0.05, gt=0, le=5)
    shared_cache_retry_seconds: float = Field(default=5.0, ge=0, le=300)
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    # The reconciler: a PENDING order older than this is sent to the order queue again.
    stuck_order_seconds: int = Field(default=600, ge=1)
    # The worker: a CONFIRMED order holds its units this long unless paid (0: until
    # cancelled, no hold_expires_at).
    hold_minutes: int = Field(default=0, ge=0)
    # The payment webhook's shared secret (Secrets Manager), read once per container.
    payment_webhook_secret_arn: str | None = None
    # The key page cursors are signed with (Secrets Manager), read once per container.
    cursor_secret_arn: str | None = None
    # Catalog import: rows written side by side, rows per checkpointed chunk, and the
    # time left at which an import hands over to a fresh invocation.
    import_write_concurrency: int = Field(default=16, ge=1, le=32)
    import_chunk_rows: int = Field(default=1000, ge=1, le=10_000)
    import_deadline_margin_seconds: float = Field(default=30.0, ge=0)

    def require(self, name: str) -> str:
        """The value of a string setting, or a ConfigurationError naming its variable."""
        value = getattr(self, name)
        if not value:
            raise ConfigurationError(f"environment variable {name.upper()} is not set")
        return str(value)


@per_container
def get_settings() -> Settings:
    """The settings from the environment; ConfigurationError naming each variable whose
    value is out of range or of the wrong type."""
    known = Settings.model_fields
    try:
        return Settings.model_validate(
            {key.lower(): value for key, value in os.environ.items() if key.lower() in known}
        )
    except ValidationError as error:
        problems = "; ".join(
            f"{str(problem['loc'][0]).upper()}: {problem['msg']}" for problem in error.errors()
        )
        raise ConfigurationError(f"invalid environment: {problems}") from error
