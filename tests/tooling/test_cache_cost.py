"""What the cache tier and CloudFront cost (bench/cost.py), from list prices and stated
assumptions: the tier's idle floor and the lookups a month that pay for it."""

import pytest

from bench import cost


def test_the_floor_is_the_cache_minimum_and_the_templates_interface_endpoints():
    tier = cost.cache_tier()
    # The SQS endpoint, in both private subnets: two endpoint-hours an hour, 720 hours.
    assert tier["assumed"]["endpoint_zones"] == 2
    assert tier["floor_usd_a_month"] == {"cache_minimum_storage": 6.05, "interface_endpoints": 14.4}
    assert tier["floor_usd_a_month_total"] == pytest.approx(20.45)


def test_at_the_break_even_the_reads_saved_pay_the_floor():
    tier = cost.cache_tier(hit_ratio=0.9)
    # A hit saves half a read unit ($0.0625 per million) and costs a GET; a miss a SET too.
    assert tier["net_usd_saved_per_million_lookups"] == pytest.approx(0.9 * 0.0625 - 1.1 * 0.0023)
    saved = tier["break_even_lookups_a_month"] * tier["net_usd_saved_per_million_lookups"] / 1e6
    assert saved == pytest.approx(tier["floor_usd_a_month_total"], rel=1e-3)
    assert tier["break_even_lookups_a_second"] == pytest.approx(
        tier["break_even_lookups_a_month"] / cost.SECONDS_A_MONTH, abs=0.1
    )


def test_fewer_hits_or_more_endpoints_need_more_lookups_and_too_few_hits_never_pay():
    def lookups(hit_ratio: float = 0.9, endpoint_zones: int | None = None) -> int:
        tier = cost.cache_tier(hit_ratio=hit_ratio, endpoint_zones=endpoint_zones)
        return int(tier["break_even_lookups_a_month"])

    assert lookups(hit_ratio=0.99) < lookups(hit_ratio=0.9) < lookups(hit_ratio=0.5)
    assert lookups(endpoint_zones=0) < lookups(endpoint_zones=2)
    never = cost.cache_tier(hit_ratio=0.02)
    assert never["net_usd_saved_per_million_lookups"] < 0
    assert never["break_even_lookups_a_month"] is None


def test_cloudfront_charges_past_its_free_allowance_only():
    assert cost.cloudfront(10_000_000, 1024) == 0
    # 2 million requests and 10 GB past the allowance.
    assert cost.cloudfront(12_000_000, 1034) == pytest.approx(2 * 1.00 + 10 * 0.085)
