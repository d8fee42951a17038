"""The catalog importer: good rows imported, bad rows reported with their line numbers,
bad files reported as such, reservations kept, duplicates harmless, long files continued."""

import gzip
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from aws_lambda_powertools.utilities.jmespath_utils import query

import catalog_import
import import_files
import order_worker
from catalog_import_s3 import S3_REQUEST_ID
from import_bucket import SourceMissingError
from order_worker import Decision
from stockroom import aws as stockroom_aws
from stockroom import container, retry
from stockroom.dal import products as products_table
from stockroom.errors import RetryLaterError
from stockroom.models import ImportCheckpoint, OrderStatus
from stockroom.observability import metrics
from stockroom.settings import get_settings
from support.catalog_data import add_product
from support.context import FakeLambdaContext
from support.events import load_event
from support.imports import (
    HEADER,
    bucket,
    checkpoint_event,
    csv_bytes,
    import_to_the_end,
    invoke,
    jsonl_bytes,
    product_writes,
    report,
    row,
    s3_put_event,
    stock,
    upload,
)
from support.orders import assert_stock_adds_up, dynamodb_refusals, place, status_of
from support.worker import metric_totals


def test_good_rows_are_imported_and_every_bad_row_is_reported_with_its_line(stack):
    body = csv_bytes(
        [
            row("SKU-1", on_hand=7, price=250),  # line 2
            ["SKU-2", "", 100, "EUR", 1],  # line 3: empty name
            ["bad sku!", "Widget", 100, "EUR", 1],  # line 4
            ["SKU-4", "Widget", "12.5", "eur", -1],  # line 5: three problems
            row("SKU-5", on_hand=0),  # line 6
            ["SKU-6", "Widget", 100],  # line 7: too few values
        ]
    )
    outcome = invoke(upload("imports/acme/mixed.csv", body))

    assert outcome == [{"key": "imports/acme/mixed.csv", "outcome": "PARTIAL"}]
    summary, errors = report("imports/acme/mixed.csv")
    assert {k: summary[k] for k in ("key", "status", "rows", "imported", "rejected")} == {
        "key": "imports/acme/mixed.csv",
        "status": "PARTIAL",
        "rows": 6,
        "imported": 2,
        "rejected": 4,
    }
    # Beside the report, under the upload's own key (docs/catalog-import.md).
    assert summary["errors_key"] == "reports/imports/acme/mixed.csv.errors.jsonl"
    assert [(e["line"], e["sku"], sorted(p["field"] for p in e["errors"])) for e in errors] == [
        (3, "SKU-2", ["name"]),
        (4, "bad sku!", ["sku"]),
        (5, "SKU-4", ["currency", "on_hand", "unit_price_cents"]),
        (7, None, ["line"]),
    ]
    assert "header names 5 columns" in errors[3]["errors"][0]["message"]
    assert stock("SKU-1") == (7, 0, 7)
    assert products_table.get_product("SKU-1").unit_price_cents == 250  # type: ignore[union-attr]
    assert stock("SKU-5") == (0, 0, 0)
    assert products_table.get_product("SKU-2") is None
    assert summary["started_at"] <= summary["finished_at"]
    assert summary["duration_ms"] == catalog_import._milliseconds_between(
        summary["started_at"], summary["finished_at"]
    )


def test_a_reports_duration_is_the_milliseconds_from_start_to_finish():
    start, finish = "2026-12-05T23:59:59.250000Z", "2026-12-06T00:00:01.500999Z"
    assert catalog_import._milliseconds_between(start, finish) == 2250
    assert catalog_import._milliseconds_between(start, start) == 0


def test_unknown_columns_are_ignored_and_listed_and_column_order_is_free(stack):
    body = csv_bytes(
        [["blue", 5, "EUR", "SKU-1", "Blue mug", 450]],
        header=["colour", "on_hand", "currency", "sku", "name", "unit_price_cents"],
    )
    assert invoke(upload("imports/acme/extra.csv", body))[0]["outcome"] == "SUCCEEDED"

    summary, errors = report("imports/acme/extra.csv")
    assert summary["ignored_columns"] == ["colour"]
    assert errors == []
    product = products_table.get_product("SKU-1")
    assert product is not None
    assert (product.name, product.unit_price_cents, product.on_hand) == ("Blue mug", 450, 5)


def test_json_lines_are_typed_strictly_and_extra_keys_ignored(stack):
    body = (
        jsonl_bytes(
            [
                {
                    "sku": "SKU-1",
                    "name": "Mug",
                    "unit_price_cents": 450,
                    "currency": "EUR",
                    "on_hand": 3,
                    "colour": "blue",
                },
                {
                    "sku": "SKU-2",
                    "name": "Mug",
                    "unit_price_cents": 450,
                    "currency": "EUR",
                    "on_hand": "3",
                },
            ]
        )
        + b'\n{"sku": "SKU-3",\n["not", "an", "object"]\n'
    )
    assert invoke(upload("imports/acme/lines.jsonl", body))[0]["outcome"] == "PARTIAL"

    summary, errors = report("imports/acme/lines.jsonl")
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (4, 1, 3)
    assert summary["ignored_columns"] == ["colour"]
    assert [(e["line"], e["errors"][0]["field"]) for e in errors] == [
        (2, "on_hand"),
        (4, "line"),
        (5, "line"),
    ]
    assert "not valid JSON" in errors[1]["errors"][0]["message"]
    assert "JSON object" in errors[2]["errors"][0]["message"]
    assert stock("SKU-1") == (3, 0, 3)


