"""Every function's role grants exactly the actions its code calls, on the resources it
calls them on: the table below says what each function calls (and through which code),
the template must grant that and nothing more, and every AWS call in the shared layer
must be somebody's entry here."""

import ast
import re
from typing import Any

import pytest

from devtools.template import product_sources, resources

FUNCTIONS = resources("AWS::Serverless::Function")

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


def resource_name(resource: Any) -> str:
    """A statement's resource by logical id: `Table`, `Table/index/Name`, `Bucket/prefix/*`."""
    if "Ref" in resource:  # a secret's Ref is its ARN
        return str(resource["Ref"])
    if "Fn::GetAtt" in resource:
        return str(resource["Fn::GetAtt"][0])
    text = resource["Fn::Sub"]
    text = re.sub(r"^\$\{(\w+)\.Arn\}", r"\1", text)
    bucket = "arn:${AWS::Partition}:s3:::${AWS::StackName}-imports-${AWS::Region}-${AWS::AccountId}"
    return str(text.replace(bucket, "ImportBucket"))


def granted(function: str) -> set[tuple[str, str]]:
    pairs = set()
    for policy in FUNCTIONS[function]["Properties"].get("Policies", []):
        assert set(policy) == {"Statement"}, (function, "a policy template grants more")
        for statement in policy["Statement"]:
            actions = statement["Action"]
            targets = statement["Resource"]
            for action in actions if isinstance(actions, list) else [actions]:
                for target in targets if isinstance(targets, list) else [targets]:
                    pairs.add((action, resource_name(target)))
    return pairs


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_role_grants_exactly_what_its_function_calls(function):
    assert granted(function) == CALLS[function]


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
