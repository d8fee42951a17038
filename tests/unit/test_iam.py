"""Every function's role grants exactly the actions its code calls, on the resources it
calls them on: the table below says what each function calls (and through which code),
the template must grant that and nothing more, and every AWS call in the shared layer
must be somebody's entry here. Roles are read from SAM's transform of the template, so
the managed policies SAM attaches count too, with the cache tier off and on."""

import ast
import re
from typing import Any

import pytest

from devtools.template import function_properties, product_sources, resources
from support.sam import transformed

FUNCTIONS = resources("AWS::Serverless::Function")
CACHE_TIERS = ["none", "redis"]

# What each function calls, as (IAM action, resource). Transactions are authorised per
# item action (an Update item needs UpdateItem); SendMessageBatch as SendMessage; a GSI
# query on the index's ARN; a missing S3 object answers 404 only with ListBucket.
CALLS: dict[str, set[tuple[str, str]]] = {
    "CatalogFunction": {
        ("dynamodb:BatchGetItem", "ProductsTable"),  # catalog.get_product (cache misses)
        ("dynamodb:Scan", "ProductsTable"),  # catalog.list_products
        ("secretsmanager:GetSecretValue", "CursorSigningSecret"),  # pagination.cursor_key
    },
    "OrdersFunction": {
        ("dynamodb:BatchGetItem", "ProductsTable"),  # ordering: prices, unknown SKUs
        ("dynamodb:UpdateItem", "ProductsTable"),  # stock.release (cancel of CONFIRMED)
        ("dynamodb:PutItem", "OrdersTable"),  # orders.put_order
        ("dynamodb:GetItem", "OrdersTable"),  # orders.get_order
        ("dynamodb:UpdateItem", "OrdersTable"),  # orders.set_status, stock.release
        ("dynamodb:Query", "OrdersTable/index/ByCustomer"),  # orders.list_orders
        ("dynamodb:UpdateItem", "AllowancesTable"),  # stock.release (allowances.give_back)
        ("dynamodb:GetItem", "StockFlagsTable"),  # stock_flags.sold_out_skus
        # Powertools' idempotency (dal/idempotency.py): put, read, complete, delete.
        ("dynamodb:GetItem", "IdempotencyTable"),
        ("dynamodb:PutItem", "IdempotencyTable"),
        ("dynamodb:UpdateItem", "IdempotencyTable"),
        ("dynamodb:DeleteItem", "IdempotencyTable"),
        ("secretsmanager:GetSecretValue", "CursorSigningSecret"),  # pagination.cursor_key
    },
    "OrderRelayFunction": {
        ("sqs:SendMessage", "OrderQueue"),  # order_queue.send (SendMessageBatch)
        ("sqs:SendMessage", "OrderRelayFailureQueue"),  # Lambda's on-failure destination
    },
    "StockFlagsFunction": {
        ("dynamodb:UpdateItem", "StockFlagsTable"),  # stock_flags.update_sold_out
        ("sqs:SendMessage", "StockFlagsFailureQueue"),  # Lambda's on-failure destination
    },
    "OrderWorkerFunction": {
        ("dynamodb:BatchGetItem", "ProductsTable"),  # order_worker._allot
        ("dynamodb:UpdateItem", "ProductsTable"),  # stock.reserve_group, stock.reserve
        ("dynamodb:BatchGetItem", "OrdersTable"),  # orders.get_orders
        ("dynamodb:GetItem", "OrdersTable"),  # order_worker.decide_order
        ("dynamodb:UpdateItem", "OrdersTable"),  # set_status, the transactions' status item
        ("dynamodb:BatchGetItem", "AllowancesTable"),  # order_worker._allot (allowances.held)
        ("dynamodb:UpdateItem", "AllowancesTable"),  # stock.reserve(_group): allowances.take
    },
    "OrderReconcilerFunction": {
        ("dynamodb:Query", "OrdersTable/index/Pending"),  # orders.pending_before
        ("dynamodb:UpdateItem", "OrdersTable"),  # orders.restart_pending_clock
        ("sqs:SendMessage", "OrderQueue"),  # order_queue.send
    },
    "HoldExpiryFunction": {
        ("dynamodb:Query", "OrdersTable/index/Holds"),  # orders.due_hold_ids
        ("dynamodb:BatchGetItem", "OrdersTable"),  # orders.get_orders
        ("dynamodb:UpdateItem", "OrdersTable"),  # stock.release (the order's status)
        ("dynamodb:UpdateItem", "ProductsTable"),  # stock.release (the counters)
        ("dynamodb:UpdateItem", "AllowancesTable"),  # stock.release (allowances.give_back)
    },
    "PaymentWebhookFunction": {
        ("secretsmanager:GetSecretValue", "PaymentWebhookSecret"),  # webhook_secret
        ("dynamodb:GetItem", "OrdersTable"),  # orders.get_order
        ("dynamodb:UpdateItem", "OrdersTable"),  # orders.mark_paid, record_refund_due
    },
    "CatalogImportFunction": {
        ("s3:GetObject", "ImportBucket/imports/*"),  # import_bucket.read_rows
        ("s3:GetObject", "ImportBucket/checkpoints/*"),  # import_bucket.read_checkpoint
        ("s3:PutObject", "ImportBucket/reports/*"),  # import_bucket.write_report
        ("s3:PutObject", "ImportBucket/checkpoints/*"),  # import_bucket.write_checkpoint
        ("s3:ListBucket", "ImportBucket"),  # head_object of a missing key: 404, not 403
        ("dynamodb:UpdateItem", "ProductsTable"),  # products.apply_catalog_entry
        ("dynamodb:GetItem", "IdempotencyTable"),
        ("dynamodb:PutItem", "IdempotencyTable"),
        ("dynamodb:UpdateItem", "IdempotencyTable"),
        ("dynamodb:DeleteItem", "IdempotencyTable"),
        ("sqs:SendMessage", "ImportDeadLetterQueue"),  # Lambda's on-failure destination
    },
    "RecommendationsFunction": {
        ("dynamodb:BatchGetItem", "ProductsTable"),  # catalog.find_products
        ("dynamodb:Query", "RecommendationsTable"),  # recommendations.history
        ("dynamodb:BatchGetItem", "RecommendationsTable"),  # recommendations.get_related
        ("dynamodb:GetItem", "RecommendationsTable"),  # recommendations.get_popular
        ("dynamodb:PutItem", "RecommendationsTable"),  # record_views (TransactWriteItems)
    },
    "RecommendationFeedFunction": {
        ("dynamodb:Query", "RecommendationsTable"),  # recommendations.history
        ("dynamodb:PutItem", "RecommendationsTable"),  # history and basket (a transaction)
        ("sqs:SendMessage", "RecommendationFeedFailureQueue"),  # on-failure destination
    },
    "RecommendationTrainerFunction": {
        ("dynamodb:Query", "RecommendationsTable"),  # recommendations.baskets_of_minute
        ("dynamodb:BatchWriteItem", "RecommendationsTable"),  # recommendations.put_rows
        ("s3:GetObject", "ModelBucket/recommendations/*"),  # model_store.load
        ("s3:PutObject", "ModelBucket/recommendations/*"),  # model_store.save
        ("s3:ListBucket", "ModelBucket"),  # a first run's missing model: 404, not 403
    },
}


