"""`make redrive`: moves the messages in a dead-letter queue back to the queue they
came from, once whatever sent them there is fixed.

Against AWS it starts an SQS message move task (server-side, rate-limited, keeps message
attributes) and follows it to the end. An endpoint without move tasks (moto, and so the
local stack) gets the same effect client-side: receive, send to the source, delete.

  make redrive                     the local stack's order DLQ (.local/outputs.json)
  make redrive QUEUE=<dlq url>     any DLQ, e.g. a deployed stack's OrderDeadLetterQueueUrl
"""

import argparse
import json
import os
import sys
import time
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError

from devtools.http_api import local_dir
from devtools.queues import queue_arn
from devtools.template import load_template

DEFAULT_OUTPUT = "OrderDeadLetterQueueUrl"
REDRIVE_METRIC = "MessagesRedriven"
_FINISHED = {"COMPLETED", "FAILED", "CANCELLED"}


class RedriveError(RuntimeError):
    pass


def source_queue_url(sqs: Any, dlq_url: str) -> str:
    """The one queue whose redrive policy names this DLQ."""
    sources: list[str] = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) != 1:
        raise RedriveError(f"expected one queue redriving to {dlq_url}, found {sources or 'none'}")
    return sources[0]


def move_with_task(sqs: Any, dlq_url: str, poll_seconds: float = 5.0) -> int:
    """Starts a message move task back to the source queue; returns messages moved."""
    arn = queue_arn(sqs, dlq_url)
    handle = sqs.start_message_move_task(SourceArn=arn)["TaskHandle"]
    print(f"move task started: {handle}", file=sys.stderr)
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=arn, MaxResults=1)["Results"]
        task = tasks[0] if tasks else {}
        moved = int(task.get("ApproximateNumberOfMessagesMoved", 0))
        status = task.get("Status", "UNKNOWN")
        print(f"  {status}: {moved} moved", file=sys.stderr)
        if status in _FINISHED:
            if status != "COMPLETED":
                raise RedriveError(f"move task {status}: {task.get('FailureReason', '')}")
            return moved
        time.sleep(poll_seconds)


def move_by_copy(sqs: Any, dlq_url: str) -> int:
    """Receive, send to the source queue, delete: each message is sent before it is
    deleted, so an interruption can duplicate a message (the worker ignores duplicates)
    but never lose one."""
    target = source_queue_url(sqs, dlq_url)
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            VisibilityTimeout=60,
        ).get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            send: dict[str, Any] = {"QueueUrl": target, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                send["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**send)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1


def record_redrive(moved: int, cloudwatch: Any) -> None:
    """Counts the redrive where the functions' business metrics are (the dashboard shows
    it beside the DLQs): their namespace, with the service as the dimension."""
    if not moved:
        return
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    cloudwatch.put_metric_data(
        Namespace=variables["POWERTOOLS_METRICS_NAMESPACE"],
        MetricData=[
            {
                "MetricName": REDRIVE_METRIC,
                "Dimensions": [{"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}],
                "Unit": "Count",
                "Value": moved,
            }
        ],
    )


def redrive(
    dlq_url: str,
    sqs: Any | None = None,
    *,
    local: bool | None = None,
    cloudwatch: Any | None = None,
) -> int:
    """Moves every message in `dlq_url` back to its source queue; returns how many.
    `local` (default: AWS_ENDPOINT_URL is set) means an endpoint without move tasks."""
    sqs = sqs or boto3.client("sqs")
    if local is None:
        local = bool(os.environ.get("AWS_ENDPOINT_URL"))
    moved = move_by_copy(sqs, dlq_url) if local else move_with_task(sqs, dlq_url)
    record_redrive(moved, cloudwatch or boto3.client("cloudwatch"))
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("queue", nargs="?", help="DLQ URL (default: the local stack's order DLQ)")
    args = parser.parse_args(argv)
    dlq_url = args.queue
    if not dlq_url:
        outputs_file = local_dir() / "outputs.json"
        if not outputs_file.exists():
            parser.error(f"no QUEUE given and no local stack outputs ({outputs_file})")
        outputs = json.loads(outputs_file.read_text())
        dlq_url = outputs[DEFAULT_OUTPUT]
        os.environ.setdefault("AWS_ENDPOINT_URL", outputs["AwsEndpointUrl"])
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ.setdefault(variable, "local")
    try:
        moved = redrive(dlq_url)
    except RedriveError as error:
        print(f"redrive failed: {error}", file=sys.stderr)
        return 1
    except EndpointConnectionError as error:
        where = "is the local stack running? start it with `make run`" if not args.queue else ""
        print(
            f"redrive failed: nothing answers at {error.kwargs['endpoint_url']}; {where}".rstrip(
                "; "
            ),
            file=sys.stderr,
        )
        return 1
    print(f"moved {moved} message(s) from {dlq_url} back to its source queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
