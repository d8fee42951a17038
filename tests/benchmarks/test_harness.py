"""`make bench` runs end to end on a tiny input (`--quick`): every part, the targets,
the results file and docs/performance.md. Its figures are not asserted: benchmarks are
not tests."""

import json
import subprocess
import sys
from typing import Any

import pytest

from bench import cold_start
from devtools.template import ROOT


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    folder = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--results-dir",
            str(folder),
            "--docs",
            str(folder / "performance.md"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    (results,) = folder.glob("*.json")
    return (
        json.loads(results.read_text()),
        (folder / "performance.md").read_text(),
        completed.stdout,
    )


def test_every_part_ran_and_served_what_it_measures(quick_run):
    report, _, _ = quick_run
    results = report["results"]
    cold = results["cold_start"]["variants"]
    assert set(cold) == {variant.name for variant in cold_start.variants()}
    assert {"boto3 floor", "framework floor", "catalog + X-Ray Tracer", "FastAPI catalog"} <= set(
        cold
    )
    assert all(figures["total_ms"]["median_ms"] > 0 for figures in cold.values())
    assert all(figures["ready_ms"]["median_ms"] > 0 for figures in cold.values())
    assert all(figures["heaviest_imports"] for figures in cold.values())
    for figures in results["warm_api"]["routes"].values():
        assert set(figures) == {"logic", "powertools", "fastapi"}
    worker = results["worker_batch"]
    # Alone: the order read, its products' limits read, one transaction.
    assert worker["concurrent"]["per_order"]["calls"] == {
        "GetItem": 1,
        "BatchGetItem": 1,
        "TransactWriteItems": 1,
    }
    # Together: the batch's orders and counters read once each, one transaction for all.
    assert worker["group"]["per_order"]["calls"] == {"BatchGetItem": 0.2, "TransactWriteItems": 0.1}
    assert worker["relay"]["per_order"]["calls"] == {"SendMessageBatch": 0.1}
    # A sale's full batch: 25 of 100 fit, confirmed in one transaction; 75 rejected, in
    # another (or, as before, a request each).
    sale = worker["full_batches"]["flash"]
    assert sale["group"]["per_order"]["calls"] == {"BatchGetItem": 0.02, "TransactWriteItems": 0.02}
    assert sale["group_rejecting_alone"]["per_order"]["calls"] == {
        "BatchGetItem": 0.02,
        "TransactWriteItems": 0.01,
        "UpdateItem": 0.75,
    }
    assert sale["per_order"]["per_order"]["calls"]["TransactWriteItems"] == 1
    for traffic in ("flash", "spread"):
        for figures in worker["full_batches"][traffic].values():
            assert figures["cpu_s"] > 0 and figures["median_s"] > 0
    imports = results["catalog_import"]["imports"]
    assert {(row["rows"], row["format"], row["skus"]) for row in imports} == {
        (rows, file_format, 4) for rows in (200, 400) for file_format in ("csv", "jsonl.gz")
    } | {(100, "csv", 100)}
    assert all(row["imported"] == row["rows"] and row["update_calls"] > 0 for row in imports)
    assert results["local_api"]["direct"]["p50_ms"] > 0
    quality = results["recommendations"]
    assert quality["users"] == 60
    for protocol in ("leave_last_out", "time_split"):
        models = quality[protocol]["models"]
        assert set(models) == {
            "popularity",
            "item-kNN (implicit)",
            "item-kNN + recency",
            "sequential",
            "stockroom",
            "stockroom, order shuffled",
            "stockroom as deployed",
        }
        assert models["item-kNN (implicit)"]["settings_tried"] == 12  # 3 weightings x 4 Ks
        assert all(0 <= figures["hr_at_10"] <= 1 for figures in models.values())
    assert quality["leave_last_out"]["models"]["stockroom"]["hr_at_10"] > 0
    serving = quality["serving"]
    assert all(figures["p50_ms"] > 0 for figures in serving["routes"].values())
    # Uncached answers read a bounded number of items: one history query, one batch of rows.
    assert serving["requests_per_answer_uncached"]["GET /recommendations"]["calls"]["Query"] == 1
    assert quality["feed_per_order"]["calls"] == {"Query": 1, "TransactWriteItems": 1}
    assert quality["at_scale"]["catalog_skus"] == 2000
    assert quality["at_scale"]["incremental_run"]["rows_rewritten"] <= 2000


def test_every_target_is_reported_with_its_measurement(quick_run):
    report, _, stdout = quick_run
    assert len(report["targets"]) == 22
    for target in report["targets"]:
        assert isinstance(target["met"], bool)
        assert f"{target['target']}: {target['measured']:g}" in stdout


def test_the_cost_model_adds_up_from_counted_requests(quick_run):
    report, _, _ = quick_run
    model = report["cost"]
    # Placing: the idempotency record written twice and the order once; deciding: one
    # transaction of the order and its one stock line, each item billed twice.
    assert model["per_order"]["dynamodb_write_units"] == 3 + 4
    assert model["usd_per_million_orders_total"] == pytest.approx(
        sum(model["usd_per_million_orders"].values()), abs=0.01
    )


def test_the_performance_page_is_written_from_the_run(quick_run):
    report, page, _ = quick_run
    assert "A quick run" in page
    assert f"{report['machine']['cores']} cores" in page
    assert_page_shows(report, page)


def test_the_committed_performance_page_comes_from_a_full_run():
    """Its figures are those of the results file of its date, none typed in."""
    page = (ROOT / "docs" / "performance.md").read_text()
    assert "A quick run" not in page
    report = json.loads((ROOT / "bench" / "results" / f"{committed_run_date()}.json").read_text())
    assert not report["quick"]
    assert_page_shows(report, page)


def committed_run_date() -> str:
    """The date of the full run docs/performance.md was written from."""
    page = (ROOT / "docs" / "performance.md").read_text()
    return page.split("Written by `make bench` on ", 1)[1].split(" ", 1)[0]


def assert_page_shows(report: dict[str, Any], page: str) -> None:
    """Every target's measured figure and both costs of `report` are on the page."""
    for target in report["targets"]:
        assert f"| {target['target']} | {target['measured']:g} |" in page
    assert f"${report['cost']['usd_per_million_orders_total']} per million orders" in page
    extra = report["recommendations_cost"]
    assert f"Recommendations add **${extra['usd_per_million_orders']} per million orders**" in page


def test_the_committed_scaling_page_is_the_models_own():
    """docs/scaling.md is what the scale model writes from its limits and assumptions
    (and the make load figures it cites), none typed in."""
    from bench import scale_model

    model = scale_model.run()
    assert (ROOT / "docs" / "scaling.md").read_text() == scale_model.page(model)
    assert (ROOT / "docs" / "scaling-reads.md").read_text() == scale_model.read_page(model)


def test_the_scale_model_names_what_binds_each_case(quick_run):
    report, _, _ = quick_run
    cases = report["results"]["scale_model"]["cases"]
    assert set(cases) == {"spread/per-order", "spread/group", "flash/per-order", "flash/group"}
    for case in cases.values():
        ceilings = [row["orders_per_s"] for row in case["ceilings"]]
        assert case["binding"]["orders_per_s"] == min(ceilings) > 0
    # One order a transaction, a hot SKU's item binds far below what group commit allows.
    assert cases["flash/per-order"]["binding_fixed"]["orders_per_s"] < (
        cases["flash/group"]["binding_fixed"]["orders_per_s"] / 10
    )


def test_a_worker_batch_on_lambda_stretches_its_cpu_time_to_the_memorys_share_of_a_vcpu():
    from bench.scale_model import VCPU_MB, Worker

    measured = {"median_s": 0.2, "cpu_s": 0.08}  # 0.12 s of it waiting on DynamoDB
    assert Worker(100, 30, VCPU_MB).batch_seconds(measured) == pytest.approx(0.2)
    assert Worker(100, 30, VCPU_MB // 2).batch_seconds(measured) == pytest.approx(
        0.12 + 0.16, rel=1e-3
    )


def test_the_scaling_page_is_the_same_from_the_models_json():
    """make bench writes docs/scaling.md from the model's JSON summary, not from the model."""
    from bench import scale_model

    model = scale_model.run()
    assert scale_model.page(json.loads(json.dumps(model))) == scale_model.page(model)


def read_side(l1_ttl_s: float | None = None, **assumptions: Any) -> dict[str, dict[str, Any]]:
    """The read side's cases: what binds, and each ceiling by limit, with `assumptions`
    changed."""
    from bench import scale_model

    a = scale_model.Assumptions(**assumptions)
    measured = scale_model.calibration()["flash"]["group"]
    side = scale_model.read_side(a, scale_model.Worker.deployed(), measured, l1_ttl_s)
    return {
        case: {
            "binding": figures["binding"]["limit"],
            "ceilings": {row["limit"]: row for row in figures["ceilings"]},
        }
        for case, figures in side["cases"].items()
    }


def test_each_read_side_case_of_a_hot_sku_sale_names_what_binds():
    from bench import scale_model

    cases = scale_model.run()["read_side"]["cases"]
    assert list(cases) == ["no cache", "edge", "edge + L2"]
    for figures in cases.values():
        ceilings = [row["orders_per_s"] for row in figures["ceilings"]]
        assert figures["binding"]["orders_per_s"] == min(ceilings) > 0
        assert figures["binding_fixed"] in figures["ceilings"]
        assert all(row["source"].startswith("https://") for row in figures["ceilings"])
    limits = {case: {row["limit"] for row in f["ceilings"]} for case, f in cases.items()}
    # Only with the edge is there a distribution to count, only with L2 a cache.
    assert "cloudfront_rps" in limits["edge"] - limits["no cache"]
    assert {"l2_slot_ecpu", "l2_cache_ecpu"} == limits["edge + L2"] - limits["edge"]


@pytest.mark.parametrize("hit", [0.8, 0.95])
def test_the_edge_lets_1_over_the_miss_ratio_times_the_page_views_past_the_api_quota(hit):
    few = read_side(edge_hit_ratio=hit)
    many = read_side(edge_hit_ratio=hit, page_views_per_attempt=40)
    # What 20 more page views an attempt add to the API's requests, with and without the edge.
    added = {
        case: many[case]["ceilings"]["api_rps"]["per_attempt"]
        - few[case]["ceilings"]["api_rps"]["per_attempt"]
        for case in ("no cache", "edge")
    }
    assert added["no cache"] == pytest.approx(20)
    assert added["no cache"] / added["edge"] == pytest.approx(1 / (1 - hit))
    for cases in (few, many):
        for case in ("no cache", "edge"):
            row = cases[case]["ceilings"]["api_rps"]
            # The ceiling is the quota over what an attempt sends.
            assert row["orders_per_s"] == round(row["value"] / row["per_attempt"])
            # The order's POST and its polls reach the API whatever the edge holds.
            assert row["load"]["order POST"] == 1 and row["load"]["status polls"] == 2


def test_l2_takes_the_hot_partition_out_of_the_binding_limits():
    # Without L1 (ProductCacheTtlSeconds 0) every page view reaching the API reads the item.
    few, many = read_side(l1_ttl_s=0), read_side(l1_ttl_s=0, page_views_per_attempt=200)
    assert few["no cache"]["binding"] == many["no cache"]["binding"] == "partition_rcu"
    assert few["edge + L2"]["binding"] == many["edge + L2"]["binding"] != "partition_rcu"
    # Behind L2 the item's reads no longer grow with page views; before it, they do.
    partition = {
        case: (few[case]["ceilings"]["partition_rcu"], many[case]["ceilings"]["partition_rcu"])
        for case in few
    }
    assert partition["edge + L2"][0] == partition["edge + L2"][1]
    for case in ("no cache", "edge"):
        assert partition[case][1]["orders_per_s"] < partition[case][0]["orders_per_s"]


def test_a_page_of_a_partial_run_names_where_its_other_figures_come_from():
    """`--only`: the parts run again are named, and the date of the rest."""
    from bench.__main__ import PARTS
    from bench.markdown import render

    earlier = committed_run_date()
    report = json.loads((ROOT / "bench" / "results" / f"{earlier}.json").read_text())
    report |= {"date": "2099-01-02", "rerun": {"parts": ["cold_start"], "others_from": earlier}}
    page = render(report, [module for module, _, _ in PARTS.values()])
    assert (
        "Only Cold start per function measured on 2099-01-02; every other figure is from "
        f"{earlier}." in page
    )
    assert_page_shows(report, page)
