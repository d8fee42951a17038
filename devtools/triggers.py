"""The template's event sources, driven as Lambda drives them, by polling the local AWS
endpoint: DynamoDB streams and SQS queues (event source mappings), S3 notifications
(asynchronous invocations with retries and an on-failure destination), and schedules
(EventBridge rules, run on a local interval)."""

import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from devtools.http_api import Invoke, local_dir
from devtools.intrinsics import Stack
from devtools.queues import batch_event, delete_succeeded, queue_arn, receive_batch
from devtools.streams import lambda_record, streams_client
from devtools.template import event_sources, function_metadata, function_properties

# Lambda polls a queue with five pollers when no MaximumConcurrency caps them. Here a
# queue gets at most five, whatever its MaximumConcurrency: on a laptop's few cores the
# machine binds before more batches at once could pay.
DEFAULT_SQS_CONCURRENCY = 5
LOCAL_MAX_POLLERS = 5
# Schedules run this often locally, whatever their rate (a local setting).
DEFAULT_SCHEDULE_SECONDS = 30.0
POLL_INTERVAL_SECONDS = 0.2


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _daemon[*Ts](name: str, target: Callable[[*Ts], object], *args: *Ts) -> threading.Thread:
    """A thread, not yet started, running `target(*args)` under `name` (as logs and
    thread dumps show it), that never holds the process open."""
    return threading.Thread(target=target, args=args, name=name, daemon=True)


def _failure_record(
    stack: Stack, function: str, condition: str, attempts: int, error: Exception
) -> dict[str, Any]:
    """The envelope Lambda sends to an on-failure destination."""
    return {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": stack.get_att(function, "Arn"),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": getattr(error, "shape", {"errorMessage": str(error)}),
    }


def _send_to_destination(
    stack: Stack, destination: dict[str, Any], record: dict[str, Any], function: str
) -> None:
    if destination.get("Type", "SQS") != "SQS" or "Destination" not in destination:
        _log(f"[invoke] {function}: failure dropped (no SQS on-failure destination)")
        return
    queue_url = _queue_url(stack, destination["Destination"])
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))


def _queue_url(stack: Stack, arn_reference: Any) -> str:
    """The URL of the queue an ARN (or a `GetAtt Queue.Arn`) names."""
    arn = str(stack.resolve(arn_reference))
    account, name = arn.split(":")[4:6]
    return str(
        boto3.client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)[
            "QueueUrl"
        ]
    )


# ----------------------------------------------------------------------- streams
def stream_pollers(
    stack: Stack, invoke: Invoke, stop: threading.Event, *, fresh_iterators: bool = False
) -> list[threading.Thread]:
    return [
        _daemon(
            f"stream {function}",
            StreamPoller(stack, invoke, function, properties, fresh_iterators=fresh_iterators).run,
            stop,
        )
        for function, properties in event_sources("DynamoDB")
    ]


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event filtering, as far as this template's patterns go: objects nest, and
    a list holds the exact values a field may have."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            matches(wanted, value.get(key)) for key, wanted in pattern.items()
        )
    if isinstance(pattern, list) and all(isinstance(v, str | int | float) for v in pattern):
        return value in pattern
    raise ValueError(f"filter pattern not supported locally: {pattern!r}")


