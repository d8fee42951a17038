"""`make run`: Stockroom's stack on this machine, without Docker, read from template.yaml.

Starts moto's server as the AWS endpoint, creates what the template declares, serves the
template's HttpApi routes (payload 2.0 events, JWT checked with a local key), and drives
DynamoDB stream and SQS event sources by polling them. Handlers run in this process.
What is not emulated yet is printed at start (see `PARITY`).
"""

import json
import logging
import os
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devtools.queues import batch_event, delete_succeeded, queue_arn, receive_batch
from devtools.streams import lambda_record, streams_client
from devtools.template import (
    ROOT,
    event_sources,
    handler_location,
    http_routes,
    import_handler_module,
    load_template,
    resources,
)

LOCAL_DIR = ROOT / ".local"
KEY_FILE = LOCAL_DIR / "jwt-signing-key"
LOCAL_ISSUER = "https://stockroom.local/"
LOCAL_AUDIENCE = "stockroom-local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's request payload limit

PARITY = """\
parity with AWS:
  emulated      DynamoDB tables, SQS queues with redrive, S3 buckets (moto server);
                HttpApi routes with path parameters, payload 2.0 events, JWT bearer
                check (local HS256 key, issuer and audience), 10 MB payload limit;
                DynamoDB stream event sources (filter on eventName, partial batch
                failures retried on the next poll); SQS event sources (batch size,
                batching window, ReportBatchItemFailures: only successes deleted,
                failures return after the visibility timeout, then the DLQ); S3
                triggers with their prefix/suffix filters, invoked asynchronously
                (retries 1 s and 2 s apart, not minutes; then the on-failure queue)
  approximated  handlers run in this process, one event at a time per function (no
                pool of workers yet, so SQS MaximumConcurrency is 1); timeouts are
                not enforced; the environment is the union of the functions';
                each AWS request is served atomically (moto's conditional writes
                are not atomic under concurrent requests)
  not yet       CORS, hot reload, sample catalog load (issue 5);
                IAM, X-Ray, reserved concurrency are ignored"""


# ------------------------------------------------------------------------- tokens
def signing_key() -> str:
    """The local stack's HS256 key, made on first use and kept out of the repository."""
    LOCAL_DIR.mkdir(exist_ok=True)
    if not KEY_FILE.exists():
        KEY_FILE.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
        KEY_FILE.chmod(0o600)
    return KEY_FILE.read_text().strip()


def make_token(sub: str, scopes: str = "", ttl_seconds: int = 3600) -> str:
    import jwt

    now = int(time.time())
    claims = {
        "sub": sub,
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
        "scope": scopes,
    }
    return jwt.encode(claims, signing_key(), algorithm="HS256")


def verify_token(header: str | None) -> dict[str, Any] | None:
    """The token's claims as API Gateway passes them (strings), or None if not valid."""
    import jwt

    if not header or not header.lower().startswith("bearer "):
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            header[7:].strip(),
            signing_key(),
            algorithms=["HS256"],
            audience=LOCAL_AUDIENCE,
            issuer=LOCAL_ISSUER,
            options={"require": ["exp", "sub"]},
        )
    except jwt.PyJWTError:
        return None
    return {key: value if isinstance(value, str) else str(value) for key, value in claims.items()}


# ------------------------------------------------------------------------ routing
@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    secured: bool
    pattern: re.Pattern[str]


def compile_routes() -> list[Route]:
    routes = []
    for (method, path), (function, secured) in http_routes().items():
        regex = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", path)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        routes.append(Route(method, path, function, secured, re.compile(f"^{regex}$")))
    # Literal paths win over parameterised ones, as in API Gateway.
    return sorted(routes, key=lambda route: route.path.count("{"))


def load_handler(function: str) -> Any:
    return getattr(import_handler_module(function), handler_location(function).attribute)


