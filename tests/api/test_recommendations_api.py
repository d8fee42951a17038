"""GET /products/{sku}/related, GET /recommendations and POST /me/views through the
recommendations handler, learned from orders the worker confirmed (stream, feed and
trainer run in-process)."""

import json
import threading
import time
from typing import Any

import boto3
import pytest

import recommendations_api
from orders import cancel_order
from stockroom import container
from stockroom.identity import Caller
from stockroom.settings import get_settings
from support.catalog_data import add_product
from support.events import HttpResult, http_event, parse_response
from support.recommendations import buy, learn_and_train


def call(event: dict[str, Any], lambda_context: Any) -> HttpResult:
    return parse_response(recommendations_api.handler(event, lambda_context))


def related(
    lambda_context, sku: str, headers: dict[str, str] | None = None, **query: str
) -> HttpResult:
    event = http_event(
        "GET",
        "/products/{sku}/related",
        path_parameters={"sku": sku},
        query=query or None,
        headers=headers,
        sub=None,
    )
    return call(event, lambda_context)


FRESH = {"Cache-Control": "no-cache"}


def recommendations(lambda_context, customer: str, **query: str) -> HttpResult:
    return call(
        http_event("GET", "/recommendations", query=query or None, sub=customer), lambda_context
    )


def view(lambda_context, customer: str, *skus: str) -> HttpResult:
    event = http_event("POST", "/me/views", body={"skus": list(skus)}, sub=customer)
    return call(event, lambda_context)


def skus_of(result: HttpResult) -> list[str]:
    assert result.status == 200, result.body
    return [item["sku"] for item in result.body["items"]]


@pytest.fixture
def planted(stack, lambda_context, monkeypatch):
    """Customers who buy A also buy B; C sells most, on its own."""
    for sku in "ABCDE":
        add_product(f"SKU-{sku}", on_hand=100)
    for n in range(4):
        buy(f"pair-{n}", "SKU-A", "SKU-B", lambda_context=lambda_context)
    for n in range(6):
        buy(f"solo-{n}", "SKU-C", lambda_context=lambda_context)
    buy("d-fan", "SKU-D", lambda_context=lambda_context)
    report = learn_and_train(lambda_context, monkeypatch)
    assert report["baskets"] == 11
    return monkeypatch


def test_related_ranks_what_is_bought_with_the_sku_first(planted, lambda_context):
    result = related(lambda_context, "SKU-A", FRESH)
    assert skus_of(result)[0] == "SKU-B"
    first = result.body["items"][0]
    assert set(first) == {"sku", "name", "unit_price_cents", "currency", "available", "score"}
    assert first["score"] > 0 and first["available"] == 96  # 4 of 100 bought
    # then best sellers, never the SKU itself
    assert skus_of(result)[1:] == ["SKU-C", "SKU-D"]
    assert [item["score"] for item in result.body["items"][1:]] == [0, 0]


def test_a_customer_who_bought_a_is_offered_b_because_of_a_and_never_a(planted, lambda_context):
    buy("newcomer", "SKU-A", lambda_context=lambda_context)
    learn_and_train(lambda_context, planted)
    result = recommendations(lambda_context, "newcomer", limit="2")
    assert skus_of(result) == ["SKU-B", "SKU-C"]
    assert result.body["items"][0]["because"] == "SKU-A"
    assert "because" not in result.body["items"][1]  # a best seller


def test_a_confirmed_order_changes_related_at_the_next_trainer_run(planted, lambda_context):
    assert "SKU-E" not in skus_of(related(lambda_context, "SKU-D"))
    for n in range(3):
        buy(f"de-{n}", "SKU-D", "SKU-E", lambda_context=lambda_context)
    learn_and_train(lambda_context, planted)
    assert skus_of(related(lambda_context, "SKU-D", FRESH))[0] == "SKU-E"


def test_a_customer_without_history_gets_best_sellers(planted, lambda_context):
    assert skus_of(recommendations(lambda_context, "stranger")) == [
        "SKU-C",
        "SKU-A",
        "SKU-B",
        "SKU-D",
    ]


def test_a_cancelled_order_no_longer_counts_as_a_purchase(planted, lambda_context):
    order = buy("regretful", "SKU-D", lambda_context=lambda_context)
    cancel_order(Caller(customer_id="regretful", scopes=frozenset()), order.order_id)
    report = learn_and_train(lambda_context, planted)
    assert report["baskets"] == 2  # the purchase, and the purchase taken back
    # D's one remaining buyer: D stays last among best sellers, and "regretful" may
    # be offered D again (it is not bought any more).
    assert "SKU-D" in skus_of(recommendations(lambda_context, "regretful"))


@pytest.fixture
def long_cache(stack, monkeypatch):
    """Products cached for five minutes: longer than any test takes."""
    monkeypatch.setenv("PRODUCT_CACHE_TTL_SECONDS", "300")
    container.reset()


def test_unavailable_products_are_left_out(long_cache, planted, lambda_context):
    add_product("SKU-B", on_hand=0)
    assert "SKU-B" in skus_of(related(lambda_context, "SKU-A"))  # from the cache
    assert "SKU-B" not in skus_of(related(lambda_context, "SKU-A", FRESH))


def test_related_is_cacheable_and_answers_304_to_its_etag(planted, lambda_context):
    first = related(lambda_context, "SKU-A")
    assert first.headers["cache-control"] == "public, max-age=5, stale-while-revalidate=30"
    again = related(lambda_context, "SKU-A", {"If-None-Match": first.headers["etag"]})
    assert again.status == 304
    assert again.headers["etag"] == first.headers["etag"]


