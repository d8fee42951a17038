"""Creates what template.yaml declares (tables, queues, buckets, secrets) in an AWS
endpoint, moto in-process for tests or moto's server for the local stack, and returns the
`Stack` that resolves the template's `Ref`s and `GetAtt`s to them. Names are the
template's own (`TableName`, `QueueName`, `BucketName`, `Name`, with their intrinsics
resolved) or, where it gives none, the logical id (lowercased for buckets). A secret's
generated value is drawn as Secrets Manager draws it (moto's GetRandomPassword)."""

import json
import os
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import boto3

from devtools.intrinsics import Stack, UnresolvedError
from devtools.template import load_template, resources

LOCAL_STACK_NAME = "local"


def provision(
    stack_name: str = LOCAL_STACK_NAME,
    parameter_overrides: dict[str, str] | None = None,
    types: set[str] | None = None,
) -> Stack:
    """Creates the template's tables, queues and buckets (those of `types` only, if
    given: the rest are named, not created) and returns the stack that names them."""
    region = boto3.session.Session().region_name or "eu-west-1"
    stack = Stack(stack_name, region, parameter_overrides=dict(parameter_overrides or {}))
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:  # one per service for the whole stack
        if service not in clients:
            clients[service] = boto3.client(service)  # type: ignore[call-overload]  # any of three
        return clients[service]

    creators: dict[str, Callable[[Callable[[str], Any], Stack, str, dict[str, Any]], None]] = {
        "AWS::DynamoDB::Table": _create_table,
        "AWS::SQS::Queue": _create_queue,
        "AWS::S3::Bucket": _create_bucket,
        "AWS::SecretsManager::Secret": _create_secret,
    }
    pending = {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] in creators
        and _wanted(stack, resource)
        and (types is None or resource["Type"] in types)
    }
    # In dependency order, found by trying: a resource whose properties name one not
    # created yet (a queue's dead-letter target) waits for the next round.
    while pending:
        created = []
        for name, resource in pending.items():
            # A bucket's notifications name functions: devtools/triggers.py wires them.
            declared = resource.get("Properties", {})
            declared = {k: v for k, v in declared.items() if k != "NotificationConfiguration"}
            try:
                properties = stack.resolve(declared)
            except UnresolvedError:
                continue
            creators[resource["Type"]](client, stack, name, properties)
            created.append(name)
        if not created:
            raise UnresolvedError(f"circular or unknown references among {sorted(pending)}")
        for name in created:
            del pending[name]
    _name_the_rest(stack)
    return stack


def _wanted(stack: Stack, resource: dict[str, Any]) -> bool:
    return "Condition" not in resource or stack.condition(resource["Condition"])