class StreamPoller:
    """A DynamoDB stream event source mapping: shards in lineage order (a child once its
    parent is read to its end), each read from TRIM_HORIZON through NextShardIterator;
    records in order, batches retried until they succeed or MaximumRetryAttempts is
    spent (-1: until they succeed), halved first under BisectBatchOnFunctionError,
    resumed from the first reported failure under ReportBatchItemFailures, and a batch
    given up on described to the OnFailure destination. A record leaves the poller's
    buffer only once its batch succeeded (or was given up on): that is the checkpoint.

    `fresh_iterators` is for moto's streams: moto 5.2.5 restores a copy of the table when
    a transaction is cancelled, and iterators opened before keep reading the old copy's
    stream, which never grows again; so each poll opens a new iterator after the last
    record read."""

    def __init__(
        self,
        stack: Stack,
        invoke: Invoke,
        function: str,
        properties: dict[str, Any],
        *,
        fresh_iterators: bool = False,
    ) -> None:
        self.stack, self.invoke, self.function = stack, invoke, function
        self.arn = str(stack.resolve(properties["Stream"]))
        self.filters = [
            json.loads(item["Pattern"])
            for item in properties.get("FilterCriteria", {}).get("Filters", [])
        ]
        self.batch_size = int(properties.get("BatchSize", 100))
        self.max_retries = int(properties.get("MaximumRetryAttempts", -1))
        self.bisect = bool(properties.get("BisectBatchOnFunctionError", False))
        self.reports_failures = "ReportBatchItemFailures" in properties.get(
            "FunctionResponseTypes", []
        )
        self.destination = properties.get("DestinationConfig", {}).get("OnFailure", {})
        self.fresh_iterators = fresh_iterators
        self.pending: list[dict[str, Any]] = []
        self._limit = self.batch_size
        self._attempts = 0
        self._resumed_after: str | None = None  # the last record a trimmed iterator resumed after

    def passes(self, record: dict[str, Any]) -> bool:
        return not self.filters or any(matches(pattern, record) for pattern in self.filters)

    def run(self, stop: threading.Event) -> None:
        streams = streams_client()
        region = os.environ["AWS_DEFAULT_REGION"]
        finished: set[str] = set()
        shard: str | None = None
        iterator: str | None = None
        last_read: str | None = None
        while not stop.is_set():
            if iterator is None and not self.pending:
                if shard is not None:
                    finished.add(shard)  # read to its end, and every record delivered
                shard = self._next_shard(streams, finished)
                last_read = None
                if shard is not None:
                    iterator = self._iterator(streams, shard, None)
            if iterator is not None and shard is not None:
                if self.fresh_iterators and last_read:
                    iterator = self._iterator(streams, shard, last_read)
                try:
                    response = streams.get_records(ShardIterator=iterator, Limit=self.batch_size)
                except streams.exceptions.ExpiredIteratorException:
                    # After the last record read: neither skips nor repeats one.
                    response = {"NextShardIterator": self._iterator(streams, shard, last_read)}
                except streams.exceptions.TrimmedDataAccessException:
                    response = {"NextShardIterator": self._after_trim(streams, shard, last_read)}
                for record in response.get("Records", []):
                    last_read = record["dynamodb"]["SequenceNumber"]
                    shaped = lambda_record(record, self.arn, region)
                    if self.passes(shaped):
                        self.pending.append(shaped)
                # None once a closed shard is read to its end: its children come next.
                iterator = response.get("NextShardIterator")
            if self.pending and shard is not None:
                self.deliver(shard)
            stop.wait(POLL_INTERVAL_SECONDS)

    def _after_trim(self, streams: Any, shard: str, last_read: str | None) -> str:
        """Where to go on when GetRecords calls the iterator trimmed.

        Before any record is read, nothing is lost: DynamoDB Local numbers the records of
        all its tables' streams in one sequence, so an iterator opened on an empty shard
        points before the shard's first record and is called trimmed once one arrives (a
        consumer starting on a fresh stream); the horizon is where to start again, quietly.
        After a record, the first trim resumes right after it (neither skips nor repeats
        one); a second in a row with nothing read between is a real trim: the records
        after it are gone, as they are for Lambda, and the poller says so and goes on from
        the oldest record the shard still holds."""
        if last_read is not None and self._resumed_after != last_read:
            self._resumed_after = last_read
            return self._iterator(streams, shard, last_read)
        if last_read is not None:
            _log(
                f"[stream] {self.function}: warning: records of shard {shard} after sequence "
                f"number {last_read} were trimmed from the stream before they were read, and "
                "are lost to this function; going on from the oldest record the shard holds"
            )
        return self._iterator(streams, shard, None)

    def _next_shard(self, streams: Any, finished: set[str]) -> str | None:
        """The oldest shard not read yet whose parent (if the stream still has it) is."""
        shards: list[dict[str, Any]] = []
        start: dict[str, str] = {}
        while True:
            description = streams.describe_stream(StreamArn=self.arn, **start)["StreamDescription"]
            shards += description["Shards"]
            if not description.get("LastEvaluatedShardId"):
                break
            start = {"ExclusiveStartShardId": description["LastEvaluatedShardId"]}
        known = {item["ShardId"] for item in shards}
        ready = [
            item
            for item in shards
            if item["ShardId"] not in finished
            and (
                item.get("ParentShardId") in finished | {None} or item["ParentShardId"] not in known
            )
        ]
        ready.sort(key=lambda item: int(item["SequenceNumberRange"]["StartingSequenceNumber"]))
        return str(ready[0]["ShardId"]) if ready else None

    def _iterator(self, streams: Any, shard: str, after: str | None) -> str:
        position: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        return str(
            streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard, **position)[
                "ShardIterator"
            ]
        )

    def deliver(self, shard_id: str) -> None:
        """Invokes the function with the next batch and moves past what succeeded."""
        batch = self.pending[: self._limit]
        try:
            result = self.invoke(self.function, "dynamodb-stream", {"Records": batch})
        except Exception as error:
            self._failed(batch, 0, error, shard_id)
            return
        failed = set()
        if self.reports_failures:
            failed = {
                item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])
            }
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        if not failed:
            self._succeeded(len(batch))
            return
        # Lambda checkpoints before the lowest failed record and retries from there; an
        # identifier naming no record of the batch fails the whole batch.
        first_failed = min(
            (sequence_numbers.index(number) for number in failed if number in sequence_numbers),
            default=0,
        )
        self._failed(batch, first_failed, RuntimeError("batch item failures"), shard_id)

    def _succeeded(self, count: int) -> None:
        del self.pending[:count]
        self._attempts = 0
        if not self.pending:  # a halved batch stays halved until the backlog is through
            self._limit = self.batch_size

    def _failed(
        self, batch: list[dict[str, Any]], done: int, error: Exception, shard_id: str
    ) -> None:
        if done:
            self._succeeded(done)
            batch = batch[done:]
        if self.bisect and len(batch) > 1:
            self._limit = len(batch) // 2  # halving does not count as a retry
            return
        self._attempts += 1
        if self.max_retries < 0 or self._attempts <= self.max_retries:
            return
        record = _failure_record(
            self.stack, self.function, "RetryAttemptsExhausted", self._attempts, error
        )
        record["DDBStreamBatchInfo"] = {
            "shardId": shard_id,
            "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": batch[0]["dynamodb"].get(
                "ApproximateCreationDateTime"
            ),
            "approximateArrivalOfLastRecord": batch[-1]["dynamodb"].get(
                "ApproximateCreationDateTime"
            ),
            "batchSize": len(batch),
            "streamArn": self.arn,
        }
        _send_to_destination(self.stack, self.destination, record, self.function)
        _log(
            f"[invoke] {self.function}: gave up on {len(batch)} stream record(s) "
            f"after {self._attempts} attempts"
        )
        self._succeeded(len(batch))  # skipped: the stream moves on