def limit_of(sku: str) -> int | None:
    product = products_table.get_product(sku)
    assert product is not None, sku
    return product.max_per_customer


def test_a_csv_max_per_customer_column_sets_limits_and_bad_values_reject_their_row(stack):
    body = csv_bytes(
        [
            [*row("SKU-1"), "3"],  # line 2
            [*row("SKU-2"), ""],  # line 3: empty, no limit
            [*row("SKU-3"), "0"],  # line 4
            [*row("SKU-4"), "two"],  # line 5
            [*row("SKU-5"), "1.5"],  # line 6
            [*row("SKU-6"), " 1 "],  # line 7
        ],
        header=[*HEADER, "max_per_customer"],
    )
    assert invoke(upload("imports/acme/limits.csv", body))[0]["outcome"] == "PARTIAL"

    summary, errors = report("imports/acme/limits.csv")
    assert (summary["imported"], summary["rejected"], summary["ignored_columns"]) == (3, 3, [])
    assert [(e["line"], e["sku"], [p["field"] for p in e["errors"]]) for e in errors] == [
        (4, "SKU-3", ["max_per_customer"]),
        (5, "SKU-4", ["max_per_customer"]),
        (6, "SKU-5", ["max_per_customer"]),
    ]
    assert [limit_of(sku) for sku in ("SKU-1", "SKU-2", "SKU-6")] == [3, None, 1]
    assert products_table.get_product("SKU-3") is None


def test_a_json_lines_max_per_customer_key_is_typed_strictly(stack):
    def entry(sku: str, **limit: Any) -> dict[str, Any]:
        return dict(zip(HEADER, row(sku), strict=True)) | limit

    body = jsonl_bytes(
        [
            entry("SKU-1", max_per_customer=2),
            entry("SKU-2", max_per_customer=None),
            entry("SKU-3"),
            entry("SKU-4", max_per_customer="2"),
            entry("SKU-5", max_per_customer=-1),
        ]
    )
    assert invoke(upload("imports/acme/limits.jsonl", body))[0]["outcome"] == "PARTIAL"

    _, errors = report("imports/acme/limits.jsonl")
    assert [(e["line"], e["errors"][0]["field"]) for e in errors] == [
        (4, "max_per_customer"),
        (5, "max_per_customer"),
    ]
    assert [limit_of(sku) for sku in ("SKU-1", "SKU-2", "SKU-3")] == [2, None, None]


def test_an_import_without_a_limit_lifts_the_products_limit(stack):
    header = [*HEADER, "max_per_customer"]
    invoke(
        upload("imports/acme/a.csv", csv_bytes([[*row("SKU-1"), 2], [*row("SKU-2"), 2]], header))
    )
    assert (limit_of("SKU-1"), limit_of("SKU-2")) == (2, 2)

    invoke(upload("imports/acme/b.csv", csv_bytes([[*row("SKU-1"), 5]], header)))
    invoke(upload("imports/acme/c.csv", csv_bytes([row("SKU-2")])))  # no such column

    assert (limit_of("SKU-1"), limit_of("SKU-2")) == (5, None)


@pytest.mark.parametrize(
    ("key", "body"),
    [
        (
            "imports/acme/catalog.csv.gz",
            gzip.compress(csv_bytes([row("SKU-1", 4), row("SKU-2", 5)]), mtime=0),
        ),
        (
            "imports/acme/catalog.jsonl.gz",
            gzip.compress(
                jsonl_bytes(
                    dict(zip(HEADER, r, strict=True)) for r in (row("SKU-1", 4), row("SKU-2", 5))
                ),
                mtime=0,  # the same bytes, so the same test id, wherever it is collected
            ),
        ),
    ],
)
def test_gzipped_files_are_read_as_their_format(stack, key, body):
    assert invoke(upload(key, body))[0]["outcome"] == "SUCCEEDED"

    summary, _ = report(key)
    assert (summary["rows"], summary["imported"]) == (2, 2)
    assert (stock("SKU-1"), stock("SKU-2")) == ((4, 0, 4), (5, 0, 5))


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("imports/acme/empty.csv", b"", "the file is empty"),
        ("imports/acme/empty.jsonl", b"", "the file is empty"),
        ("imports/acme/blank.jsonl", b"\n  \n", "the file has no rows"),
        ("imports/acme/header-only.csv", csv_bytes([]), "the file has no rows"),
        (
            "imports/acme/latin1.csv",
            "sku,name,unit_price_cents,currency,on_hand,d\u00e9tail\n".encode("latin-1"),
            "not UTF-8",
        ),
        (
            "imports/acme/no-header.csv",
            b"SKU-1,Mug,450,EUR,3\n",
            "missing: sku, name, unit_price_cents, currency, on_hand",
        ),
        (
            "imports/acme/partial-header.csv",
            b"sku,name,price,currency,on_hand\nSKU-1,Mug,450,EUR,3\n",
            "missing: unit_price_cents",
        ),
        (
            "imports/acme/twice.csv",
            b"sku,sku,name,unit_price_cents,currency,on_hand\n",
            "names a column twice: sku",
        ),
        ("imports/acme/not-gzip.csv.gz", csv_bytes([row("SKU-1")]), "gzip"),
        (
            "imports/acme/long-header.csv",
            b"sku," + b"x" * (1024 * 1024 + 5) + b"\n",
            "longer than 1 MiB",
        ),
    ],
)
def test_an_unreadable_file_gets_a_failed_report_with_its_reason(stack, key, body, reason):
    assert invoke(upload(key, body))[0]["outcome"] == "FAILED"

    summary, errors = report(key)
    assert summary["status"] == "FAILED"
    assert re.search(rf"\b{re.escape(reason)}\b", summary["reason"]), summary["reason"]
    assert (summary["imported"], errors) == (0, [])


