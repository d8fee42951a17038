"""What a fresh Lambda container would not have, undone between tests."""

from stockroom import aws as stockroom_aws
from stockroom import catalog, catalog_import, ordering, recommending
from stockroom.dal import idempotency
from stockroom.settings import get_settings


def reset_container_state() -> None:
    """Settings, clients and caches, as a new container starts without them."""
    get_settings.cache_clear()
    stockroom_aws.reset_clients()
    catalog.product_cache.cache_clear()
    recommending.reset_caches()
    ordering.idempotency_config.cache_clear()
    ordering._idempotent_placement.cache_clear()
    idempotency.persistence_layer.cache_clear()
    catalog_import.idempotency_config.cache_clear()
    catalog_import._idempotent_handling.cache_clear()