# ------------------------------------------------------------------------ queues
def queue_pollers(stack: Stack, invoke: Invoke, stop: threading.Event) -> list[threading.Thread]:
    """Each SQS event source's pollers: one per unit of MaximumConcurrency (at most
    LOCAL_MAX_POLLERS), each invoking with batches of its own."""
    threads = []
    for function, properties in event_sources("SQS"):
        scaling = properties.get("ScalingConfig", {})
        concurrency = min(
            int(scaling.get("MaximumConcurrency", DEFAULT_SQS_CONCURRENCY)), LOCAL_MAX_POLLERS
        )
        arn = str(stack.resolve(properties["Queue"]))
        url = _queue_url(stack, arn)
        for index in range(concurrency):
            name = f"sqs {function} {index}"
            threads.append(_daemon(name, _poll_queue, invoke, function, url, arn, properties, stop))
    return threads


def paused_sources() -> Path:
    """A file named after a function here pauses its SQS event sources, as disabling the
    event source mapping does on AWS: messages wait in the queue until it is removed."""
    return local_dir() / "paused"


def _poll_queue(
    invoke: Invoke,
    function: str,
    queue_url: str,
    arn: str,
    properties: dict[str, Any],
    stop: threading.Event,
) -> None:
    sqs = boto3.client("sqs")
    batch_size = int(properties.get("BatchSize", 10))
    window = float(properties.get("MaximumBatchingWindowInSeconds", 0))
    reports_failures = "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", [])
    paused = paused_sources() / function
    while not stop.is_set():
        if paused.exists():
            stop.wait(POLL_INTERVAL_SECONDS)
            continue
        messages = receive_batch(sqs, queue_url, batch_size)
        if not messages:
            stop.wait(POLL_INTERVAL_SECONDS)  # short polls: a long poll would hold moto's lock
            continue
        # The batching window: receive until the batch is full, waiting only while the
        # queue has nothing more (a backlog fills a batch at once, as on AWS).
        filled_by = time.monotonic() + window
        while len(messages) < batch_size and time.monotonic() < filled_by:
            more = receive_batch(sqs, queue_url, batch_size - len(messages))
            if not more:
                stop.wait(0.1)
            messages += more
        try:
            result = invoke(function, "sqs", batch_event(messages, arn, sqs.meta.region_name))
        except Exception:
            continue  # nothing deleted: every message returns after its visibility timeout
        delete_succeeded(sqs, queue_url, messages, result, reports_failures)