class LocalContext:
    def __init__(self, function: str) -> None:
        template = load_template()
        timeout = template["Resources"][function]["Properties"].get(
            "Timeout", template["Globals"]["Function"].get("Timeout", 3)
        )
        self.function_name = function
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{function}"
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + float(timeout)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# One event at a time per function, as in one Lambda execution environment: handlers
# keep per-request state (Powertools' resolver does) in module globals.
_environment_locks: dict[str, threading.Lock] = {}


def invoke(function: str, trigger: str, event: dict[str, Any]) -> Any:
    lock = _environment_locks.setdefault(function, threading.Lock())
    started = time.perf_counter()
    outcome = "ok"
    try:
        with lock:
            result = load_handler(function)(event, LocalContext(function))
    except Exception as error:
        outcome = f"error {type(error).__name__}"
        raise
    else:
        if isinstance(result, dict) and "statusCode" in result:
            outcome = str(result["statusCode"])
        return result
    finally:
        elapsed = (time.perf_counter() - started) * 1000
        print(f"[invoke] {function} {trigger} {elapsed:.1f} ms {outcome}", file=sys.stderr)


def build_event(
    route: Route,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    params: dict[str, str],
    claims: dict[str, Any] | None,
) -> dict[str, Any]:
    split = urlsplit(url)
    query: dict[str, str] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    route_key = f"{route.method} {route.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key,
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query
    if params:
        event["pathParameters"] = params
    if body:
        event["body"] = body.decode("utf-8", errors="replace")
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