def _arn(stack: Stack, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{stack.region}:{stack.account}:{resource}"


def _create_table(
    client: Callable[[str], Any], stack: Stack, name: str, properties: dict[str, Any]
) -> None:
    dynamodb = client("dynamodb")
    table = properties.get("TableName", name)
    arguments: dict[str, Any] = {
        key: properties[key]
        for key in (
            "KeySchema",
            "AttributeDefinitions",
            "BillingMode",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "ProvisionedThroughput",
        )
        if key in properties
    }
    if "StreamSpecification" in properties:
        arguments["StreamSpecification"] = {
            "StreamEnabled": True,
            **properties["StreamSpecification"],
        }
    description = dynamodb.create_table(TableName=table, **arguments)["TableDescription"]
    ttl = properties.get("TimeToLiveSpecification")
    if ttl:  # accepted by moto, which never expires items
        dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
    stack.refs[name] = table
    stack.attributes[(name, "Arn")] = description["TableArn"]
    if "LatestStreamArn" in description:
        stack.attributes[(name, "StreamArn")] = description["LatestStreamArn"]


_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def _create_queue(
    client: Callable[[str], Any], stack: Stack, name: str, properties: dict[str, Any]
) -> None:
    sqs = client("sqs")
    attributes = {
        key: str(properties[key]).lower()
        if isinstance(properties[key], bool)
        else str(properties[key])
        for key in _QUEUE_ATTRIBUTES
        if key in properties
    }
    if "RedrivePolicy" in properties:
        attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
    queue_name = properties.get("QueueName") or (
        f"{name}.fifo" if properties.get("FifoQueue") else name
    )
    url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    stack.refs[name] = url
    stack.attributes[(name, "QueueUrl")] = url
    stack.attributes[(name, "QueueName")] = queue_name
    stack.attributes[(name, "Arn")] = _arn(stack, "sqs", queue_name)


def _create_bucket(
    client: Callable[[str], Any], stack: Stack, name: str, properties: dict[str, Any]
) -> None:
    s3 = client("s3")
    bucket = properties.get("BucketName", name.lower())
    s3.create_bucket(
        Bucket=bucket,
        CreateBucketConfiguration={"LocationConstraint": stack.region},
    )
    if "VersioningConfiguration" in properties:
        s3.put_bucket_versioning(
            Bucket=bucket, VersioningConfiguration=properties["VersioningConfiguration"]
        )
    stack.refs[name] = bucket
    stack.attributes[(name, "Arn")] = f"arn:aws:s3:::{bucket}"
    stack.attributes[(name, "DomainName")] = f"{bucket}.s3.amazonaws.com"
    stack.attributes[(name, "RegionalDomainName")] = f"{bucket}.s3.{stack.region}.amazonaws.com"


# GenerateSecretString's settings that GetRandomPassword takes under the same names.
_PASSWORD_SETTINGS = (
    "PasswordLength",
    "ExcludeCharacters",
    "ExcludeNumbers",
    "ExcludePunctuation",
    "ExcludeUppercase",
    "ExcludeLowercase",
    "IncludeSpace",
    "RequireEachIncludedType",
)


def _create_secret(
    client: Callable[[str], Any], stack: Stack, name: str, properties: dict[str, Any]
) -> None:
    secrets = client("secretsmanager")
    value = properties.get("SecretString")
    if value is None:
        generate = properties.get("GenerateSecretString", {})
        settings = {key: generate[key] for key in _PASSWORD_SETTINGS if key in generate}
        value = secrets.get_random_password(**settings)["RandomPassword"]
    arn = secrets.create_secret(Name=properties.get("Name", name), SecretString=value)["ARN"]
    stack.refs[name] = arn  # a secret's Ref is its ARN
    stack.attributes[(name, "Id")] = arn


def secret_values(stack: Stack) -> dict[str, str]:
    """Each of the template's secrets' values, by logical id, as `stack` created them."""
    import boto3

    secrets = boto3.client("secretsmanager")
    return {
        name: secrets.get_secret_value(SecretId=stack.refs[name])["SecretString"]
        for name in resources("AWS::SecretsManager::Secret")
        if name in stack.refs
    }


def _name_the_rest(stack: Stack) -> None:
    """What `Ref`/`GetAtt` give for functions and APIs, which are served locally, not
    created in the endpoint."""
    for name, resource in load_template()["Resources"].items():
        if name in stack.refs:
            continue
        if resource["Type"] == "AWS::Serverless::Function":
            stack.refs[name] = name
            stack.attributes[(name, "Arn")] = _arn(stack, "lambda", f"function:{name}")
        elif resource["Type"] in ("AWS::Serverless::HttpApi", "AWS::Serverless::Api"):
            stack.refs[name] = name.lower()


def function_environments(stack: Stack, functions: Iterable[str] = ()) -> dict[str, str]:
    """The variables `functions` (by default every function) take from the template,
    POWERTOOLS_* aside, resolved to `stack`'s resources and merged (no two functions give
    a name two values)."""
    return {
        key: value
        for function in functions or resources("AWS::Serverless::Function")
        for key, value in stack.function_environment(function).items()
        if not key.startswith("POWERTOOLS_")
    }


@cache
def environments_as_provisioned() -> dict[str, str]:
    """`function_environments` of a stack provisioned in an in-process moto, then gone:
    the names every `provision()` of the local stack gives its resources. No request
    leaves the process, whatever endpoint or credentials the environment names."""
    from unittest import mock

    from moto import mock_aws

    local = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    local["AWS_DEFAULT_REGION"] = "eu-west-1"
    with mock.patch.dict(os.environ, local, clear=True), mock_aws():
        return function_environments(provision())
