"""Facts about template.yaml that the code relies on or the issue asks for."""

import json
from importlib.metadata import version

import pytest

from devtools.openapi import api_apps
from devtools.template import http_routes, load_template, resources

TABLES = resources("AWS::DynamoDB::Table")
FUNCTIONS = resources("AWS::Serverless::Function")


def test_powertools_layer_is_the_version_the_dev_dependencies_pin():
    parameter = load_template()["Parameters"]["PowertoolsLayerArn"]["Default"]
    assert parameter == (
        f"/aws/service/powertools/python/arm64/python3.13/{version('aws-lambda-powertools')}"
    )


def test_globals_set_runtime_architecture_tracing_and_both_layers():
    function = load_template()["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Tracing"] == "Active"
    assert function["Layers"] == [{"Ref": "PowertoolsLayerArn"}, {"Ref": "CommonLayer"}]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} <= set(
        function["Environment"]["Variables"]
    )


@pytest.mark.parametrize("table", sorted(TABLES))
def test_tables_are_on_demand_encrypted_and_recoverable(table):
    properties = TABLES[table]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_idempotency_records_expire_by_ttl_on_the_attribute_powertools_writes():
    ttl = TABLES["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}


def test_permissions_are_policy_templates_scoped_to_one_resource():
    policies = [
        (name, policy)
        for name, function in FUNCTIONS.items()
        for policy in function["Properties"].get("Policies", [])
    ]
    assert policies
    for name, policy in policies:
        assert isinstance(policy, dict) and len(policy) == 1, (name, policy)
        ((template_name, scope),) = policy.items()
        assert template_name.endswith("Policy"), (name, policy)
        assert "*" not in json.dumps(scope), (name, policy)
        assert len(scope) == 1, (name, policy)


def test_every_route_is_served_by_the_function_the_template_sends_it_to():
    apps = api_apps()
    assert set(apps) == {"CatalogFunction", "OrdersFunction"}
    declared = {
        function: {route for route, (owner, _) in http_routes().items() if owner == function}
        for function in apps
    }
    for function, app in apps.items():
        served = {
            (route.method, route.openapi_path) for route in app._static_routes + app._dynamic_routes
        }
        assert served == declared[function], function


def test_catalog_reads_are_public_and_orders_need_a_token():
    for (method, path), (function, secured) in http_routes().items():
        if function == "CatalogFunction":
            assert not secured, (method, path)
        else:
            assert secured, (method, path)


def test_outputs_include_the_fixed_names():
    assert {"ApiUrl", "ImportBucketName"} <= set(load_template()["Outputs"])


def test_order_queue_redrives_to_a_dlq_after_five_receives():
    queue = resources("AWS::SQS::Queue")["OrderQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["OrderDeadLetterQueue", "Arn"]
    }