def test_a_truncated_gzip_file_fails_after_importing_the_rows_before_the_break(stack):
    whole = gzip.compress(csv_bytes([row(f"SKU-{n}", n) for n in range(300)]))
    assert (
        invoke(upload("imports/acme/cut.csv.gz", whole[: len(whole) // 2]))[0]["outcome"]
        == "FAILED"
    )

    summary, _ = report("imports/acme/cut.csv.gz")
    assert "corrupt or truncated" in summary["reason"]
    assert 0 < summary["imported"] == summary["rows"] < 300
    assert stock("SKU-1") == (1, 0, 1)
    last = summary["rows"] - 1
    assert stock(f"SKU-{last}") == (last, 0, last)
    assert products_table.get_product(f"SKU-{last + 1}") is None


def test_a_line_that_is_not_utf8_or_over_1_mib_is_rejected_and_the_rest_imported(stack):
    body = (
        csv_bytes([row("SKU-1", 1)])
        + "SKU-2,Caf\u00e9,100,EUR,1\n".encode("latin-1")
        + b"SKU-3,"
        + b"n" * (1024 * 1024 + 1)
        + b",100,EUR,1\n"
        + csv_bytes([row("SKU-4", 4)], header=[])
    )
    assert invoke(upload("imports/acme/odd-lines.csv", body))[0]["outcome"] == "PARTIAL"

    summary, errors = report("imports/acme/odd-lines.csv")
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (4, 2, 2)
    assert [(e["line"], e["errors"][0]["field"]) for e in errors] == [(3, "line"), (4, "line")]
    assert "not UTF-8" in errors[0]["errors"][0]["message"]
    assert "longer than 1 MiB" in errors[1]["errors"][0]["message"]
    assert stock("SKU-4") == (4, 0, 4)


def test_the_error_list_is_bounded_but_every_rejected_row_is_counted(stack):
    bad = [["", "Mug", 100, "EUR", 1]] * 1003
    assert invoke(upload("imports/acme/many-bad.csv", csv_bytes([*bad, row("SKU-1")])))

    summary, errors = report("imports/acme/many-bad.csv")
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (1004, 1, 1003)
    assert summary["errors_listed"] == len(errors) == 1000
    assert errors[-1]["line"] == 1001


def test_crlf_line_ends_and_a_byte_order_mark_are_accepted(stack):
    body = b"\xef\xbb\xbf" + csv_bytes([row("SKU-1", 2)]).replace(b"\n", b"\r\n")
    assert invoke(upload("imports/acme/excel.csv", body))[0]["outcome"] == "SUCCEEDED"
    assert stock("SKU-1") == (2, 0, 2)


def test_the_last_row_for_a_sku_wins_in_one_write(stack):
    body = csv_bytes([row("SKU-1", 1), row("SKU-2", 2), row("SKU-1", 9)] + [row("SKU-3", 4)] * 50)
    with product_writes() as written:
        invoke(upload("imports/acme/repeat.csv", body))
    assert stock("SKU-1") == (9, 0, 9)
    assert written == {"SKU-1": 1, "SKU-2": 1, "SKU-3": 1}  # superseded rows need no write
    assert report("imports/acme/repeat.csv")[0]["imported"] == 53


def test_a_row_superseded_by_a_refused_row_still_takes_effect_and_is_counted(stack, capsys):
    add_product("SKU-1", on_hand=10)
    confirm("alice", {"SKU-1": 3})
    body = csv_bytes(
        [row("SKU-1", on_hand=5), row("SKU-1", on_hand=1), row("SKU-2", 2), row("SKU-3", -1)]
    )
    metrics.clear_metrics()  # what earlier steps counted outside a handler
    capsys.readouterr()

    invoke(upload("imports/acme/restated.csv", body))

    # The refused row counted once, as rejected, as the invalid one is.
    counted = metric_totals(capsys.readouterr().out, "RowsImported", "RowsRejected")
    assert counted == {"RowsImported": 2, "RowsRejected": 2}

    summary, errors = report("imports/acme/restated.csv")
    assert (summary["imported"], summary["rejected"]) == (2, 2)
    assert [error["line"] for error in errors] == [3, 5]
    assert stock("SKU-1") == (5, 3, 2)  # line 2 applied, line 3 refused, as line by line
    assert_stock_adds_up("SKU-1")


@pytest.mark.parametrize(
    ("on_hands", "reserved", "refused_lines", "kept", "writes"),
    [
        # Line by line: 2 refused (below 3 reserved), 7 applied, 1 refused, 6 applied;
        # the last row takes effect, so it is the only write.
        ((2, 7, 1, 6), 3, [2, 4], 6, 1),
        # 8 and 9 applied, 2 and 3 refused: the last row is written and refused, then
        # the last row that covers the reserved units (9).
        ((8, 9, 2, 3), 4, [4, 5], 9, 2),
    ],
)
def test_a_skus_rows_fare_as_line_by_line_with_the_fewest_writes(
    stack, on_hands, reserved, refused_lines, kept, writes
):
    add_product("SKU-1", on_hand=10)
    confirm("alice", {"SKU-1": reserved})
    body = csv_bytes([row("SKU-1", on_hand=n) for n in on_hands])

    with product_writes() as written:
        invoke(upload("imports/acme/restated-again.csv", body))

    summary, errors = report("imports/acme/restated-again.csv")
    assert (summary["imported"], summary["rejected"]) == (2, 2)
    assert [error["line"] for error in errors] == refused_lines
    assert f"below the {reserved} units reserved" in errors[0]["errors"][0]["message"]
    assert stock("SKU-1") == (kept, reserved, kept - reserved)
    assert written["SKU-1"] == writes


# ------------------------------------------------------------------ reservations
def confirm(customer: str, quantities: dict[str, int]) -> None:
    order = place(customer, quantities)
    assert order_worker.decide_order(order.order_id) is Decision.CONFIRMED


def test_a_restock_keeps_the_units_confirmed_orders_reserve(stack):
    add_product("SKU-1", on_hand=10)
    confirm("alice", {"SKU-1": 3})
    assert stock("SKU-1") == (10, 3, 7)

    invoke(upload("imports/acme/restock.csv", csv_bytes([row("SKU-1", on_hand=25, price=999)])))

    assert stock("SKU-1") == (25, 3, 22)
    assert products_table.get_product("SKU-1").unit_price_cents == 999  # type: ignore[union-attr]
    assert_stock_adds_up("SKU-1")


def test_on_hand_below_the_reserved_units_rejects_the_row_and_leaves_the_product(stack):
    add_product("SKU-1", on_hand=10)
    add_product("SKU-2", on_hand=10)
    confirm("alice", {"SKU-1": 6})

    invoke(upload("imports/acme/short.csv", csv_bytes([row("SKU-1", on_hand=4), row("SKU-2", 1)])))

    summary, errors = report("imports/acme/short.csv")
    assert (summary["status"], summary["imported"], summary["rejected"]) == ("PARTIAL", 1, 1)
    assert errors == [
        {
            "line": 2,
            "sku": "SKU-1",
            "errors": [
                {
                    "field": "on_hand",
                    "message": "4 is below the 6 units reserved by confirmed orders; "
                    "the product was left unchanged",
                }
            ],
        }
    ]
    assert stock("SKU-1") == (10, 6, 4)
    assert stock("SKU-2") == (1, 0, 1)


def test_an_import_racing_the_order_worker_neither_loses_nor_double_counts_units(stack):
    skus = [f"SKU-{n}" for n in range(4)]
    for sku in skus:
        add_product(sku, on_hand=40)
    orders = [place(f"customer-{n}", {skus[n % 4]: 1, skus[(n + 1) % 4]: 2}) for n in range(24)]
    restocks = [
        upload(
            f"imports/acme/restock-{n}.csv", csv_bytes([row(sku, on_hand=30 + n) for sku in skus])
        )
        for n in range(6)
    ]
    start = threading.Barrier(2)

    def decide_all() -> None:
        start.wait()
        for order in orders:
            order_worker.decide_order(order.order_id)

    def import_all() -> None:
        start.wait()
        for event in restocks:
            assert invoke(event)[0]["outcome"] == "SUCCEEDED"

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(decide_all), pool.submit(import_all)]:
            future.result()

    assert_stock_adds_up(*skus)
    assert {stock(sku)[0] for sku in skus} == {35}
    assert all(status_of(order) is OrderStatus.CONFIRMED for order in orders)


# -------------------------------------------------------------- deliveries, events
def test_a_duplicate_delivery_is_not_imported_again(stack):
    event = upload("imports/acme/once.csv", csv_bytes([row("SKU-1", on_hand=5)]))
    first = invoke(event)
    before = products_table.get_product("SKU-1")
    confirm("alice", {"SKU-1": 2})

    with product_writes() as written:
        assert invoke(event) == first

    assert written == {}
    assert stock("SKU-1") == (5, 2, 3)
    assert products_table.get_product("SKU-1").updated_at > before.updated_at  # type: ignore[union-attr]


def test_the_sam_generated_put_event_with_an_encoded_key_is_imported(stack):
    event = load_event("s3_put_import_generated")
    key = "imports/demo-merchant/spring catalog (2026).csv"
    assert event["Records"][0]["s3"]["object"]["key"] != key  # URL-encoded by SAM
    boto3.client("s3").put_object(
        Bucket=event["Records"][0]["s3"]["bucket"]["name"], Key=key, Body=csv_bytes([row("SKU-1")])
    )

    assert invoke(event) == [{"key": key, "outcome": "SUCCEEDED"}]
    assert report(key)[0]["rows"] == 1


def test_a_missing_object_gets_a_failed_report_naming_its_key(stack):
    key = "imports/demo-merchant/spring catalog (2026).csv"

    outcome = invoke(load_event("s3_put_import_generated"))

    assert outcome[0]["outcome"] == "FAILED"
    assert f"s3://{bucket()}/{key} does not exist" in outcome[0]["detail"]
    summary = report(key)[0]
    assert f"{key} does not exist" in summary["reason"]
    assert (summary["status"], summary["rows"], summary["invocations"]) == ("FAILED", 0, 1)


def test_a_missing_bucket_fails_the_invocation_with_an_error_naming_the_key(stack):
    event = load_event("s3_put_import_generated")
    event["Records"][0]["s3"]["bucket"]["name"] = "example-bucket"

    with pytest.raises(
        SourceMissingError, match=r"s3://example-bucket/imports/demo-merchant/spring catalog"
    ):
        invoke(event)


def test_a_key_outside_imports_or_of_another_type_is_skipped(stack):
    assert invoke(upload("imports/acme/catalog.xlsx", b"PK")) == [
        {
            "key": "imports/acme/catalog.xlsx",
            "outcome": "SKIPPED",
            "detail": "imports are read from imports/<merchant>/ with names ending in "
            ".csv, .csv.gz, .jsonl, .jsonl.gz",
        }
    ]
    assert invoke(upload("elsewhere/catalog.csv", csv_bytes([row("SKU-1")])))[0]["outcome"] == (
        "SKIPPED"
    )
    assert products_table.get_product("SKU-1") is None


def test_persistent_throttling_fails_the_invocation_for_lambda_to_retry_and_reports_it(
    stack, capsys
):
    event = upload("imports/acme/throttled.csv", csv_bytes([row("SKU-1"), row("SKU-2")]))

    def throttle(body):
        return THROTTLED if sku_written(body) == "SKU-2" else None

    with dynamodb_refusals(throttle, "UpdateItem") as answered, pytest.raises(RetryLaterError):
        invoke(event)

    # botocore's attempts and no more: one retry layer for throttling, not one per layer.
    assert len(answered) == stockroom_aws.BOTOCORE_ATTEMPTS
    # Counted as deferred, which the alarm that rolls deployments back leaves out.
    assert '"ImportsDeferred":[1.0]' in capsys.readouterr().out
    reason = report("imports/acme/throttled.csv")[0]["reason"]
    assert reason.startswith("interrupted after line 0 (RetryLaterError: ")
    assert reason.endswith(
        "; the import is retried, and its event goes to the import DLQ if retries fail"
    )
    # Lambda's retry of the same event imports the file.
    assert invoke(event)[0]["outcome"] == "SUCCEEDED"
    assert stock("SKU-2") == (10, 0, 10)


def test_a_sku_contended_past_the_retries_is_named_in_the_interruption(stack):
    event = upload("imports/acme/contended.csv", csv_bytes([row("SKU-1"), row("SKU-2")]))

    def conflict(body):
        return "TransactionConflictException" if sku_written(body) == "SKU-2" else None

    with dynamodb_refusals(conflict, "UpdateItem") as answered, pytest.raises(RetryLaterError):
        invoke(event)

    assert len(answered) == retry.ATTEMPTS  # botocore does not retry a conflict; we do
    reason = report("imports/acme/contended.csv")[0]["reason"]
    assert "import of SKU SKU-2: still contended after 5 attempts" in reason


def test_throttled_writes_are_retried_within_the_invocation(stack):
    event = upload("imports/acme/bumpy.csv", csv_bytes([row(f"SKU-{n}") for n in range(8)]))
    refused: set[str] = set()

    def throttle_a_few(body):
        """Each of SKU-0..SKU-5 is refused once, the first time it is written."""
        sku = sku_written(body)
        if sku is None or sku in refused or int(sku.removeprefix("SKU-")) >= 6:
            return None
        refused.add(sku)
        return THROTTLED

    with dynamodb_refusals(throttle_a_few, "UpdateItem") as answered:
        assert invoke(event)[0]["outcome"] == "SUCCEEDED"

    assert len(answered) == 6
    assert all(stock(f"SKU-{n}") == (10, 0, 10) for n in range(8))


def sku_written(update_item: dict[str, Any]) -> str | None:
    """The SKU an UpdateItem request writes; None for the idempotency table's updates."""
    sku: str | None = update_item["Key"].get("sku", {}).get("S")
    return sku


THROTTLED = "ProvisionedThroughputExceededException"


def test_the_next_chunk_is_parsed_while_a_chunk_is_written(stack, monkeypatch):
    """Parsing overlaps writing: every write of the first chunk waits until the reader
    has parsed a row of the second, which only a reader not waiting on them can do."""
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "10")
    container.reset()
    second_chunk_parsed = threading.Event()
    parse = import_files.RowReader._parse

    def parse_and_tell(reader: Any, raw: bytes) -> Any:
        parsed = parse(reader, raw)
        if parsed.line > 11:  # the header, then the first chunk's ten rows
            second_chunk_parsed.set()
        return parsed

    monkeypatch.setattr(import_files.RowReader, "_parse", parse_and_tell)
    waited: list[bool] = []
    table = get_settings().require("products_table_name")

    def hold_first_chunk(params: dict[str, Any], **_: Any) -> None:
        if params["TableName"] == table and int(params["Key"]["sku"]["S"].split("-")[1]) < 10:
            waited.append(second_chunk_parsed.wait(timeout=5))

    events = stockroom_aws.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", hold_first_chunk)
    try:
        rows = [row(f"SKU-{n}", on_hand=n) for n in range(25)]
        outcome = invoke(upload("imports/acme/overlap.csv", csv_bytes(rows)))
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", hold_first_chunk)

    assert outcome == [{"key": "imports/acme/overlap.csv", "outcome": "SUCCEEDED"}]
    assert waited == [True] * 10
    assert report("imports/acme/overlap.csv")[0]["imported"] == 25
    assert all(stock(f"SKU-{n}")[0] == n for n in range(25))


def test_a_chunks_writes_go_side_by_side_up_to_the_configured_concurrency(stack, monkeypatch):
    monkeypatch.setenv("IMPORT_WRITE_CONCURRENCY", "3")
    container.reset()
    table = get_settings().require("products_table_name")
    lock = threading.Lock()
    in_flight = [0]
    most: list[int] = []
    writing = threading.local()  # a product write on this thread (not the idempotency's)

    def enter(params: dict[str, Any], **_: Any) -> None:
        writing.product = params["TableName"] == table
        if writing.product:
            with lock:
                in_flight[0] += 1
                most.append(in_flight[0])
            time.sleep(0.05)  # long enough for the pool's other threads to arrive

    def leave(**_: Any) -> None:
        if writing.product:
            with lock:
                in_flight[0] -= 1

    events = stockroom_aws.dynamodb().meta.events
    events.register("provide-client-params.dynamodb.UpdateItem", enter)
    events.register("after-call.dynamodb.UpdateItem", leave)
    try:
        rows = [row(f"SKU-{n}", on_hand=n) for n in range(12)]
        outcome = invoke(upload("imports/acme/wide.csv", csv_bytes(rows)))
    finally:
        events.unregister("provide-client-params.dynamodb.UpdateItem", enter)
        events.unregister("after-call.dynamodb.UpdateItem", leave)

    assert outcome == [{"key": "imports/acme/wide.csv", "outcome": "SUCCEEDED"}]
    assert max(most) == 3  # side by side, and never more than configured


# ------------------------------------------------------------------ continuation
@pytest.fixture
def short_deadline(monkeypatch):
    """Chunks of 10 rows, and a deadline always within the hand-over margin: every
    invocation imports one chunk, checkpoints and hands over."""
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "10")
    monkeypatch.setenv("IMPORT_DEADLINE_MARGIN_SECONDS", "60")
    container.reset()
    return lambda: FakeLambdaContext(timeout_seconds=5)


