"""Customers of a store, for `make load` (bench/load.py runs Locust on this file): each
has a token of its own, places orders with an Idempotency-Key (some sent twice, as a
client retrying would) and reads each one back, until it has placed its share.

Locust runs this in its own venv (.tools/locust): it imports only Locust and the standard
library. bench/load.py writes the plan it reads (LOAD_PLAN: a JSON file) and reads the
order ids it records (one JSON line per placed order, to LOAD_ORDERS)."""

import itertools
import json
import os
import random
import uuid

from locust import HttpUser, constant, events, task
from locust.exception import StopUser

PLAN = json.loads(open(os.environ["LOAD_PLAN"]).read())  # noqa: PTH123, SIM115
_RECORD = open(os.environ["LOAD_ORDERS"], "a", buffering=1)  # noqa: PTH123, SIM115
_NEXT_CUSTOMER = itertools.count()
_FINISHED: list["Customer"] = []


@events.quitting.add_listener
def _close_record(**_: object) -> None:
    _RECORD.close()


class Customer(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        index = next(_NEXT_CUSTOMER)
        self.token = PLAN["tokens"][index % len(PLAN["tokens"])]
        self.left = PLAN["orders_per_user"]
        self.random = random.Random(index)

    @task
    def place_and_read(self) -> None:
        if self.left <= 0:
            _FINISHED.append(self)
            if len(_FINISHED) >= PLAN["users"] and self.environment.runner is not None:
                self.environment.runner.quit()  # every customer placed its share: done
            raise StopUser()
        self.left -= 1
        skus = self.random.sample(PLAN["skus"], self.random.randint(*PLAN["lines"]))
        body = {
            "items": [
                {"sku": sku, "quantity": self.random.randint(*PLAN["quantity"])} for sku in skus
            ]
        }
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex}
        placed = None
        for _ in range(2 if self.random.random() < PLAN["retry_share"] else 1):
            with self.client.post(
                "/orders", json=body, headers=headers, name="POST /orders", catch_response=True
            ) as response:
                if response.status_code != 202:
                    response.failure(f"{response.status_code}: {response.text[:200]}")
                    return
                order_id = response.json()["order_id"]
                if placed is None:
                    placed = order_id
                    _RECORD.write(json.dumps({"order_id": order_id}) + "\n")
                elif order_id != placed:  # a retry with the same key made a second order
                    response.failure(f"doubled: {placed} then {order_id}")
        self.client.get(
            f"/orders/{order_id}",
            headers={"Authorization": headers["Authorization"]},
            name="GET /orders/{order_id}",
        )
