"""What template.yaml gives the team that operates Stockroom: alarms, a dashboard, logs,
safe deployments (checked on SAM's own transform of the template) and environments."""

import ast
import json
import re
import shlex
import subprocess
import tomllib
from functools import cache
from typing import Any

import pytest

from devtools.intrinsics import NO_VALUE, Stack
from devtools.template import (
    ROOT,
    event_sources,
    function_properties,
    load_template,
    product_sources,
    resources,
)
from stockroom.models import ImportStatus

FUNCTIONS = sorted(resources("AWS::Serverless::Function"))
ALARMS = resources("AWS::CloudWatch::Alarm")
API_FUNCTIONS = {
    name
    for name in FUNCTIONS
    if any(
        event["Type"] == "HttpApi" for event in function_properties(name).get("Events", {}).values()
    )
}
SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"


@cache
def transformed(stage: str) -> dict[str, Any]:
    assert SAM_PYTHON.exists(), "the SAM CLI venv is missing: `make unit` installs it"
    completed = subprocess.run(
        [
            str(SAM_PYTHON),
            "-m",
            "devtools.sam_transform",
            "JwtIssuer=https://id.example/",
            "JwtAudience=stockroom",
            f"Stage={stage}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(completed.stdout))


def resolved(value: Any, stage: str) -> Any:
    stack = Stack("stockroom", "eu-west-1", parameter_overrides={"Stage": stage})
    return stack.resolve(value)


def alarm_for(function: str, metric: str) -> str:
    """The alarm on the function's `metric`, alone or in the alarm's metric math."""
    dimensions = [{"Name": "FunctionName", "Value": {"Ref": function}}]
    (name,) = [
        name
        for name, alarm in ALARMS.items()
        if any(
            watched.get("MetricName") == metric and watched["Dimensions"] == dimensions
            for watched in _metrics_of(alarm["Properties"])
        )
    ]
    return name


def _metrics_of(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    if "MetricName" in alarm:
        return [alarm]
    return [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]


def test_the_importers_rollback_alarm_leaves_out_the_imports_it_defers_on_purpose():
    alarm = ALARMS[alarm_for("CatalogImportFunction", "Errors")]["Properties"]
    (returned,) = [m for m in alarm["Metrics"] if m["ReturnData"]]
    by_id = {m["Id"]: m for m in alarm["Metrics"] if "MetricStat" in m}
    assert returned["Expression"] == "FILL(errors, 0) - FILL(deferred, 0)"
    deferred = by_id["deferred"]["MetricStat"]["Metric"]
    assert (deferred["Namespace"], deferred["MetricName"]) == ("Stockroom", "ImportsDeferred")
    assert by_id["errors"]["MetricStat"]["Metric"]["MetricName"] == "Errors"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_function_deploys_through_a_live_alias_rolled_back_by_its_alarms(stage):
    template = transformed(stage)["Resources"]
    expected_type = {"dev": "AllAtOnce", "prod": "Canary10Percent5Minutes"}[stage]
    for function in FUNCTIONS:
        alias = template[f"{function}Aliaslive"]
        assert alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][1] == "Version"
        group = template[f"{function}DeploymentGroup"]["Properties"]
        config = resolved(group["DeploymentConfigName"], stage)
        assert config == f"CodeDeployDefault.Lambda{expected_type}", function
        alarms = {alarm["Name"]["Ref"] for alarm in group["AlarmConfiguration"]["Alarms"]}
        expected = {alarm_for(function, "Errors")}
        if function in API_FUNCTIONS:
            expected.add("Api5xxAlarm")
        assert alarms == expected, function
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]


def test_sam_gives_lambdas_network_interface_policy_to_the_functions_with_a_vpc_config():
    """SAM adds AWSLambdaVPCAccessExecutionRole (the EC2 network-interface actions Lambda
    needs, on "*") to the role it writes for each function with a VpcConfig, and only
    theirs. It cannot tell a conditional one's value, so those roles carry it with the
    cache tier off too (docs/security.md). The stock flags function's role is the
    template's own, scoped and conditional (tests/unit/test_iam.py)."""
    template = transformed("dev")["Resources"]
    in_vpc = {function for function in FUNCTIONS if "VpcConfig" in function_properties(function)}
    assert len(in_vpc) == 4  # the cache tier's functions (tests/unit/test_cache_template.py)
    sam_roles = {function for function in FUNCTIONS if f"{function}Role" in template}
    assert "StockFlagsFunction" not in sam_roles
    for function in sam_roles:
        policies = template[f"{function}Role"]["Properties"]["ManagedPolicyArns"]
        vpc_access = any(str(arn).endswith("/AWSLambdaVPCAccessExecutionRole") for arn in policies)
        assert vpc_access is (function in in_vpc), function


def test_every_event_source_and_route_invokes_the_alias_not_the_latest_version():
    template = transformed("prod")["Resources"]
    aliases = {f"{function}Aliaslive" for function in FUNCTIONS}
    mappings = [r for r in template.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    permissions = [r for r in template.values() if r["Type"] == "AWS::Lambda::Permission"]
    assert mappings and permissions
    for resource in mappings:
        assert resource["Properties"]["FunctionName"]["Ref"] in aliases
    for resource in permissions:
        assert resource["Properties"]["FunctionName"]["Ref"] in aliases
    invoke_configs = [r for r in template.values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert [config["Properties"]["Qualifier"] for config in invoke_configs] == ["live"]


def test_every_function_logs_to_its_own_group_kept_for_the_configured_days():
    groups = resources("AWS::Logs::LogGroup")
    used = [function_properties(f)["LoggingConfig"]["LogGroup"]["Ref"] for f in FUNCTIONS]
    assert len(set(used)) == len(FUNCTIONS)
    api_group = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["AccessLogSettings"]
    assert api_group["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert set(groups) == {*used, "ApiAccessLogGroup"}
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def _dead_letter_queues() -> set[str]:
    """Queues where failures end: redrive targets and on-failure destinations."""
    text = json.dumps(load_template()["Resources"])
    targets = set(re.findall(r'"deadLetterTargetArn": \{"Fn::GetAtt": \["(\w+)", "Arn"\]\}', text))
    destinations = set(
        re.findall(r'"OnFailure": \{"Type": "SQS", "Destination": \{"Fn::GetAtt": \["(\w+)"', text)
    )
    return targets | destinations


def test_a_first_message_in_any_dead_letter_queue_raises_an_alarm():
    queues = _dead_letter_queues()
    assert len(queues) == 5
    watched = {
        alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for alarm in ALARMS.values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and alarm["Properties"]["Threshold"] == 0
        and alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    }
    assert watched == queues


def test_every_alarm_notifies_the_topic_on_alarm_and_on_recovery():
    assert len(ALARMS) >= 12
    for name, alarm in ALARMS.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["Properties"]["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert alarm["Properties"]["TreatMissingData"] == "notBreaching", name
    subscription = resources("AWS::SNS::Subscription")["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"


def test_errors_of_each_function_and_throttles_of_all_of_them_raise_alarms():
    for function in FUNCTIONS:
        assert alarm_for(function, "Errors")
    throttles = ALARMS["FunctionThrottlesAlarm"]["Properties"]["Metrics"]
    watched = {
        metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"]["Ref"]
        for metric in throttles
        if "MetricStat" in metric and metric["MetricStat"]["Metric"]["MetricName"] == "Throttles"
    }
    assert watched == set(FUNCTIONS)
    (expression,) = [metric["Expression"] for metric in throttles if "Expression" in metric]
    ids = {metric["Id"] for metric in throttles if "MetricStat" in metric}
    assert set(re.findall(r"\w+", expression)) - {"SUM"} == ids


def test_the_api_alarms_watch_this_api():
    rate = ALARMS["Api5xxAlarm"]["Properties"]["Metrics"]
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in rate if "MetricStat" in m}
    assert {m["MetricName"] for m in stats.values()} == {"5xx", "Count"}
    for metric in [*stats.values(), ALARMS["ApiLatencyAlarm"]["Properties"]]:
        assert metric["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
    assert ALARMS["ApiLatencyAlarm"]["Properties"]["ExtendedStatistic"] == "p99"
    age = ALARMS["OrderQueueAgeAlarm"]["Properties"]
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert age["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["OrderQueue", "QueueName"]}


def _emitted_business_metrics() -> set[str]:
    names = {f"Imports{status.value.title()}" for status in ImportStatus}  # an f-string
    for path in product_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "count"
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
    return names


def _dashboard() -> tuple[dict[str, Any], set[str]]:
    body = resources("AWS::CloudWatch::Dashboard")["Dashboard"]["Properties"]["DashboardBody"]
    text = body["Fn::Sub"]
    references = set(re.findall(r"\$\{([\w:]+)(?:\.\w+)?\}", text))
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", text)), references


def test_the_dashboard_is_valid_json_naming_only_resources_of_this_template():
    dashboard, references = _dashboard()
    template_resources = load_template()["Resources"]
    assert references - {"AWS::Region"} <= set(template_resources)
    assert {"HttpApi", "OrderQueue", *_dead_letter_queues()} <= references
    alarm_widget = next(w for w in dashboard["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(ALARMS)


def test_the_dashboard_shows_every_business_metric_the_code_emits():
    dashboard, _ = _dashboard()
    shown = {
        metric[1]
        for widget in dashboard["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if metric[0] == "Stockroom"
    }
    emitted = _emitted_business_metrics() | {"MessagesRedriven"}  # from `make redrive`
    assert {"OrdersPlaced", "OrdersConfirmed", "RowsImported", "ProductCacheHits"} <= emitted
    assert shown == emitted - NOT_ON_THE_DASHBOARD


# Emitted, and read elsewhere than on the dashboard.
NOT_ON_THE_DASHBOARD = {
    "ImportsDeferred",  # CatalogImportErrorsAlarm's metric math subtracts it from Errors
    "UnprocessedRetried",  # the data layer's batch rounds; docs/reliability.md
}


@pytest.mark.parametrize(("stage", "protected"), [("dev", False), ("prod", True)])
def test_tables_are_protected_from_deletion_in_prod_only(stage, protected):
    for name, table in resources("AWS::DynamoDB::Table").items():
        assert resolved(table["Properties"]["DeletionProtectionEnabled"], stage) is protected, name


def test_api_routes_are_throttled_and_the_importer_can_be_capped():
    settings = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    assert set(settings["DefaultRouteSettings"]) == {"ThrottlingRateLimit", "ThrottlingBurstLimit"}
    cap = function_properties("CatalogImportFunction")["ReservedConcurrentExecutions"]
    assert resolved(cap, "prod") is NO_VALUE  # by default: a new account cannot reserve any
    capped = Stack("s", "eu-west-1", parameter_overrides={"ImportReservedConcurrency": "4"})
    assert capped.resolve(cap) == "4"
    prod = _samconfig()["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert 'ImportReservedConcurrency="4"' in prod


def _samconfig() -> dict[str, Any]:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_samconfig_deploys_each_environment_with_template_parameters(environment):
    deploy = _samconfig()[environment]["deploy"]["parameters"]
    assert deploy["stack_name"] == f"stockroom-{environment}"
    assert deploy["confirm_changeset"] is False
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    overrides = dict(item.split("=", 1) for item in shlex.split(deploy["parameter_overrides"]))
    assert set(overrides) <= set(load_template()["Parameters"])
    assert overrides["Stage"] == environment


def test_every_function_keeps_its_failures_and_is_bounded_by_its_source():
    """What .checkov.yaml's skips of CKV_AWS_116 (no DLQ) and CKV_AWS_115 (no reserved
    concurrency) rely on: each function's failed events end somewhere, and its
    concurrency has a bound, both given by how it is invoked."""
    api = resources("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]
    assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(api["DefaultRouteSettings"])
    for function in FUNCTIONS:
        properties = function_properties(function)
        events = list(properties.get("Events", {}).values())
        if not events:  # a bucket's notifications (S3's, in the template's own form)
            events = [
                {"Type": "S3", "Properties": p} for f, p in event_sources("S3") if f == function
            ]
        kinds = {event["Type"] for event in events}
        assert len(kinds) == 1, function
        (kind,) = kinds
        if kind == "HttpApi":
            continue  # synchronous: the client gets the 5xx; bounded by route throttling
        if kind == "DynamoDB":  # one invocation per shard; batches given up on are kept
            for event in events:
                assert event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
        elif kind == "SQS":  # the queue's redrive DLQ; MaximumConcurrency
            for event in events:
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                assert resources("AWS::SQS::Queue")[queue]["Properties"]["RedrivePolicy"]
                assert event["Properties"]["ScalingConfig"]["MaximumConcurrency"] > 0
        elif kind == "S3":  # asynchronous: retried, then the on-failure queue
            on_failure = properties["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
            assert on_failure["Type"] == "SQS"
            assert "ReservedConcurrentExecutions" in properties  # ImportReservedConcurrency
        else:  # a schedule: a failed run is redone by the next one
            assert kind == "Schedule", (function, kind)


def test_every_handler_counts_its_cold_starts():
    """Powertools' ColdStart metric (function_name and service dimensions): the one
    cold-start figure CloudWatch has, drawn by the dashboards (devtools/dashboards.py)."""
    handlers = [p for p in product_sources() if "@metrics.log_metrics" in p.read_text()]
    assert len(handlers) == len(resources("AWS::Serverless::Function"))
    for path in handlers:
        assert "@metrics.log_metrics(capture_cold_start_metric=True)" in path.read_text(), path