def make_http_handler(routes: list[Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _reject(self, status: int, message: str) -> None:
            body = json.dumps({"message": message}).encode()
            self._answer(status, {"Content-Type": "application/json"}, body)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reject(413, "Request Entity Too Large")
                return
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            for route in routes:
                match = route.pattern.match(path)
                if match and route.method == self.command:
                    break
            else:
                self._reject(404, "Not Found")
                return
            headers = {key.lower(): value for key, value in self.headers.items()}
            claims = None
            if route.secured:
                claims = verify_token(headers.get("authorization"))
                if claims is None:
                    self._reject(401, "Unauthorized")
                    return
            event = build_event(
                route, self.command, self.path, headers, body, match.groupdict(), claims
            )
            try:
                result = invoke(route.function, f"http {route.method} {route.path}", event)
            except Exception:
                self._reject(500, "Internal Server Error")
                return
            response_headers = dict(result.get("headers") or {})
            payload = (result.get("body") or "").encode()
            self._answer(int(result["statusCode"]), response_headers, payload)

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

    return Handler


# ------------------------------------------------------------------------ streams
def stream_pollers(physical: dict[str, str], stop: threading.Event) -> list[threading.Thread]:
    import boto3

    streams = streams_client()
    dynamodb = boto3.client("dynamodb")
    threads = []
    for function, properties in event_sources("DynamoDB"):
        table = properties["Stream"]["Fn::GetAtt"][0]
        arn = dynamodb.describe_table(TableName=physical[table])["Table"]["LatestStreamArn"]
        filters = [
            json.loads(f["Pattern"])
            for f in properties.get("FilterCriteria", {}).get("Filters", [])
        ]
        batch_size = int(properties.get("BatchSize", 100))
        thread = threading.Thread(
            target=_poll_stream,
            args=(streams, arn, function, filters, batch_size, stop),
            daemon=True,
        )
        threads.append(thread)
    return threads


def _passes(record: dict[str, Any], filters: list[dict[str, Any]]) -> bool:
    return not filters or any(
        all(record.get(key) in allowed for key, allowed in pattern.items()) for pattern in filters
    )


def _poll_stream(
    streams: Any,
    arn: str,
    function: str,
    filters: list[dict[str, Any]],
    batch_size: int,
    stop: threading.Event,
) -> None:
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    pending: list[dict[str, Any]] = []
    while not stop.is_set():
        response = streams.get_records(ShardIterator=iterator, Limit=batch_size)
        iterator = response.get("NextShardIterator") or iterator
        for record in response.get("Records", []):
            shaped = lambda_record(record, arn, os.environ["AWS_DEFAULT_REGION"])
            if _passes(shaped, filters):
                pending.append(shaped)
        if pending:
            try:
                result = invoke(function, "dynamodb-stream", {"Records": pending[:batch_size]})
                failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                done = [
                    r for r in pending[:batch_size] if r["dynamodb"]["SequenceNumber"] not in failed
                ]
                pending = [r for r in pending if r not in done]
            except Exception:
                pass  # the whole batch is retried on the next poll, as Lambda would
        stop.wait(0.5)


# ------------------------------------------------------------------------- queues
def queue_pollers(physical: dict[str, str], stop: threading.Event) -> list[threading.Thread]:
    return [
        threading.Thread(
            target=_poll_queue,
            args=(function, physical[properties["Queue"]["Fn::GetAtt"][0]], properties, stop),
            daemon=True,
        )
        for function, properties in event_sources("SQS")
    ]


def _poll_queue(
    function: str, queue_url: str, properties: dict[str, Any], stop: threading.Event
) -> None:
    import boto3

    sqs = boto3.client("sqs")
    arn = queue_arn(sqs, queue_url)
    batch_size = int(properties.get("BatchSize", 10))
    window = float(properties.get("MaximumBatchingWindowInSeconds", 0))
    reports_failures = "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", [])
    while not stop.is_set():
        messages = receive_batch(sqs, queue_url, batch_size)
        if not messages:
            stop.wait(0.2)  # short polls: a long poll would hold moto's one request lock
            continue
        filled_by = time.monotonic() + window
        while len(messages) < batch_size and time.monotonic() < filled_by:
            stop.wait(0.1)
            messages += receive_batch(sqs, queue_url, batch_size - len(messages))
        try:
            result = invoke(function, "sqs", batch_event(messages, arn, sqs.meta.region_name))
        except Exception:
            continue  # nothing deleted: every message returns after its visibility timeout
        delete_succeeded(sqs, queue_url, messages, result, reports_failures)


# ---------------------------------------------------------------------- S3 triggers
def bucket_triggers(physical: dict[str, str], stop: threading.Event) -> list[threading.Thread]:
    """The template's S3 events: moto sends each bucket's notifications (with the events'
    filters) to a local queue, and a poller invokes the function asynchronously with each,
    as Lambda does: retries, then the on-failure destination."""
    import boto3

    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    configurations: dict[str, list[Any]] = {}
    for function, properties in event_sources("S3"):
        bucket = physical[properties["Bucket"]["Ref"]]
        events = properties["Events"]
        configuration: dict[str, Any] = {
            # The configuration id names the function: moto puts it in each record.
            "Id": f"{function}-{len(configurations.get(bucket, []))}",
            "Events": events if isinstance(events, list) else [events],
        }
        rules = properties.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        configurations.setdefault(bucket, []).append(configuration)
    threads = []
    for bucket, bucket_configurations in configurations.items():
        queue_url = sqs.create_queue(QueueName=f"{bucket}-notifications")["QueueUrl"]
        arn = queue_arn(sqs, queue_url)
        queues: Any = [{"QueueArn": arn, **each} for each in bucket_configurations]
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"QueueConfigurations": queues}
        )
        threads.append(
            threading.Thread(
                target=_poll_notifications, args=(sqs, queue_url, physical, stop), daemon=True
            )
        )
    return threads


