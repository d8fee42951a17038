"""The sale rules under load, for `make load`'s `sale-rules` scenario: a per-customer
limit, holds that expire unless paid, and buyers who pay.

`Payer` pays a share of the winners as their buyers would: it follows the orders Locust
records, reads each until it is decided, and sends a signed payment.succeeded event to
POST /payments/webhook for the chosen CONFIRMED ones at once. It notes every winner's
`hold_expires_at` on the way (an order leaves the Holds index, and that attribute, when
it is settled), so the report can say how late each unpaid hold was released.

`figures` checks the rules on the orders as they ended: no unit oversold, no customer
above the limit, the allowances equal to the units customers hold, no hold left
CONFIRMED, every order a payment paid ended PAID."""

import hashlib
import json
import math
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from devtools.pay import payment_for, send_payment

HELD = ("CONFIRMED", "PAID")  # the statuses whose units are reserved (HOLDING_STATUSES)
PAYERS = 8  # payments in flight at once


def chosen(order_id: str, share: float) -> bool:
    """Whether the buyer of `order_id` pays: a stable `share` of all orders, by hash."""
    digest = int.from_bytes(hashlib.sha256(order_id.encode()).digest()[:4], "big")
    return digest < share * 2**32


def epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class Payer:
    """A thread that pays the chosen winners of a running scenario (see the module)."""

    def __init__(self, api: str, secret: str, reader: Any, orders_file: Path, share: float) -> None:
        self._api, self._secret, self._share = api, secret, share
        self._read = reader  # order ids -> their items, strongly consistent
        self._orders_file = orders_file
        self._undecided: set[str] = set()
        self._offset = 0
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(PAYERS)
        self._lock = threading.Lock()
        self.hold_expires_at: dict[str, str] = {}  # order id -> when its hold runs out
        self.receipts: dict[str, dict[str, Any]] = {}  # order id -> the webhook's answer
        self._thread = threading.Thread(target=self._run, name="payer", daemon=True)

    def start(self) -> "Payer":
        self._thread.start()
        return self

    def finish(self) -> None:
        """Stops once every order recorded so far is decided (and paid if chosen)."""
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()  # read first: a last pass follows the stop
            self._follow()
            if stopping and not self._undecided:
                return
            time.sleep(0.5)

    def _follow(self) -> None:
        """New orders from the file; the undecided read again, the decided acted on."""
        with self._orders_file.open() as records:
            records.seek(self._offset)
            lines = records.read()
        complete = lines[: lines.rfind("\n") + 1]  # a line still being written waits
        self._offset += len(complete.encode())
        for line in complete.splitlines():
            record = json.loads(line)
            if "order_id" in record:
                self._undecided.add(record["order_id"])
        for order_id, item in self._read(sorted(self._undecided)).items():
            status = item["status"]["S"]
            if status == "PENDING":
                continue
            self._undecided.discard(order_id)
            if status == "CONFIRMED" and "hold_expires_at" in item:
                self.hold_expires_at[order_id] = item["hold_expires_at"]["S"]
            if status == "CONFIRMED" and chosen(order_id, self._share):
                self._pool.submit(self._pay, item)

    def _pay(self, item: dict[str, Any]) -> None:
        order = {
            "order_id": item["order_id"]["S"],
            "total_cents": int(item["total_cents"]["N"]),
            "currency": item["currency"]["S"],
        }
        try:
            status, text = send_payment(self._api, self._secret, payment_for(order))
        except OSError as error:  # no HTTP answer at all
            status, text = 0, str(error)
        answer = {"status": status, **(json.loads(text) if status == 200 else {"body": text[:200]})}
        with self._lock:
            self.receipts[order["order_id"]] = answer


def figures(
    items: dict[str, dict[str, Any]],
    allowances: dict[tuple[str, str], int],
    limit: int,
    payer: Payer,
) -> dict[str, Any]:
    """The sale rules checked on the orders as they ended (see the module)."""
    held: Counter[tuple[str, str]] = Counter()
    for item in items.values():
        if item["status"]["S"] in HELD:
            for line in item["items"]["L"]:
                key = (item["customer_id"]["S"], line["M"]["sku"]["S"])
                held[key] += int(line["M"]["quantity"]["N"])
    outcomes = Counter(a.get("outcome", a["status"]) for a in payer.receipts.values())
    paid = [order_id for order_id, a in payer.receipts.items() if a.get("outcome") == "PAID"]
    lags = sorted(
        epoch(item["updated_at"]["S"]) - epoch(payer.hold_expires_at[order_id])
        for order_id, item in items.items()
        if item["status"]["S"] == "EXPIRED" and order_id in payer.hold_expires_at
    )
    return {
        "customers_ordering": len({item["customer_id"]["S"] for item in items.values()}),
        "customers_over_limit": sum(1 for units in held.values() if units > limit),
        "allowances_not_matching": sum(
            1 for key in held.keys() | allowances.keys() if held[key] != allowances.get(key, 0)
        ),
        "holds_left_confirmed": sum(1 for i in items.values() if i["status"]["S"] == "CONFIRMED"),
        "payments_sent": len(payer.receipts),
        "payments_by_outcome": dict(outcomes),
        "paid_orders_not_paid": sum(1 for i in paid if items[i]["status"]["S"] != "PAID"),
        "holds_expired": len(lags),
        "expiry_lag_p99_s": round(lags[max(0, math.ceil(0.99 * len(lags)) - 1)], 1) if lags else 0,
        "expiry_lag_max_s": round(lags[-1], 1) if lags else 0,
    }