def test_a_file_continues_from_its_checkpoint_without_skipping_or_repeating_rows(
    stack, short_deadline, capsys
):
    rows = [row(f"SKU-{n}", on_hand=n) for n in range(95)]
    for bad in (14, 15, 61):
        rows[bad] = [f"SKU-{bad}", "Widget", "lots", "EUR", 1]

    with product_writes() as written:
        outcomes = import_to_the_end(
            upload("imports/acme/long.csv", csv_bytes(rows)), short_deadline
        )

    assert [o["outcome"] for o in outcomes] == ["CONTINUED"] * 9 + ["PARTIAL"]
    assert outcomes[0]["detail"] == "after line 11"  # header and ten rows
    counted = metric_totals(capsys.readouterr().out, "ImportsContinued")
    assert counted == {"ImportsContinued": 9}
    summary, errors = report("imports/acme/long.csv")
    assert (summary["rows"], summary["imported"], summary["rejected"]) == (95, 92, 3)
    assert summary["invocations"] == 10
    assert [error["line"] for error in errors] == [16, 17, 63]
    assert set(written.values()) == {1} and len(written) == 92
    assert all(stock(f"SKU-{n}")[0] == n for n in range(95) if n not in (14, 15, 61))


def test_a_gzipped_file_continues_from_its_checkpoint(stack, short_deadline):
    records = [
        {"sku": f"SKU-{n}", "name": "Mug", "unit_price_cents": 100, "currency": "EUR", "on_hand": n}
        for n in range(35)
    ]

    with product_writes() as written:
        outcomes = import_to_the_end(
            upload("imports/acme/long.jsonl.gz", gzip.compress(jsonl_bytes(records))),
            short_deadline,
        )

    assert [o["outcome"] for o in outcomes] == ["CONTINUED"] * 3 + ["SUCCEEDED"]
    assert report("imports/acme/long.jsonl.gz")[0]["imported"] == 35
    assert set(written.values()) == {1} and len(written) == 35