# ------------------------------------------------------------------- S3 triggers
class AsyncInvoker:
    """Lambda's asynchronous invocation: each event in its own thread, the first try and
    EventInvokeConfig's MaximumRetryAttempts retries (1 s, then 2 s apart; minutes on
    AWS), then the event to the OnFailure destination."""

    def __init__(self, stack: Stack, invoke: Invoke) -> None:
        self.stack, self.invoke = stack, invoke
        self._in_flight = 0
        self._idle = threading.Condition()

    def submit(self, function: str, trigger: str, event: dict[str, Any]) -> None:
        with self._idle:
            self._in_flight += 1
        threading.Thread(target=self._run, args=(function, trigger, event), daemon=True).start()

    def settle(self, timeout: float) -> bool:
        """Waits until no asynchronous invocation is under way; False if one still is."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def _run(self, function: str, trigger: str, event: dict[str, Any]) -> None:
        try:
            self._deliver(function, trigger, event)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _deliver(self, function: str, trigger: str, event: dict[str, Any]) -> None:
        config = function_properties(function).get("EventInvokeConfig", {})
        attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
        for attempt in range(1, attempts + 1):
            try:
                self.invoke(function, f"{trigger} (attempt {attempt})", event)
            except Exception as error:
                failure = error
                if attempt < attempts:
                    time.sleep(attempt)
            else:
                return
        record = _failure_record(self.stack, function, "RetriesExhausted", attempts, failure)
        record["requestPayload"] = event
        destination = config.get("DestinationConfig", {}).get("OnFailure", {})
        _send_to_destination(self.stack, destination, record, function)


def bucket_triggers(
    stack: Stack, invoker: AsyncInvoker, stop: threading.Event
) -> tuple[list[threading.Thread], list[str]]:
    """The template's S3 events: moto sends each bucket's notifications (with the events'
    filters) to a local queue, and a poller hands each record to `invoker`. Returns the
    pollers and the notification queues' URLs."""
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    configurations: dict[str, list[Any]] = {}
    for function, properties in event_sources("S3"):
        bucket = str(stack.resolve(properties["Bucket"]))
        events = properties["Events"]
        configuration: dict[str, Any] = {
            # The configuration id names the function: moto puts it in each record.
            "Id": f"{function}-{len(configurations.get(bucket, []))}",
            "Events": events if isinstance(events, list) else [events],
        }
        rules = properties.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": stack.resolve(rules)}}
        configurations.setdefault(bucket, []).append(configuration)
    threads, queue_urls = [], []
    for bucket, bucket_configurations in configurations.items():
        queue_url = sqs.create_queue(QueueName=f"{bucket[:60]}-notifications")["QueueUrl"]
        arn = queue_arn(sqs, queue_url)
        queues: Any = [{"QueueArn": arn, **each} for each in bucket_configurations]
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues}
        )
        threads.append(_daemon(f"s3 {bucket}", _poll_notifications, sqs, queue_url, invoker, stop))
        queue_urls.append(queue_url)
    return threads, queue_urls


def _poll_notifications(
    sqs: Any, queue_url: str, invoker: AsyncInvoker, stop: threading.Event
) -> None:
    while not stop.is_set():
        messages = receive_batch(sqs, queue_url, 10)
        if not messages:
            stop.wait(POLL_INTERVAL_SECONDS)
            continue
        for message in messages:
            # S3 sends a test event when notifications are configured; it has no Records.
            for record in json.loads(message["Body"]).get("Records", []):
                function = record["s3"]["configurationId"].rsplit("-", 1)[0]
                invoker.submit(function, "s3", {"Records": [record]})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


# --------------------------------------------------------------------- schedules
def schedule_triggers(
    stack: Stack, invoker: AsyncInvoker, stop: threading.Event
) -> list[threading.Thread]:
    """Each Schedule event's rule, firing every STOCKROOM_SCHEDULE_SECONDS (default 30 s)
    instead of its rate or cron, or every `LocalScheduleSeconds` of its function's
    Metadata where that is sooner (what must happen within seconds locally, such as
    expiring holds), with the event EventBridge sends; invoked asynchronously, as
    EventBridge invokes a function."""
    threads = []
    for function, properties in event_sources("Schedule") + event_sources("ScheduleV2"):
        expression = str(
            stack.resolve(properties.get("Schedule") or properties.get("ScheduleExpression"))
        )
        name = f"schedule {function}"
        interval = schedule_interval(function)
        threads.append(
            _daemon(name, _fire_schedule, stack, invoker, function, expression, interval, stop)
        )
    return threads


def schedule_interval(function: str) -> float:
    """Seconds between local runs of `function`'s schedule: STOCKROOM_SCHEDULE_SECONDS
    (default 30), or its Metadata's LocalScheduleSeconds if sooner."""
    interval = float(os.environ.get("STOCKROOM_SCHEDULE_SECONDS") or DEFAULT_SCHEDULE_SECONDS)
    return min(interval, float(function_metadata(function).get("LocalScheduleSeconds", interval)))


def _fire_schedule(
    stack: Stack,
    invoker: AsyncInvoker,
    function: str,
    expression: str,
    interval: float,
    stop: threading.Event,
) -> None:
    rule = f"arn:aws:events:{stack.region}:{stack.account}:rule/{stack.name}-{function}"
    while not stop.wait(interval):
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": stack.account,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": stack.region,
            "resources": [rule],
            "detail": {},
        }
        invoker.submit(function, f"schedule {expression}", event)
