"""The cache tier in template.yaml (CacheTier, CacheEndpoint): what each setting creates,
which functions join the cache's VPC and what that VPC lets them reach, resolved as
CloudFormation would resolve the template under those parameters."""

import json
from typing import Any

import pytest

from devtools.intrinsics import NO_VALUE, Stack, UnresolvedError
from devtools.template import function_properties, load_template, resources

# The functions that read or write the cache, and so join its VPC when it is on.
CACHE_FUNCTIONS = {
    "CatalogFunction",
    "OrdersFunction",
    "RecommendationsFunction",
    "StockFlagsFunction",
}
FUNCTIONS = sorted(resources("AWS::Serverless::Function"))
# A serverless Valkey cache's primary port; CACHE_URL takes it from the cache itself.
CACHE_PORT = 6379

CREATED = {"CacheTier": "redis"}
EXISTING = {
    "CacheTier": "redis",
    "CacheEndpoint": "cache.example.internal:6379",
    "CacheSubnetIds": "subnet-0a,subnet-0b",
    "CacheSecurityGroupIds": "sg-0c",
}


class _Deployed(Stack):
    """A stack of every resource whose condition holds, each named by its logical id and
    each attribute `Id.Attribute`; a resource left out is unresolved."""

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.refs:
            raise UnresolvedError(f"{logical_id}.{attribute}")
        return f"{logical_id}.{attribute}"


def deployed(parameters: dict[str, str]) -> Stack:
    stack = _Deployed("stockroom", "eu-west-1", parameter_overrides=parameters)
    for name, resource in load_template()["Resources"].items():
        if "Condition" not in resource or stack.condition(resource["Condition"]):
            stack.refs[name] = name
    return stack


def created(parameters: dict[str, str]) -> set[str]:
    return set(deployed(parameters).refs)


def vpc_config(stack: Stack, function: str) -> Any:
    return stack.resolve(function_properties(function).get("VpcConfig", {"Ref": "AWS::NoValue"}))


def properties(name: str) -> dict[str, Any]:
    properties: dict[str, Any] = load_template()["Resources"][name]["Properties"]
    return properties


# What the tier creates, of these types and nothing else.
TIER_TYPES = {
    "AWS::ElastiCache::ServerlessCache",
    "AWS::EC2::VPC",
    "AWS::EC2::Subnet",
    "AWS::EC2::RouteTable",
    "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::SecurityGroup",
    "AWS::EC2::VPCEndpoint",
}


def types_of(names: set[str]) -> set[str]:
    return {load_template()["Resources"][name]["Type"] for name in names}


def test_by_default_the_tier_is_off_nothing_is_created_and_no_function_is_in_a_vpc():
    stack = deployed({})
    assert created({}) == created({"CacheTier": "none"})
    assert not types_of(created({})) & TIER_TYPES
    for function in FUNCTIONS:
        assert vpc_config(stack, function) is NO_VALUE, function
        environment = stack.function_environment(function)
        if function in CACHE_FUNCTIONS:
            assert environment["CACHE_URL"] == ""
        else:
            assert "CACHE_URL" not in environment, function


def test_redis_creates_a_valkey_serverless_cache_in_two_private_subnets_of_two_zones():
    tier = created(CREATED) - created({})
    assert types_of(tier) == TIER_TYPES
    cache = properties("Cache")
    assert cache["Engine"] == "valkey"
    assert cache["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": {"Ref": "CacheMaxDataStorageGb"}, "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": {"Ref": "CacheMaxEcpuPerSecond"}},
    }
    subnets = sorted(resources("AWS::EC2::Subnet"))
    assert cache["SubnetIds"] == [{"Ref": name} for name in subnets]
    zones = [properties(name)["AvailabilityZone"] for name in subnets]
    assert zones == [{"Fn::Select": [index, {"Fn::GetAZs": ""}]} for index in (0, 1)]
    blocks = [properties(name)["CidrBlock"]["Fn::Select"][0] for name in subnets]
    assert blocks == [0, 1]
    assert cache["SecurityGroupIds"] == [{"Fn::GetAtt": ["CacheSecurityGroup", "GroupId"]}]


def test_nothing_routes_out_of_the_vpc():
    kinds = {resource["Type"] for resource in load_template()["Resources"].values()}
    assert not kinds & {
        "AWS::EC2::NatGateway",
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::Route",
        "AWS::EC2::EIP",
    }
    associations = resources("AWS::EC2::SubnetRouteTableAssociation")
    assert {
        (a["Properties"]["SubnetId"]["Ref"], a["Properties"]["RouteTableId"]["Ref"])
        for a in associations.values()
    } == {
        ("CachePrivateSubnetA", "CachePrivateRouteTable"),
        ("CachePrivateSubnetB", "CachePrivateRouteTable"),
    }
    for subnet in resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"].get("MapPublicIpOnLaunch", False) is False


