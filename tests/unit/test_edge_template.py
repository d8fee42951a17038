"""The edge cache (template.yaml's CloudFront distribution) can never keep a private
answer: each route of the HTTP API, taken from the template's events, is sent to the
behaviour CloudFront would pick for it, and only the catalog's public reads may land on
one that caches (docs/caching.md)."""

import re
from functools import cache
from typing import Any

import pytest

from devtools.template import http_routes, load_template, resources

# AWS managed policies (IDs are fixed): the cache policy that keeps nothing, and the
# origin request policy that forwards every viewer header (Authorization included) but Host.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# The 4xx and 5xx codes CloudFront caches (10 s unless told otherwise); 416 never.
CACHED_ERROR_CODES = {400, 403, 404, 405, 414, 500, 501, 502, 503, 504}

ROUTES = http_routes()
# What a path parameter may be: a plain value, and ones that spell other routes' parts.
PARAMETER_SAMPLES = ("MUG-1", "orders", "products", "a")


@cache
def distribution() -> dict[str, Any]:
    config: dict[str, Any] = resources("AWS::CloudFront::Distribution")["EdgeDistribution"][
        "Properties"
    ]["DistributionConfig"]
    return config


def behaviours() -> list[dict[str, Any]]:
    """In the order CloudFront tries them: the path patterns as listed, then the default."""
    config = distribution()
    return [
        *config.get("CacheBehaviors", []),
        {**config["DefaultCacheBehavior"], "PathPattern": "*"},
    ]


def pattern_matches(pattern: str, path: str) -> bool:
    """CloudFront's path pattern test: case-sensitive, `*` any run of characters (none
    included), `?` exactly one, the leading `/` optional, on the path without its query."""
    normalised = pattern if pattern.startswith("/") or pattern == "*" else f"/{pattern}"
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in normalised
    )
    return re.fullmatch(regex, path, flags=re.DOTALL) is not None


def behaviour_for(path: str) -> dict[str, Any]:
    return next(b for b in behaviours() if pattern_matches(b["PathPattern"], path))


def request_paths(route_path: str) -> list[str]:
    """The route's path with each path parameter replaced by each sample value."""
    return [re.sub(r"\{\w+\}", sample, route_path) for sample in PARAMETER_SAMPLES]


def cache_policy(behaviour: dict[str, Any]) -> dict[str, Any] | str:
    """The behaviour's cache policy: a managed one's ID, or the template's own config."""
    policy = behaviour["CachePolicyId"]
    if isinstance(policy, str):
        return policy
    config: dict[str, Any] = load_template()["Resources"][policy["Ref"]]["Properties"][
        "CachePolicyConfig"
    ]
    return config


def is_public_read(route: tuple[str, str]) -> bool:
    """The catalog's public GETs. /health is public but must reach the functions."""
    method, path = route
    return method == "GET" and not ROUTES[route][1] and path.startswith("/products")


PUBLIC_READS = sorted(route for route in ROUTES if is_public_read(route))
# Routes behind the JWT authorizer, and every public route that is not a read (the
# payment webhook): never cached at the edge.
PRIVATE = sorted(route for route, (_, secured) in ROUTES.items() if secured or route[0] != "GET")


def test_the_matcher_follows_cloudfronts_path_patterns():
    assert pattern_matches("/products*", "/products")
    assert pattern_matches("products*", "/products/MUG-1/related")
    assert pattern_matches("/products*", "/productsX")
    assert not pattern_matches("/products*", "/Products")  # case-sensitive
    assert not pattern_matches("/products*", "/orders/products")
    assert pattern_matches("/images/*.jpg", "/images/a/b.jpg")
    assert pattern_matches("/v?/x", "/v1/x")
    assert not pattern_matches("/v?/x", "/v12/x")
    assert pattern_matches("*", "/anything/at/all")


def test_the_routes_are_the_templates_and_split_into_reads_and_private_ones():
    assert PUBLIC_READS == [
        ("GET", "/products"),
        ("GET", "/products/{sku}"),
        ("GET", "/products/{sku}/related"),
    ]
    assert ("POST", "/payments/webhook") in PRIVATE
    assert {("GET", "/orders"), ("POST", "/orders"), ("GET", "/recommendations")} <= set(PRIVATE)
    assert set(PUBLIC_READS) | set(PRIVATE) | {("GET", "/health")} == set(ROUTES)