def test_a_stale_checkpoint_notification_is_skipped(stack, short_deadline):
    invoke(
        upload("imports/acme/stale.csv", csv_bytes([row(f"SKU-{n}") for n in range(25)])),
        short_deadline(),
    )
    first = checkpoint_event("imports/acme/stale.csv")
    invoke(first, short_deadline())  # the second chunk; its checkpoint replaces the first
    first_object = first["Records"][0]["s3"]["object"]
    # The first checkpoint announced again by a notification of its own (not a duplicate).
    stale = s3_put_event(unquote_plus(first_object["key"]), first_object["eTag"])

    with product_writes() as written:
        outcome = invoke(stale, short_deadline())

    assert written == {}
    assert outcome == [
        {
            "key": "checkpoints/imports/acme/stale.csv.json",
            "outcome": "SKIPPED",
            "detail": "a later checkpoint replaced this one",
        }
    ]


def test_an_import_whose_file_is_overwritten_stops_and_the_new_upload_is_imported(
    stack, short_deadline
):
    invoke(
        upload("imports/acme/swap.csv", csv_bytes([row(f"SKU-{n}", 1) for n in range(25)])),
        short_deadline(),
    )
    pending = checkpoint_event("imports/acme/swap.csv")
    newer = upload("imports/acme/swap.csv", csv_bytes([row("SKU-X", 7)]))

    assert invoke(pending, short_deadline())[0]["outcome"] == "SKIPPED"
    assert import_to_the_end(newer, short_deadline)[-1]["outcome"] == "SUCCEEDED"

    summary, _ = report("imports/acme/swap.csv")
    assert (summary["rows"], summary["imported"]) == (1, 1)
    assert stock("SKU-X") == (7, 0, 7)
    assert products_table.get_product("SKU-10") is None