def test_an_unknown_sku_is_404(stack, lambda_context):
    result = related(lambda_context, "NOPE-1")
    assert result.status == 404
    assert result.error["code"] == "PRODUCT_NOT_FOUND"


@pytest.mark.parametrize("limit", ["0", "51", "ten"])
def test_a_limit_out_of_range_is_422_naming_it(stack, lambda_context, limit):
    add_product("SKU-A")
    for result in (
        related(lambda_context, "SKU-A", limit=limit),
        recommendations(lambda_context, "c-1", limit=limit),
    ):
        assert result.status == 422
        assert result.error_fields() == ["limit"]


def test_limit_bounds_the_answer(planted, lambda_context):
    assert len(skus_of(related(lambda_context, "SKU-A", limit="1"))) == 1
    assert len(skus_of(recommendations(lambda_context, "stranger", limit="3"))) == 3


def test_recommendations_need_a_token(stack, lambda_context):
    for event in (
        http_event("GET", "/recommendations", sub=None),
        http_event("POST", "/me/views", body={"skus": ["SKU-A"]}, sub=None),
    ):
        assert call(event, lambda_context).status == 401


# ------------------------------------------------------------------------- views
def views_item(customer: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb").get_item(
        TableName=get_settings().require("recommendations_table_name"),
        Key={"pk": {"S": f"CUSTOMER#{customer}"}, "sk": {"S": "VIEWS"}},
    )["Item"]
    return item


def test_views_are_accepted_and_steer_recommendations(planted, lambda_context):
    result = view(lambda_context, "browser", "SKU-A", "SKU-A")
    assert result.status == 202
    assert result.body == {"kept": 1}
    answer = recommendations(lambda_context, "browser", limit="1")
    assert skus_of(answer) == ["SKU-B"]
    assert answer.body["items"][0]["because"] == "SKU-A"


def test_views_are_kept_for_a_bounded_time_and_number(stack, lambda_context):
    skus = [f"V-{n}" for n in range(60)]
    for sku in skus:
        add_product(sku)
    assert view(lambda_context, "c-1", *skus[:30]).body == {"kept": 30}
    assert view(lambda_context, "c-1", *skus[30:]).body == {"kept": 50}
    item = views_item("c-1")
    kept = [view["M"]["sku"]["S"] for view in item["views"]["L"]]
    assert kept[:30] == skus[30:]  # newest first; the oldest ten are gone
    assert len(kept) == 50
    expires = int(item["expires_at"]["N"])
    assert abs(expires - (time.time() + 30 * 86_400)) < 60


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"skus": []}, "skus"),
        ({"skus": ["SKU-A"] * 51}, "skus"),
        ({"skus": ["bad sku"]}, "skus[0]"),
        ({"skus": "SKU-A"}, "skus"),
        ({}, "skus"),
        ({"skus": ["SKU-A"], "extra": 1}, "extra"),
    ],
)
def test_a_bad_views_body_is_422_naming_the_field(stack, lambda_context, body, field):
    add_product("SKU-A")
    event = http_event("POST", "/me/views", body=body, sub="c-1")
    result = call(event, lambda_context)
    assert result.status == 422
    assert field in result.error_fields()


def test_views_of_unknown_skus_are_422_naming_each_and_store_nothing(stack, lambda_context):
    add_product("SKU-A")
    result = view(lambda_context, "c-1", "SKU-A", "NOPE-1")
    assert result.status == 422
    assert result.error["code"] == "UNKNOWN_SKU"
    assert result.error_fields() == ["skus[1]"]
    with pytest.raises(KeyError):
        views_item("c-1")


def test_concurrent_views_of_one_customer_are_all_kept(stack, lambda_context):
    skus = [f"C-{n}" for n in range(4)]
    for sku in skus:
        add_product(sku)
    barrier = threading.Barrier(len(skus))
    results: list[HttpResult] = []

    def post(sku: str) -> None:
        barrier.wait()
        results.append(view(lambda_context, "busy", sku))

    threads = [threading.Thread(target=post, args=(sku,)) for sku in skus]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status for r in results) == [202] * len(skus)
    kept = {view["M"]["sku"]["S"] for view in views_item("busy")["views"]["L"]}
    assert kept == set(skus)


@pytest.fixture
def seeded(stack, lambda_context):
    """The local stack's seed: its catalog, then its history and its trainer run."""
    import csv

    import devtools.local_stack as local_stack
    import recommendation_trainer_schedule

    for catalog in (local_stack.SEED_DIR / "ImportBucket/imports").rglob("*.csv"):
        for row in csv.DictReader(catalog.read_text().splitlines()):
            add_product(row["sku"], on_hand=int(row["on_hand"]), name=row["name"])
    local_stack.put_table_seed(stack)
    ((function, path),) = local_stack.seed_events()
    assert function == "RecommendationTrainerFunction"
    report = recommendation_trainer_schedule.handler(json.loads(path.read_text()), lambda_context)
    assert report["baskets"] > 250
    return report


def test_the_seeded_history_teaches_the_planted_pairs(seeded, lambda_context):
    """The local stack's tour: related products and recommendations at once."""
    mug = related(lambda_context, "MUG-1", FRESH).body["items"]
    assert [item["sku"] for item in mug[:2]] == ["KETTLE-1", "TRAY-1"]
    assert all(item["score"] > 0 for item in mug[:2])
    assert skus_of(related(lambda_context, "LAMP-1", FRESH))[0] == "VASE-1"
    assert skus_of(related(lambda_context, "TEE-S", FRESH))[0] == "TEE-M"
    suggested = recommendations(lambda_context, "shopper-01").body["items"]
    assert (suggested[0]["sku"], suggested[0]["because"]) == ("KETTLE-1", "MUG-1")
    assert "MUG-1" not in [item["sku"] for item in suggested]
