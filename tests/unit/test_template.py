"""Facts about template.yaml that the code relies on or its design promises."""

import json
from importlib.metadata import version
from typing import Any

import pytest

from devtools.openapi import api_apps
from devtools.template import event_sources, http_routes, load_template, resources
from import_bucket import CHECKPOINTS_PREFIX, IMPORTS_PREFIX, REPORTS_PREFIX
from import_files import SUPPORTED_SUFFIXES

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


@pytest.mark.parametrize("function", FUNCTIONS)
def test_snapstart_is_on_for_the_api_functions_only(function):
    snapstart = load_template()["Resources"][function]["Properties"].get("SnapStart")
    if function in ("CatalogFunction", "OrdersFunction", "RecommendationsFunction"):
        assert snapstart == {"ApplyOn": {"Ref": "ApiSnapStart"}}
    else:
        assert snapstart is None
    assert load_template()["Parameters"]["ApiSnapStart"]["Default"] == "PublishedVersions"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_tables_are_on_demand_encrypted_and_recoverable(table):
    properties = TABLES[table]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_idempotency_records_expire_by_ttl_on_the_attribute_powertools_writes():
    ttl = TABLES["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expiration", "Enabled": True}


def test_permissions_are_policy_templates_or_statements_scoped_to_named_resources():
    policies = [
        (name, policy)
        for name, function in FUNCTIONS.items()
        for policy in function["Properties"].get("Policies", [])
    ]
    assert policies
    for name, policy in policies:
        assert isinstance(policy, dict) and len(policy) == 1, (name, policy)
        ((template_name, scope),) = policy.items()
        if template_name == "Statement":
            # Hand-written where no policy template is narrow enough: named actions on
            # named resources (object ARNs may end in a prefix's /*, nothing wider).
            for statement in scope:
                assert statement["Effect"] == "Allow", (name, statement)
                assert "*" not in json.dumps(statement["Action"]), (name, statement)
                resources = statement["Resource"]
                for resource in resources if isinstance(resources, list) else [resources]:
                    text = json.dumps(resource).replace("/*", "")
                    assert "*" not in text, (name, statement)
            continue
        assert template_name.endswith("Policy"), (name, policy)
        assert "*" not in json.dumps(scope), (name, policy)
        assert len(scope) == 1, (name, policy)


def _import_statements() -> dict[str, dict[str, Any]]:
    (policy,) = [
        policy
        for policy in FUNCTIONS["CatalogImportFunction"]["Properties"]["Policies"]
        if "Statement" in policy
    ]
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def _object_prefixes(statement: dict[str, Any]) -> set[str]:
    bucket = "${AWS::StackName}-imports-${AWS::Region}-${AWS::AccountId}"
    prefixes = set()
    for resource in statement["Resource"]:
        arn = resource["Fn::Sub"]
        assert arn.startswith(f"arn:${{AWS::Partition}}:s3:::{bucket}/"), arn
        prefixes.add(arn.split("/", 1)[1])
    return prefixes


def test_the_importer_reads_imports_writes_reports_and_only_updates_products():
    statements = _import_statements()
    assert statements["ReadUploadsAndCheckpoints"]["Action"] == "s3:GetObject"
    assert _object_prefixes(statements["ReadUploadsAndCheckpoints"]) == {
        "imports/*",
        "checkpoints/*",
    }
    assert statements["WriteReportsAndCheckpoints"]["Action"] == "s3:PutObject"
    assert _object_prefixes(statements["WriteReportsAndCheckpoints"]) == {
        "reports/*",
        "checkpoints/*",
    }
    assert statements["UpdateProducts"]["Action"] == "dynamodb:UpdateItem"
    assert statements["UpdateProducts"]["Resource"] == {"Fn::GetAtt": ["ProductsTable", "Arn"]}
    bucket = resources("AWS::S3::Bucket")["ImportBucket"]["Properties"]["BucketName"]
    assert bucket == {"Fn::Sub": "${AWS::StackName}-imports-${AWS::Region}-${AWS::AccountId}"}


def test_the_import_notifications_admit_exactly_the_supported_files():
    admitted = set()
    assert "Events" not in FUNCTIONS["CatalogImportFunction"]["Properties"]  # the bucket's
    for function, event in event_sources("S3"):
        assert function == "CatalogImportFunction"
        assert event["Bucket"] == {"Ref": "ImportBucket"}
        assert event["Events"] == "s3:ObjectCreated:*"
        rules = {rule["Name"]: rule["Value"] for rule in event["Filter"]["S3Key"]["Rules"]}
        admitted.add((rules["prefix"], rules["suffix"]))
    assert admitted == {("imports/", suffix) for suffix in SUPPORTED_SUFFIXES} | {
        (CHECKPOINTS_PREFIX, ".json")
    }
    assert IMPORTS_PREFIX == "imports/"


def test_failed_imports_go_to_a_dlq_with_an_alarm():
    config = FUNCTIONS["CatalogImportFunction"]["Properties"]["EventInvokeConfig"]
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["ImportDeadLetterQueue", "Arn"]},
    }
    alarm = resources("AWS::CloudWatch::Alarm")["ImportDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ImportDeadLetterQueue", "QueueName"]}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_the_import_bucket_is_private_encrypted_tls_only_and_expires_reports():
    bucket = resources("AWS::S3::Bucket")["ImportBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules = {
        rule["Prefix"]: rule
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if "Prefix" in rule
    }
    assert rules[REPORTS_PREFIX]["ExpirationInDays"] == {"Ref": "ReportRetentionDays"}
    assert rules[CHECKPOINTS_PREFIX]["Status"] == "Enabled"
    statement = resources("AWS::S3::BucketPolicy")["ImportBucketPolicy"]["Properties"][
        "PolicyDocument"
    ]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_every_route_is_served_by_the_function_the_template_sends_it_to():
    apps = api_apps()
    assert set(apps) == {
        "CatalogFunction",
        "OrdersFunction",
        "RecommendationsFunction",
        "PaymentWebhookFunction",
    }
    declared = {
        function: {route for route, (owner, _) in http_routes().items() if owner == function}
        for function in apps
    }
    for function, app in apps.items():
        served = {
            (route.method, route.openapi_path) for route in app._static_routes + app._dynamic_routes
        }
        assert served == declared[function], function


def test_catalog_reads_are_public_and_orders_and_customers_need_a_token():
    # The payment webhook is public to the JWT authorizer: its requests are signed.
    public = {("GET", "/products/{sku}/related"), ("POST", "/payments/webhook")}
    for (method, path), (function, secured) in http_routes().items():
        if function == "CatalogFunction" or (method, path) in public:
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


def test_the_generated_part_is_what_make_template_writes():
    from devtools.generate_template import render
    from devtools.template import TEMPLATE_PATH

    text = TEMPLATE_PATH.read_text()
    assert render(text) == text, "template.yaml is stale: run make template"


def test_every_function_has_its_log_group_errors_alarm_and_throttles_line():
    from devtools.generate_template import stem

    template = load_template()["Resources"]
    throttles = json.dumps(template["FunctionThrottlesAlarm"]["Properties"]["Metrics"])
    dashboard = json.dumps(template["Dashboard"]["Properties"]["DashboardBody"])
    for function in FUNCTIONS:
        assert template[f"{stem(function)}LogGroup"]["Type"] == "AWS::Logs::LogGroup"
        assert template[f"{stem(function)}ErrorsAlarm"]["Type"] == "AWS::CloudWatch::Alarm"
        assert f'{{"Ref": "{function}"}}' in throttles
        assert f"${{{function}}}" in dashboard
