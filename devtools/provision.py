"""Creates what template.yaml declares (tables, queues, buckets) in an AWS endpoint,
moto in-process for tests or moto's server for the local stack. Physical names are the
logical ids; the result maps each logical id to what `Ref` gives (name or queue URL)."""

import json
from typing import Any

import boto3

from devtools.template import resources, table_definition


def provision() -> dict[str, str]:
    physical: dict[str, str] = {}
    dynamodb = boto3.client("dynamodb")
    for name in resources("AWS::DynamoDB::Table"):
        dynamodb.create_table(**table_definition(name, name))
        physical[name] = name
    physical.update(_create_queues(boto3.client("sqs")))
    s3 = boto3.client("s3")
    for name in resources("AWS::S3::Bucket"):
        bucket = name.lower()
        s3.create_bucket(
            Bucket=bucket,
            CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name},  # type: ignore[typeddict-item]  # region is a runtime value
        )
        physical[name] = bucket
    return physical


def _create_queues(sqs: Any) -> dict[str, str]:
    declared = resources("AWS::SQS::Queue")
    urls: dict[str, str] = {}
    arns: dict[str, str] = {}
    # Dead-letter queues first, so redrive policies can name them.
    for name in sorted(declared, key=lambda n: "RedrivePolicy" in declared[n]["Properties"]):
        properties = declared[name]["Properties"]
        attributes = {
            key: str(properties[key])
            for key in ("VisibilityTimeout", "MessageRetentionPeriod")
            if key in properties
        }
        if "RedrivePolicy" in properties:
            policy = properties["RedrivePolicy"]
            target = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": policy["maxReceiveCount"]}
            )
        urls[name] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arns[name] = sqs.get_queue_attributes(QueueUrl=urls[name], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
    return urls