def test_dynamodb_and_s3_by_gateway_endpoints_and_sqs_by_a_private_interface_endpoint():
    stack = deployed(CREATED)
    endpoints = {
        stack.resolve(endpoint["Properties"]["ServiceName"]): endpoint["Properties"]
        for endpoint in resources("AWS::EC2::VPCEndpoint").values()
    }
    assert set(endpoints) == {
        "com.amazonaws.eu-west-1.dynamodb",
        "com.amazonaws.eu-west-1.s3",
        "com.amazonaws.eu-west-1.sqs",
    }
    for service in ("dynamodb", "s3"):
        gateway = endpoints[f"com.amazonaws.eu-west-1.{service}"]
        assert gateway["VpcEndpointType"] == "Gateway"
        assert gateway["RouteTableIds"] == [{"Ref": "CachePrivateRouteTable"}]
    sqs = endpoints["com.amazonaws.eu-west-1.sqs"]
    assert (sqs["VpcEndpointType"], sqs["PrivateDnsEnabled"]) == ("Interface", True)
    assert sqs["SubnetIds"] == properties("Cache")["SubnetIds"]
    # Private DNS names need both.
    vpc = properties("CacheVpc")
    assert (vpc["EnableDnsSupport"], vpc["EnableDnsHostnames"]) == (True, True)


def _rule(port: int, source: str) -> dict[str, Any]:
    return {
        "IpProtocol": "tcp",
        "FromPort": port,
        "ToPort": port,
        "SourceSecurityGroupId": {"Fn::GetAtt": [source, "GroupId"]},
    }


def _without_descriptions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for rule in rules:
        assert rule["Description"]
    return [{key: value for key, value in rule.items() if key != "Description"} for rule in rules]


def test_the_cache_admits_only_its_port_from_the_functions_group():
    groups = resources("AWS::EC2::SecurityGroup")
    assert set(groups) == {
        "CacheFunctionsSecurityGroup",
        "CacheSecurityGroup",
        "CacheEndpointsSecurityGroup",
    }
    assert not resources("AWS::EC2::SecurityGroupIngress")
    assert not resources("AWS::EC2::SecurityGroupEgress")
    cache_ingress = properties("CacheSecurityGroup")["SecurityGroupIngress"]
    assert _without_descriptions(cache_ingress) == [
        _rule(CACHE_PORT, "CacheFunctionsSecurityGroup")
    ]
    endpoint_ingress = properties("CacheEndpointsSecurityGroup")["SecurityGroupIngress"]
    assert _without_descriptions(endpoint_ingress) == [_rule(443, "CacheFunctionsSecurityGroup")]
    functions = properties("CacheFunctionsSecurityGroup")
    assert "SecurityGroupIngress" not in functions
    egress = _without_descriptions(functions["SecurityGroupEgress"])
    assert {(rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in egress} == {
        ("tcp", CACHE_PORT, CACHE_PORT),
        ("tcp", 443, 443),
    }


@pytest.mark.parametrize(
    ("parameters", "subnets", "groups", "url"),
    [
        (
            CREATED,
            ["CachePrivateSubnetA", "CachePrivateSubnetB"],
            ["CacheFunctionsSecurityGroup.GroupId"],
            "rediss://Cache.Endpoint.Address:Cache.Endpoint.Port",
        ),
        (EXISTING, ["subnet-0a", "subnet-0b"], ["sg-0c"], "rediss://cache.example.internal:6379"),
    ],
    ids=["created", "existing"],
)
def test_the_cache_functions_join_its_vpc_and_get_its_url_the_others_stay_out(
    parameters, subnets, groups, url
):
    stack = deployed(parameters)
    for function in FUNCTIONS:
        environment = stack.function_environment(function)
        if function in CACHE_FUNCTIONS:
            assert vpc_config(stack, function) == {"SubnetIds": subnets, "SecurityGroupIds": groups}
            assert environment["CACHE_URL"] == url
        else:
            assert vpc_config(stack, function) is NO_VALUE, function
            assert "CACHE_URL" not in environment, function


def test_an_existing_cache_creates_nothing_and_its_parameters_are_required_together():
    assert created(EXISTING) == created({})
    rule = load_template()["Rules"]["ExistingCacheNeedsItsNetwork"]
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CacheEndpoint"}, ""]}]}
    asserted = json.dumps(rule["Assertions"])
    for parameter in ("CacheTier", "CacheSubnetIds", "CacheSecurityGroupIds"):
        assert f'{{"Ref": "{parameter}"}}' in asserted
    # Without its network, the functions would stay out of the cache's reach.
    missing = {key: value for key, value in EXISTING.items() if key != "CacheSubnetIds"}
    assert deployed(missing).function_environment("CatalogFunction")["CACHE_URL"] == ""