_STREAM_READS = ("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams")

# What Lambda's poller calls with the function's role: the one stream or queue it reads.
POLLS: dict[str, set[tuple[str, str]]] = {
    "OrderRelayFunction": {(f"dynamodb:{a}", "OrdersTable/stream") for a in _STREAM_READS},
    "RecommendationFeedFunction": {(f"dynamodb:{a}", "OrdersTable/stream") for a in _STREAM_READS},
    "StockFlagsFunction": {(f"dynamodb:{a}", "ProductsTable/stream") for a in _STREAM_READS},
    "OrderWorkerFunction": {
        (f"sqs:{a}", "OrderQueue")
        for a in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
    },
}

# The managed policies SAM attaches to a role it writes: logs and traces (on "*"), and the
# network interfaces of a function with a VpcConfig. A function with a stream or queue
# event has a role of the template's own instead (SAM would add a policy reading every
# stream, or every queue, of the account).
SAM_RUNTIME_POLICIES = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
SAM_VPC_POLICY = "AWSLambdaVPCAccessExecutionRole"

# Actions that take no resource narrower than "*" (X-Ray's writes, EC2's Describe).
STAR_ONLY = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
}


def resource_name(resource: Any) -> str:
    """A statement's resource by logical id: `Table`, `Table/index/Name`, `Bucket/prefix/*`,
    `Table/stream`, `ec2:*/*` (this account's and region's EC2 resources), or `*`."""
    if resource == "*":
        return "*"
    if "Ref" in resource:  # a secret's Ref is its ARN
        return str(resource["Ref"])
    if "Fn::GetAtt" in resource:
        name, attribute = resource["Fn::GetAtt"]
        return f"{name}/stream" if attribute == "StreamArn" else str(name)
    text = resource["Fn::Sub"]
    text = re.sub(r"^\$\{(\w+)\.Arn\}", r"\1", text)
    bucket = "arn:${AWS::Partition}:s3:::${AWS::StackName}-imports-${AWS::Region}-${AWS::AccountId}"
    ec2 = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:"
    return str(text.replace(bucket, "ImportBucket").replace(ec2, "ec2:"))