@pytest.mark.parametrize("route", PRIVATE, ids=" ".join)
def test_no_private_route_can_land_on_a_behaviour_that_caches(route):
    method, path = route
    for request_path in request_paths(path):
        behaviour = behaviour_for(request_path)
        assert cache_policy(behaviour) == CACHING_DISABLED, (request_path, behaviour["PathPattern"])
        assert method in behaviour["AllowedMethods"], request_path  # else CloudFront refuses it


def test_the_health_check_passes_through_uncached():
    assert cache_policy(behaviour_for("/health")) == CACHING_DISABLED


@pytest.mark.parametrize("route", PUBLIC_READS, ids=" ".join)
def test_public_reads_land_on_the_caching_behaviour(route):
    method, path = route
    for request_path in request_paths(path):
        behaviour = behaviour_for(request_path)
        assert behaviour["PathPattern"] != "*", request_path
        assert isinstance(cache_policy(behaviour), dict), request_path  # the template's own
        assert method in behaviour["AllowedMethods"] and method in behaviour["CachedMethods"]


def test_the_caching_behaviour_keys_on_every_query_string_and_on_authorization():
    (caching,) = [b for b in behaviours() if isinstance(cache_policy(b), dict)]
    policy = cache_policy(caching)
    assert isinstance(policy, dict)
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    # Authorization in the key: a request carrying it is forwarded (CloudFront drops it
    # otherwise) and never answered from an anonymous caller's entry.
    assert key["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    assert "authorization" in {header.lower() for header in key["HeadersConfig"]["Headers"]}
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    # MinTTL above 0 would keep answers marked private or no-store; DefaultTTL above 0
    # would keep answers that say nothing.
    assert (policy["MinTTL"], policy["DefaultTTL"]) == (0, 0)
    assert policy["MaxTTL"] >= load_template()["Parameters"]["ProductCacheTtlSeconds"]["MaxValue"]
    assert caching["CachedMethods"] == ["GET", "HEAD"]


def test_the_caching_behaviour_forwards_no_cookie_and_no_authorization_beyond_its_key():
    (caching,) = [b for b in behaviours() if isinstance(cache_policy(b), dict)]
    ref = caching["OriginRequestPolicyId"]["Ref"]
    config = load_template()["Resources"][ref]["Properties"]["OriginRequestPolicyConfig"]
    assert config["CookiesConfig"] == {"CookieBehavior": "none"}
    assert config["HeadersConfig"]["HeaderBehavior"] == "whitelist"
    assert "authorization" not in {h.lower() for h in config["HeadersConfig"]["Headers"]}


def test_the_default_behaviour_caches_nothing_and_forwards_everything_for_every_method():
    default = distribution()["DefaultCacheBehavior"]
    assert default["CachePolicyId"] == CACHING_DISABLED
    assert default["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert set(default["AllowedMethods"]) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
    }


def test_no_error_is_kept_at_the_edge():
    responses = distribution()["CustomErrorResponses"]
    assert {r["ErrorCode"] for r in responses} == CACHED_ERROR_CODES
    assert all(r["ErrorCachingMinTTL"] == 0 and "ResponsePagePath" not in r for r in responses)


def test_https_to_the_viewer_and_to_the_api_on_the_nearest_edges():
    config = distribution()
    assert {b["ViewerProtocolPolicy"] for b in behaviours()} == {"redirect-to-https"}
    assert all(b["Compress"] for b in behaviours())
    assert all(b["TargetOriginId"] == "HttpApi" for b in behaviours())
    ((origin),) = config["Origins"]
    assert origin["Id"] == "HttpApi"
    assert origin["DomainName"] == {
        "Fn::Sub": "${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    }
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    assert (config["PriceClass"], config["HttpVersion"]) == ("PriceClass_100", "http2and3")


def test_the_edge_is_on_by_default_and_all_of_it_goes_with_its_condition():
    template = load_template()
    assert template["Parameters"]["EdgeCache"]["Default"] == "Enabled"
    assert template["Conditions"]["HasEdgeCache"] == {
        "Fn::Equals": [{"Ref": "EdgeCache"}, "Enabled"]
    }
    edge = {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"].startswith("AWS::CloudFront::")
    }
    assert edge == {
        "EdgeDistribution",
        "EdgePublicReadsCachePolicy",
        "EdgeCorsPreflightRequestPolicy",
    }
    assert {template["Resources"][name].get("Condition") for name in edge} == {"HasEdgeCache"}
    output = template["Outputs"]["EdgeUrl"]
    assert output["Condition"] == "HasEdgeCache"
    assert output["Value"] == {"Fn::Sub": "https://${EdgeDistribution.DomainName}"}
    assert "Condition" not in template["Outputs"]["ApiUrl"]