def _poll_notifications(
    sqs: Any, queue_url: str, physical: dict[str, str], stop: threading.Event
) -> None:
    while not stop.is_set():
        messages = receive_batch(sqs, queue_url, 10)
        if not messages:
            stop.wait(0.2)
            continue
        for message in messages:
            # S3 sends a test event when notifications are configured; it has no Records.
            for record in json.loads(message["Body"]).get("Records", []):
                function = record["s3"]["configurationId"].rsplit("-", 1)[0]
                invoke_async(function, "s3", {"Records": [record]}, physical)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def invoke_async(
    function: str, trigger: str, event: dict[str, Any], physical: dict[str, str]
) -> None:
    """Lambda's asynchronous invocation: the first try and MaximumRetryAttempts retries
    (seconds apart here, minutes on AWS), then the event to the on-failure destination."""
    import boto3

    config = load_template()["Resources"][function]["Properties"].get("EventInvokeConfig", {})
    attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
    for attempt in range(1, attempts + 1):
        try:
            invoke(function, f"{trigger} (attempt {attempt})", event)
        except Exception as error:
            failure = error
            time.sleep(attempt)
        else:
            return
    destination = config.get("DestinationConfig", {}).get("OnFailure", {})
    if destination.get("Type") != "SQS":
        print(f"[invoke] {function}: event dropped after {attempts} attempts", file=sys.stderr)
        return
    record = {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:local:000000000000:function:{function}",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {"errorMessage": str(failure), "errorType": type(failure).__name__},
    }
    boto3.client("sqs").send_message(
        QueueUrl=physical[destination["Destination"]["Fn::GetAtt"][0]],
        MessageBody=json.dumps(record),
    )


# --------------------------------------------------------------------------- moto
def start_aws_endpoint(host: str, port: int, latency_seconds: float = 0.0) -> Any:
    """moto's server, answering one request at a time. moto checks a condition and
    writes in separate steps, so concurrent requests could both pass one condition
    (DynamoDB makes each request atomic); one lock restores that. `latency_seconds`
    delays each request outside the lock, as a network round trip would (benchmarks)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def atomic(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if latency_seconds:
            time.sleep(latency_seconds)
        with lock:
            return list(app(environ, start_response))

    server = make_server(host, port, atomic, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def use_local_endpoint(endpoint: str) -> None:
    """Points boto3 and Powertools in this process at a local AWS endpoint."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-west-1"),
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "stockroom",
            "POWERTOOLS_METRICS_NAMESPACE": "Stockroom",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_PROFILE", None)


# -------------------------------------------------------------------------- main
def main() -> None:
    host = os.environ.get("STOCKROOM_HOST", "127.0.0.1")
    aws_port = int(os.environ.get("STOCKROOM_AWS_PORT", "4566"))
    api_port = int(os.environ.get("STOCKROOM_API_PORT", "3000"))
    endpoint = f"http://{host}:{aws_port}"
    use_local_endpoint(endpoint)
    from devtools.provision import provision
    from devtools.template import function_environment

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise
    moto = start_aws_endpoint(host, aws_port)
    physical = provision()
    for function in resources("AWS::Serverless::Function"):
        for key, value in function_environment(function, physical).items():
            os.environ.setdefault(key, value)

    stop = threading.Event()
    pollers = stream_pollers(physical, stop) + queue_pollers(physical, stop)
    for thread in pollers + bucket_triggers(physical, stop):
        thread.start()
    server = ThreadingHTTPServer((host, api_port), make_http_handler(compile_routes()))
    outputs = {
        "ApiUrl": f"http://{host}:{api_port}",
        "ImportBucketName": physical.get("ImportBucket", ""),
        "AwsEndpointUrl": endpoint,
        **{f"{name}Name": value for name, value in physical.items() if "Table" in name},
        **{f"{name}Url": value for name, value in physical.items() if "Queue" in name},
    }
    LOCAL_DIR.mkdir(exist_ok=True)
    (LOCAL_DIR / "outputs.json").write_text(json.dumps(outputs, indent=2) + "\n")
    print(PARITY)
    print(f"AWS endpoint  {endpoint}")
    print(f"HTTP API      http://{host}:{api_port}   (token: make token SUB=alice)")
    print("outputs       .local/outputs.json   -- Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
        moto.shutdown()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "token":
        print(make_token(sys.argv[2], " ".join(sys.argv[3:])))
    else:
        main()