def _chosen(value: Any, cache_on: bool) -> Any:
    """`value` with each `Fn::If` on CacheOn decided (the only condition roles use)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        condition, when_true, when_false = value["Fn::If"]
        assert condition == "CacheOn", condition
        return _chosen(when_true if cache_on else when_false, cache_on)
    if isinstance(value, dict):
        return {key: _chosen(item, cache_on) for key, item in value.items()}
    if isinstance(value, list):
        chosen = [_chosen(item, cache_on) for item in value]
        return [item for item in chosen if item != {"Ref": "AWS::NoValue"}]
    return value


def role_of(function: str, tier: str) -> dict[str, Any]:
    template = transformed(CacheTier=tier)
    (role,) = template[function]["Properties"]["Role"]["Fn::GetAtt"][:1]
    return _chosen(template[role]["Properties"], cache_on=tier == "redis")  # type: ignore[no-any-return]


def granted(function: str, tier: str) -> set[tuple[str, str]]:
    pairs = set()
    for policy in role_of(function, tier).get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow", (function, statement)
            actions = statement["Action"]
            targets = statement["Resource"]
            for action in actions if isinstance(actions, list) else [actions]:
                for target in targets if isinstance(targets, list) else [targets]:
                    pairs.add((action, resource_name(target)))
    return pairs


def managed_policies(function: str, tier: str) -> set[str]:
    arns = role_of(function, tier).get("ManagedPolicyArns", [])
    return {str(arn).rsplit("/", 1)[1] for arn in arns}


def _runtime(function: str, tier: str) -> set[tuple[str, str]]:
    """What a role of the template's own grants for Lambda itself: the function's log
    group, traces, and with the cache tier on, its network interfaces."""
    log_group = function_properties(function)["LoggingConfig"]["LogGroup"]["Ref"]
    pairs = {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group)}
    pairs |= {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    if tier == "redis" and "VpcConfig" in function_properties(function):
        interfaces = ("Create", "Delete")
        pairs |= {(f"ec2:{verb}NetworkInterface", "ec2:*/*") for verb in interfaces}
        addresses = ("AssignPrivateIpAddresses", "UnassignPrivateIpAddresses")
        pairs |= {(f"ec2:{action}", "ec2:*/*") for action in addresses}
        pairs |= {("ec2:DescribeNetworkInterfaces", "*"), ("ec2:DescribeSubnets", "*")}
    return pairs


@pytest.mark.parametrize("tier", CACHE_TIERS)
@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_role_grants_exactly_what_its_function_calls(function, tier):
    expected = CALLS[function] | POLLS.get(function, set())
    if not managed_policies(function, tier) & SAM_RUNTIME_POLICIES:
        expected |= _runtime(function, tier)
    assert granted(function, tier) == expected


@pytest.mark.parametrize("tier", CACHE_TIERS)
def test_no_role_carries_a_managed_policy_beyond_logs_traces_and_network_interfaces(tier):
    for function in FUNCTIONS:
        allowed = set(SAM_RUNTIME_POLICIES)
        if "VpcConfig" in function_properties(function):
            allowed.add(SAM_VPC_POLICY)  # the API functions' (docs/security.md)
        assert managed_policies(function, tier) <= allowed, function


@pytest.mark.parametrize("tier", CACHE_TIERS)
def test_stream_and_queue_consumers_have_roles_without_managed_policies(tier):
    kinds = {"DynamoDB", "SQS", "Kinesis"}
    consumers = {
        function
        for function in FUNCTIONS
        if kinds & {e["Type"] for e in function_properties(function).get("Events", {}).values()}
    }
    assert consumers == set(POLLS)
    for function in consumers:
        assert managed_policies(function, tier) == set(), function


@pytest.mark.parametrize("tier", CACHE_TIERS)
def test_only_actions_without_resource_level_permissions_are_granted_on_star(tier):
    for function in FUNCTIONS:
        for action, resource in granted(function, tier):
            assert "*" not in action, (function, action)
            if resource == "*":
                assert action in STAR_ONLY, (function, action)


def test_s3_may_invoke_the_importer_for_the_import_bucket_alone():
    template = transformed()
    permissions = [
        resource["Properties"]
        for resource in template.values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["Principal"] == "s3.amazonaws.com"
    ]
    assert permissions
    bucket = template["ImportBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    for permission in permissions:
        assert permission["SourceArn"] == {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{bucket}"}
        assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    notified = template["ImportBucket"]["Properties"]["NotificationConfiguration"]
    functions = {c["Function"]["Ref"] for c in notified["LambdaConfigurations"]}
    assert functions == {"CatalogImportFunctionAliaslive"}


def _calls_in_product() -> set[str]:
    """The IAM action of each AWS call the shared layer's and the functions' code makes:
    `aws.<service>().<operation>(...)`, paginators, and the item actions of transactions."""
    actions = set()
    for path in product_sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            client = node.func.value
            if (
                isinstance(client, ast.Call)
                and isinstance(client.func, ast.Attribute)
                and client.func.attr in ("dynamodb", "sqs", "s3", "secretsmanager")
            ):
                operation = node.func.attr
                if operation == "get_paginator":
                    operation = ast.literal_eval(node.args[0])
                actions.add(f"{client.func.attr}:{_camel(operation)}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                for key in node.keys:
                    if isinstance(key, ast.Constant) and key.value in ("Put", "Update"):
                        actions.add(f"dynamodb:{key.value}Item")
    return actions


def _camel(operation: str) -> str:
    return "".join(part.title() for part in operation.split("_"))


# Calls an IAM action authorises under another name, or that a library makes.
_AUTHORISED_AS = {
    "dynamodb:TransactWriteItems": None,  # its items' own actions (Put, Update) instead
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "s3:HeadObject": "s3:GetObject",
}


def test_every_aws_call_in_the_product_is_granted_to_some_function():
    granted_anywhere = {action for calls in CALLS.values() for action, _ in calls}
    missing = set()
    for action in _calls_in_product():
        action = _AUTHORISED_AS.get(action, action)  # type: ignore[assignment]
        if action is not None and action not in granted_anywhere:
            missing.add(action)
    assert missing == set()
    assert len(_calls_in_product()) >= 12  # the scan found the layer's calls
