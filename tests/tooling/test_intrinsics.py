"""Resolving a template's intrinsic functions as `sam deploy` would (devtools/intrinsics.py)."""

import pytest

from devtools.intrinsics import NO_VALUE, Stack, UnresolvedError
from devtools.template import load_template

TEMPLATE = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev"},
        "Retention": {"Type": "Number", "Default": 7},
        "Issuer": {"Type": "String"},
        "Subnets": {"Type": "CommaDelimitedList", "Default": ""},
    },
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "IsNotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        "ProdWithLongRetention": {
            "Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": [{"Ref": "Retention"}, "30"]}]
        },
        "DevOrLong": {
            "Fn::Or": [{"Condition": "IsNotProd"}, {"Condition": "ProdWithLongRetention"}]
        },
    },
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}, "Later": {"Type": "AWS::SQS::Queue"}},
}


@pytest.fixture
def resolver() -> Stack:
    return Stack(
        "shop",
        "eu-west-1",
        refs={"Queue": "https://queue.local/Queue"},
        attributes={("Queue", "Arn"): "arn:aws:sqs:eu-west-1:123456789012:Queue"},
        template=TEMPLATE,
    )


def test_ref_gives_parameters_with_defaults_resources_and_pseudo_parameters(resolver):
    assert resolver.resolve({"Ref": "Stage"}) == "dev"
    assert resolver.resolve({"Ref": "Retention"}) == "7"
    assert resolver.resolve({"Ref": "Queue"}) == "https://queue.local/Queue"
    assert resolver.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert resolver.resolve({"Ref": "AWS::AccountId"}) == "123456789012"


def test_an_override_wins_over_the_default_and_a_parameter_without_either_is_empty():
    overridden = Stack(
        "shop", "eu-west-1", parameter_overrides={"Stage": "prod"}, template=TEMPLATE
    )
    assert overridden.resolve({"Ref": "Stage"}) == "prod"
    assert overridden.resolve({"Ref": "Issuer"}) == ""


def test_a_list_parameter_gives_a_list_and_its_empty_default_one_empty_item():
    listed = Stack("shop", "eu-west-1", parameter_overrides={"Subnets": "a,b"}, template=TEMPLATE)
    assert listed.resolve({"Ref": "Subnets"}) == ["a", "b"]
    assert listed.resolve({"Fn::Join": ["+", {"Ref": "Subnets"}]}) == "a+b"
    empty = Stack("shop", "eu-west-1", template=TEMPLATE)
    assert empty.resolve({"Ref": "Subnets"}) == [""]
    assert empty.resolve({"Fn::Join": [",", {"Ref": "Subnets"}]}) == ""


def test_sub_in_both_forms_with_attributes_and_literal_dollars(resolver):
    assert (
        resolver.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Queue.Arn}-${!Literal}"})
        == "shop-dev-arn:aws:sqs:eu-west-1:123456789012:Queue-${Literal}"
    )
    assert resolver.resolve(
        {"Fn::Sub": ["${Name}.${AWS::URLSuffix}", {"Name": {"Ref": "Stage"}}]}
    ) == ("dev.amazonaws.com")


def test_if_with_conditions_and_no_value_removes_the_key(resolver):
    value = {
        "Mode": {"Fn::If": ["IsProd", "strict", "relaxed"]},
        "Only": {"Fn::If": ["IsProd", "present", {"Ref": "AWS::NoValue"}]},
        "List": ["a", {"Fn::If": ["IsNotProd", {"Ref": "AWS::NoValue"}, "b"]}],
    }
    assert resolver.resolve(value) == {"Mode": "relaxed", "List": ["a"]}
    assert resolver.condition("DevOrLong") is True
    assert resolver.condition("ProdWithLongRetention") is False


def test_join_select_and_split(resolver):
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, "c"]]}) == "a-dev-c"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert resolver.resolve({"Fn::GetAtt": ["Queue", "Arn"]}).endswith(":Queue")


def test_a_resource_not_provisioned_yet_is_unresolved_and_an_unknown_name_is_an_error(resolver):
    with pytest.raises(UnresolvedError):
        resolver.resolve({"Ref": "Later"})
    with pytest.raises(UnresolvedError):
        resolver.resolve({"Fn::GetAtt": ["Later", "Arn"]})
    with pytest.raises(KeyError, match="Nowhere"):
        resolver.resolve({"Ref": "Nowhere"})
    assert NO_VALUE is resolver.resolve({"Ref": "AWS::NoValue"})


def test_the_real_template_resolves_fully_once_provisioned(stack):
    """Every function's environment and the bucket name resolve against moto."""
    for name, resource in load_template()["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            environment = stack.function_environment(name)
            assert "AWS_ENDPOINT_URL" not in environment  # NoValue: absent once deployed
            assert environment.pop("CACHE_URL", "") == ""  # the cache tier is off by default
            assert all(isinstance(value, str) and value for value in environment.values())
    assert stack["ImportBucket"] == f"local-imports-{stack.region}-{stack.account}"


def test_cors_origins_match_exactly_or_by_a_trailing_wildcard():
    from devtools.http_api import Cors

    cors = Cors.from_configuration(
        {"AllowOrigins": ["https://shop.example", "http://*"], "AllowCredentials": True}
    )
    assert cors is not None
    assert cors.allowed_origin("https://shop.example") == "https://shop.example"
    assert cors.allowed_origin("http://localhost:5173") == "http://localhost:5173"
    assert cors.allowed_origin("https://evil.example") is None
    assert cors.response_headers("https://evil.example") == {}
    assert cors.response_headers("https://shop.example")["Access-Control-Allow-Credentials"] == (
        "true"
    )
