"""Customers of a store, for `make load` (bench/load.py runs Locust on this file): each
has a token of its own, places orders with an Idempotency-Key (some sent twice, as a
client retrying would) and reads each one back, until it has placed its share.

Locust runs this in its own venv (.tools/locust): it imports only Locust and the standard
library. bench/load.py writes the plan it reads (LOAD_PLAN: a JSON file) and reads the
order ids it records (one JSON line per placed order, to LOAD_ORDERS, with the time its
first request was sent); an order refused as sold out (409 SOLD_OUT) is a loser's answer,
recorded as such with the seconds it took. With "page_views_per_order", each order is
preceded by that many product pages viewed (the hot SKU's `hot_share` of them, else one
of "tail_skus"), as a sale day's browsers read.

With "steps" in the plan, the arrival rate is stepped up instead: each customer places
an order every `pace_seconds`, the number of customers follows "steps" (one every
`step_seconds`, after `warmup_seconds` at the first step, unmeasured, while the
functions' environments start), and the run ends after the step whose POST /orders p99
passed `p99_limit_ms` or whose requests failed. Each step is recorded (LOAD_STEPS: JSON lines)."""

import itertools
import json
import os
import random
import time
import uuid
from typing import Any

from locust import HttpUser, LoadTestShape, constant, constant_pacing, events, task
from locust.exception import StopUser
from locust.stats import calculate_response_time_percentile

PLAN = json.loads(open(os.environ["LOAD_PLAN"]).read())  # noqa: PTH123, SIM115
_RECORD = open(os.environ["LOAD_ORDERS"], "a", buffering=1)  # noqa: PTH123, SIM115
_NEXT_CUSTOMER = itertools.count()
_FINISHED: list["Customer"] = []


@events.quitting.add_listener
def _close_record(**_: object) -> None:
    _RECORD.close()


class Customer(HttpUser):
    wait_time = constant_pacing(PLAN["pace_seconds"]) if PLAN.get("steps") else constant(0)

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
        for _ in range(PLAN.get("page_views_per_order", 0)):
            self._view_a_page()
        if PLAN.get("order_customers"):  # each order from a customer drawn at random
            self.token = self.random.choice(PLAN["tokens"])
        skus = self.random.sample(PLAN["skus"], self.random.randint(*PLAN["lines"]))
        body = {
            "items": [
                {"sku": sku, "quantity": self.random.randint(*PLAN["quantity"])} for sku in skus
            ]
        }
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": uuid.uuid4().hex}
        placed = None
        sent_at = time.time()
        for _ in range(2 if self.random.random() < PLAN["retry_share"] else 1):
            with self.client.post(
                "/orders", json=body, headers=headers, name="POST /orders", catch_response=True
            ) as response:
                if response.status_code == 409 and '"SOLD_OUT"' in response.text:
                    response.success()  # a loser's answer, not a failure
                    seconds = time.time() - sent_at
                    _RECORD.write(json.dumps({"sold_out": True, "seconds": seconds}) + "\n")
                    return
                if response.status_code != 202:
                    response.failure(f"{response.status_code}: {response.text[:200]}")
                    return
                order_id = response.json()["order_id"]
                if placed is None:
                    placed = order_id
                    _RECORD.write(json.dumps({"order_id": order_id, "sent_at": sent_at}) + "\n")
                elif order_id != placed:  # a retry with the same key made a second order
                    response.failure(f"doubled: {placed} then {order_id}")
        self.client.get(
            f"/orders/{order_id}",
            headers={"Authorization": headers["Authorization"]},
            name="GET /orders/{order_id}",
        )

    def _view_a_page(self) -> None:
        """A product page's read, as a browser sends it (no token): the hot SKU's mostly,
        else one of the long tail's."""
        if self.random.random() < PLAN["hot_share"]:
            self.client.get(f"/products/{PLAN['skus'][0]}", name="GET /products/{sku} hot")
        else:
            sku = self.random.choice(PLAN["tail_skus"])
            self.client.get(f"/products/{sku}", name="GET /products/{sku} tail")


if PLAN.get("steps"):

    class StepUp(LoadTestShape):
        """The customers of each step in turn, until a step is past the limits."""

        def __init__(self) -> None:
            super().__init__()
            self.step = -1
            self.at_start: tuple[dict[int, int], int, int] = ({}, 0, 0)

        def tick(self) -> tuple[int, float] | None:
            run_time = self.get_run_time() - PLAN["warmup_seconds"]
            if run_time < 0:  # the first step's customers, unmeasured: environments start
                return PLAN["steps"][0], PLAN["steps"][0]
            step = int(run_time // PLAN["step_seconds"])
            if step != self.step:
                if self.step >= 0 and self._close_step():
                    return None  # past the limits: the run ends here
                if step >= len(PLAN["steps"]):
                    return None
                self.step, self.at_start = step, self._counts()
            users = PLAN["steps"][step]
            return users, users

        def _counts(self) -> tuple[dict[int, int], int, int]:
            assert self.runner is not None
            post = self.runner.stats.get("POST /orders", "POST")
            return (
                dict(post.response_times),
                post.num_requests,
                self.runner.stats.total.num_failures,
            )

        def _close_step(self) -> bool:
            """Records the step just ended; True if it passed the limits."""
            times, requests, failures = self._counts()
            before, requests_before, failures_before = self.at_start
            step_times = {ms: n - before.get(ms, 0) for ms, n in times.items()}
            count = requests - requests_before
            p99_ms = calculate_response_time_percentile(step_times, count, 0.99)
            record: dict[str, Any] = {
                "customers": PLAN["steps"][self.step],
                "offered_per_second": PLAN["steps"][self.step] / PLAN["pace_seconds"],
                "posted_per_second": round(count / PLAN["step_seconds"], 1),
                "p50_ms": calculate_response_time_percentile(step_times, count, 0.5),
                "p99_ms": p99_ms,
                "failures": failures - failures_before,
            }
            with open(os.environ["LOAD_STEPS"], "a") as steps:  # noqa: PTH123
                steps.write(json.dumps(record) + "\n")
            return p99_ms > int(PLAN["p99_limit_ms"]) or failures > failures_before
