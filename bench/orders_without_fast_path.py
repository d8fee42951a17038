"""The orders API without its sold-out fast path, kept as the benchmarks' baseline: every
order is stored and goes to the worker, sold out or not, as before the fast path. `make
load --fast-path on,off` runs it in place of the template's handler through the local
stack (STOCKROOM_HANDLER_OVERRIDES="OrdersFunction=bench.orders_without_fast_path.handler")
to measure what the fast path saves the losers of a sale and the worker.

Imported with the orders function's folder and the layer on the path, as its handler is.
"""

import orders
import orders_api


class _NothingSoldOut:
    def get(self) -> frozenset[str]:
        return frozenset()


def _no_flags() -> _NothingSoldOut:
    return _NothingSoldOut()


# The product reads the set through this function on every placement.
orders.sold_out_flags = _no_flags  # type: ignore[assignment]  # the baseline's one change

handler = orders_api.handler