@pytest.mark.parametrize(
    ("change", "outcome", "detail"),
    [
        (
            lambda s3, key: s3.put_object(Bucket=bucket(), Key=key, Body=b"sku\n"),
            "SKIPPED",
            "s3://{bucket}/{key} was overwritten during its import",
        ),
        (
            lambda s3, key: s3.delete_object(Bucket=bucket(), Key=key),
            "FAILED",
            "s3://{bucket}/{key} was deleted during its import; rows before line 1 were imported",
        ),
    ],
    ids=["overwritten", "deleted"],
)
def test_an_upload_changed_before_its_first_read_is_not_imported(stack, change, outcome, detail):
    key = "imports/acme/changing.csv"
    event = upload(key, csv_bytes([row("SKU-1")]))
    s3 = boto3.client("s3")
    changed: list[str] = []

    def change_first(params: dict[str, Any], **_: Any) -> None:
        if params["Key"] == key and not changed:  # after the importer noted its version
            changed.append(key)
            change(s3, key)

    events = stockroom_aws.s3().meta.events
    events.register("provide-client-params.s3.GetObject", change_first)
    try:
        (result,) = invoke(event)
    finally:
        events.unregister("provide-client-params.s3.GetObject", change_first)

    assert changed == [key]
    assert result == {
        "key": key,
        "outcome": outcome,
        "detail": detail.format(bucket=bucket(), key=key),
    }
    assert products_table.get_product("SKU-1") is None


def test_the_importer_correlates_its_logs_by_the_uploads_s3_request_id():
    event = load_event("s3_put_import_generated")  # `sam local generate-event s3 put`
    assert query(event, S3_REQUEST_ID) == "EXAMPLE123456789"


# ------------------------------------------------------------- merchants kept apart
def test_a_file_under_no_merchants_prefix_is_skipped(stack):
    outcome = invoke(upload("imports/catalog.csv", csv_bytes([row("SKU-1")])))
    assert outcome[0]["outcome"] == "SKIPPED"
    assert "imports/<merchant>/" in outcome[0]["detail"]
    assert products_table.get_product("SKU-1") is None


def _plant_checkpoint(object_key: str, **fields: Any) -> dict[str, Any]:
    """A checkpoint written by someone other than the importer, and its notification."""
    checkpoint = {
        "bucket": bucket(),
        "offset": 0,
        "line": 0,
        "columns": None,
        "rows": 0,
        "imported": 0,
        "rejected": 0,
        "listed_errors": [],
        "ignored_columns": [],
        "started_at": "2026-01-01T00:00:00Z",
        "invocations": 0,
        **fields,
    }
    put = boto3.client("s3").put_object(
        Bucket=bucket(), Key=object_key, Body=ImportCheckpoint(**checkpoint).model_dump_json()
    )
    return s3_put_event(object_key, put["ETag"])


REAL = "imports/acme/real.csv"


@pytest.mark.parametrize(
    ("at", "names", "change", "reason"),
    [
        (REAL, REAL, {"size": 1}, "ETag or size differs"),
        (REAL, REAL, {"etag": '"0123456789abcdef"'}, "ETag or size differs"),
        (REAL, REAL, {"size": None}, "ETag or size differs"),  # kept no size
        (REAL, "imports/rival/real.csv", {}, "another object"),  # not its own key's upload
        ("imports/acme/gone.csv", "imports/acme/gone.csv", {}, "gone"),
    ],
)
def test_a_checkpoint_that_does_not_match_its_upload_is_ignored(stack, at, names, change, reason):
    body = csv_bytes([row("SKU-1", on_hand=5)])
    put = boto3.client("s3").put_object(Bucket=bucket(), Key=REAL, Body=body)
    invoke(s3_put_event(REAL, put["ETag"]))
    summary = report(REAL)
    fields = {"key": names, "etag": put["ETag"], "size": len(body), **change}
    planted = _plant_checkpoint(f"checkpoints/{at}.json", **fields)

    with product_writes() as written:
        (outcome,) = invoke(planted)

    assert outcome["outcome"] == "SKIPPED"
    assert outcome["detail"].startswith("checkpoint ignored") and reason in outcome["detail"]
    assert written == {}
    assert report(REAL) == summary  # the real import's report stands


# ------------------------------------------------------------------- boundaries
@pytest.mark.parametrize(
    ("on_hand", "taken"),
    [(3, False), (4, True), (5, True)],  # one below, equal to, one above the 4 reserved
)
def test_a_row_takes_effect_exactly_when_its_on_hand_covers_the_reserved_units(
    stack, on_hand, taken
):
    add_product("SKU-1", on_hand=10)
    confirm("alice", {"SKU-1": 4})

    invoke(upload("imports/acme/edge.csv", csv_bytes([row("SKU-1", on_hand=on_hand)])))

    summary, _ = report("imports/acme/edge.csv")
    assert (summary["imported"], summary["rejected"]) == ((1, 0) if taken else (0, 1))
    assert stock("SKU-1") == ((on_hand, 4, on_hand - 4) if taken else (10, 4, 6))
    assert_stock_adds_up("SKU-1")


@pytest.mark.parametrize(
    ("on_hands", "refused_lines", "kept"),
    [
        # The last row refused (3 < 4): the earlier row equal to the reserved units is
        # the one that takes effect, not refused with it.
        ((4, 3), [3], 4),
        # The last row takes effect: an earlier row equal to the reserved units is
        # superseded, not refused; one below them is refused.
        ((4, 3, 9), [3], 9),
        ((3, 4), [2], 4),
    ],
)
def test_repeated_rows_at_the_reserved_units_fare_as_line_by_line(
    stack, on_hands, refused_lines, kept
):
    add_product("SKU-1", on_hand=10)
    confirm("alice", {"SKU-1": 4})

    invoke(upload("imports/acme/edge-repeated.csv", csv_bytes([row("SKU-1", n) for n in on_hands])))

    summary, errors = report("imports/acme/edge-repeated.csv")
    assert [error["line"] for error in errors] == refused_lines
    assert summary["imported"] == len(on_hands) - len(refused_lines)
    assert stock("SKU-1") == (kept, 4, kept - 4)
    assert_stock_adds_up("SKU-1")


def test_refused_writes_among_a_chunks_fail_only_their_own_rows(stack, monkeypatch):
    # Chunks of four rows, each SKU's rows written side by side: refusals first, in the
    # middle and last of later chunks, with a malformed row shifting the lines.
    monkeypatch.setenv("IMPORT_CHUNK_ROWS", "4")
    container.reset()
    for n in range(12):
        add_product(f"SKU-{n:02}", on_hand=10)
    refused = (3, 6, 8, 11)  # first and last of the second chunk, in the third, the last
    confirm("alice", {f"SKU-{n:02}": 5 for n in refused})
    rows = [row(f"SKU-{n:02}", on_hand=4 if n in refused else 20) for n in range(12)]
    rows.insert(2, ["SKU-BAD", "Broken", "not a price", "EUR", 1])

    invoke(upload("imports/acme/refusals.csv", csv_bytes(rows)))

    summary, errors = report("imports/acme/refusals.csv")
    assert (summary["imported"], summary["rejected"]) == (8, 5)
    assert [(error["line"], error["sku"]) for error in errors] == [
        (4, "SKU-BAD"),
        (6, "SKU-03"),
        (9, "SKU-06"),
        (11, "SKU-08"),
        (14, "SKU-11"),
    ]
    for n in range(12):
        assert stock(f"SKU-{n:02}") == ((10, 5, 5) if n in refused else (20, 0, 20))
