"""`make run`: the stack template.yaml declares, on this machine, without Docker.

Starts DynamoDB Local (devtools/dynamodb_local.py) for DynamoDB and its streams and
moto's server for the rest of AWS, creates what the template declares (its
intrinsics resolved as `sam deploy` would), runs each function in warm processes of its
own, serves the HTTP API, drives the stream, queue and bucket event sources, reloads a
function's processes when its code changes, and loads the sample data under `seed/`
through the real path. What it emulates, approximates and ignores is printed at start
(`parity`). Nothing here names a Stockroom resource: everything comes from the template.

    python -m devtools.local_stack            # the stack, until Ctrl-C
    STOCKROOM_DYNAMODB=moto python -m devtools.local_stack     # moto's DynamoDB, no JVM
    STOCKROOM_CACHE_TIER=none python -m devtools.local_stack   # no shared cache tier
    STOCKROOM_PARAMETER_OVERRIDES="StuckOrderSeconds=30" python -m devtools.local_stack
    # dev only: a function run with another handler, a module named from the repository's
    # root (a benchmark's baseline), its code folder and layers still on its path
    STOCKROOM_HANDLER_OVERRIDES="OrderWorkerFunction=bench.per_order_worker.handler" \
        python -m devtools.local_stack
    python -m devtools.local_stack token SUB [SCOPES...]
"""

import atexit
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools import cache_server, dynamodb_limits, dynamodb_local, limits_proxy
from devtools.http_api import (
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    LocalApiServer,
    api_cors,
    compile_routes,
    local_dir,
    make_http_handler,
    make_token,
)
from devtools.intrinsics import Stack, UnresolvedError
from devtools.metrics import FUNCTION_ENVIRONMENT as METRICS_ENVIRONMENT
from devtools.metrics import StackMetrics
from devtools.ports import check_free
from devtools.template import ROOT, load_template, resources
from devtools.workers import FunctionPool, FunctionSpec, Observer, invoke_logged

SEED_DIR = ROOT / "seed"
STATE_FILE = "stack.json"
SAM_ENV_VARS_FILE = "sam-env-vars.json"
OUTPUTS_FILE = "outputs.json"
SEED_SETTLE_SECONDS = 60
WARM_SECONDS = 15
RELOAD_SCAN_SECONDS = 0.2
API_TYPES = ("AWS::Serverless::HttpApi", "AWS::Serverless::Api")

PARITY = """\
parity with AWS:
  dynamodb      {dynamodb}
  cache tier    {cache}
  emulated      SQS queues with redrive, S3 buckets and secrets (moto server; a secret's
                value is in the outputs), and the tables, named
                and wired from the template (Parameters, Conditions, Ref, GetAtt, Sub,
                If, Join, Select, Split resolved); each function in warm processes of
                its own (a pool per function that grows under concurrent invocations),
                with the template's environment, its layer's folder on its path and its
                timeout enforced; HttpApi routes, payload 2.0 events, JWT bearer check
                (local HS256 key, issuer and audience), CORS as declared, payload limits
                (10 MB request, 6 MB function response); DynamoDB stream sources (shards
                in lineage order, filters, batch size, partial batch failures, bisection,
                MaximumRetryAttempts, on-failure destination); SQS sources (batch
                size, batching window, MaximumConcurrency pollers up to 5,
                ReportBatchItemFailures, visibility timeout, redrive to the DLQ); S3
                notifications with prefix/suffix filters, invoked asynchronously (two
                retries, then the on-failure destination); Schedule events, invoked
                asynchronously with EventBridge's event
  approximated  async retries come 1 s and 2 s apart (minutes on AWS); schedules fire
                every STOCKROOM_SCHEDULE_SECONDS (30) whatever their rate, or as often
                as a function's Metadata LocalScheduleSeconds asks if sooner; one stream
                shard at a time; at most STOCKROOM_MAX_ENVIRONMENTS (8) processes per
                function unless ReservedConcurrentExecutions says otherwise; moto serves
                one request at a time (its conditional writes are not atomic under
                concurrency), its SQS kept as fast with 20,000 messages waiting as
                with none (devtools/moto_sqs.py: the same answers, faster); a
                stack's data lives in memory until Ctrl-C; functions can import what the
                dev venv holds (Lambda: the runtime's boto3 and the layers)
  ignored       IAM (every call is allowed), X-Ray, CloudWatch (its metrics are served
                as Prometheus's on MetricsUrl; alarms: make monitor), log groups, API
                throttling and access logs, the CloudFront edge cache (no EdgeUrl output;
                the API's Cache-Control is as deployed), aliases and deployment
                preferences (the latest code serves), lifecycle rules, memory limits{ttl}"""

_DYNAMODB_LOCAL = """DynamoDB Local 1.25.1 (AWS's emulator): concurrent requests, DynamoDB's
                conditions, transactions (ClientRequestToken honoured) and streams; TTL
                deletes expired items within seconds (DynamoDB: within days); it does not
                throttle, and its stream has one shard; transactions on one item wait
                for each other (DynamoDB cancels them with TransactionConflict: a hot
                SKU's conflicts and their retries do not happen here); its speed is this
                machine's CPU (about 600 conditional updates/s on 2 cores shared with the
                client), not a partition's limits"""
_MOTO_DYNAMODB = """moto (STOCKROOM_DYNAMODB=moto): one request at a time, no TTL expiry;
                the stream poller opens a fresh iterator each poll (moto restores a table
                copy when a transaction is cancelled)"""


_CACHE_SERVER = """a real server (Valkey, as the deployed tier runs it), in memory, no
                TLS, one node: CACHE_URL is redis://127.0.0.1:<port> (`CacheUrl`)"""
_NO_CACHE = "none (STOCKROOM_CACHE_TIER=none): CACHE_URL is empty, as deployed without it"


def parity(dynamodb_local: bool, cache: bool = True) -> str:
    """What the local stack emulates, approximates and ignores, for its DynamoDB backend
    and with or without the shared cache tier."""
    return PARITY.format(
        dynamodb=_DYNAMODB_LOCAL if dynamodb_local else _MOTO_DYNAMODB,
        cache=_CACHE_SERVER if cache else _NO_CACHE,
        ttl="" if dynamodb_local else ", TTL expiry",
    )


# ----------------------------------------------------------------- AWS endpoint
def start_aws_endpoint(host: str, port: int) -> Any:
    """moto's server, answering one request at a time. moto checks a condition and
    writes in separate steps, so concurrent requests could both pass one condition
    (DynamoDB makes each request atomic); one lock restores that. Its SQS keeps its
    speed as queues back up (devtools/moto_sqs.py)."""
    from devtools import moto_sqs

    moto_sqs.install()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def atomic(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with lock:
            return list(app(environ, start_response))

    server = make_server(host, port, atomic, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def local_aws_environment(endpoint: str, dynamodb: str | None = None) -> dict[str, str]:
    """What points boto3 and Powertools at a local AWS endpoint, and DynamoDB and its
    streams at `dynamodb` when another endpoint serves them (boto3's service-specific
    endpoint variables)."""
    region = os.environ.get("AWS_DEFAULT_REGION", "eu-west-1")
    services = (
        {"AWS_ENDPOINT_URL_DYNAMODB": dynamodb, "AWS_ENDPOINT_URL_DYNAMODB_STREAMS": dynamodb}
        if dynamodb
        else {}
    )
    return {
        "AWS_ENDPOINT_URL": endpoint,
        **services,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        "POWERTOOLS_METRICS_DISABLED": "true",  # no CloudWatch to read EMF logs
    }


def use_local_endpoint(endpoint: str, dynamodb: str | None = None) -> None:
    """Points boto3 and Powertools in this process at a local AWS endpoint (and DynamoDB
    at `dynamodb`, if given)."""
    for variable in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    ):
        os.environ.pop(variable, None)
    os.environ.update(local_aws_environment(endpoint, dynamodb))


def start_dynamodb(port: int) -> "dynamodb_local.DynamoDbLocal | None":
    """DynamoDB Local on `port`, started in the background (wait_until_serving before
    use), or None when STOCKROOM_DYNAMODB=moto leaves DynamoDB to moto."""
    if dynamodb_local.backend() == "moto":
        return None
    return dynamodb_local.start(port, local_dir() / "dynamodb-local.log")


def start_cache(host: str, port: int) -> "cache_server.CacheServer | None":
    """The shared cache tier's server on `port`, serving, or None when
    STOCKROOM_CACHE_TIER=none leaves the stack without one."""
    if cache_server.tier() == "none":
        return None
    server = cache_server.start(host, port, local_dir() / "cache-server.log")
    server.wait_until_serving()
    return server


def cache_environment(cache_url: str | None) -> dict[str, str]:
    """What points the functions at the local shared cache tier (CACHE_URL, over the
    template's empty one); nothing without it."""
    return {"CACHE_URL": cache_url} if cache_url else {}


def endpoint_is_up(endpoint: str) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
    except OSError:
        return False
    return True


def authorizer_parameters() -> dict[str, str]:
    """Parameters the API's JWT authorizer takes its issuer and audience from, set to the
    local token issuer's, so the template's settings and the local tokens agree."""
    overrides = {}
    for resource in resources("AWS::Serverless::HttpApi").values():
        authorizers = resource["Properties"].get("Auth", {}).get("Authorizers", {})
        for authorizer in authorizers.values():
            configuration = authorizer.get("JwtConfiguration", {})
            for key, local in (("issuer", LOCAL_ISSUER), ("audience", LOCAL_AUDIENCE)):
                values = configuration.get(key)
                for value in values if isinstance(values, list) else [values]:
                    if isinstance(value, dict) and "Ref" in value:
                        overrides[value["Ref"]] = local
    return overrides


def parameter_overrides() -> dict[str, str]:
    """Template parameters set for this stack, `sam deploy --parameter-overrides` style:
    STOCKROOM_PARAMETER_OVERRIDES="Name=Value Other=Value"."""
    return _pairs("STOCKROOM_PARAMETER_OVERRIDES")


def handler_overrides() -> dict[str, str]:
    """Functions run with another handler than the template's, for a benchmark to
    compare a baseline through the same stack (dev only, never deployed):
    STOCKROOM_HANDLER_OVERRIDES="Function=package.module.attribute ...", the module
    named from the repository's root. The function keeps its code folder, layers,
    environment and event sources; the module is not watched for changes."""
    overrides = _pairs("STOCKROOM_HANDLER_OVERRIDES")
    functions = resources("AWS::Serverless::Function")
    wrong = [f"{f}={h}" for f, h in overrides.items() if f not in functions or "." not in h]
    if wrong:
        raise SystemExit(
            f"STOCKROOM_HANDLER_OVERRIDES: expected Function=module.attribute, got {wrong}"
        )
    return overrides


def _pairs(variable: str) -> dict[str, str]:
    """`variable`'s "Name=Value Other=Value" pairs."""
    pairs = os.environ.get(variable, "").split()
    malformed = [pair for pair in pairs if "=" not in pair]
    if malformed:
        raise SystemExit(f"{variable}: expected Name=Value, got {malformed}")
    return dict(pair.split("=", 1) for pair in pairs)


# -------------------------------------------------------------------- functions
class Functions:
    """Every function of the template, each with its pool of execution environments."""

    def __init__(
        self,
        stack: Stack,
        aws: dict[str, str],
        handlers: dict[str, str] | None = None,
        observe: Observer | None = None,
    ) -> None:
        """`handlers`: functions run with another handler than the template's
        (`handler_overrides`); `observe`: told of every invocation (the metrics)."""
        handlers = handlers or {}
        self.pools = {
            function: FunctionPool(
                FunctionSpec.from_template(function, stack, aws, handlers.get(function)), observe
            )
            for function in resources("AWS::Serverless::Function")
        }

    def invoke(self, function: str, trigger: str, event: Any) -> Any:
        return invoke_logged(self.pools[function], trigger, event)

    def warm(self) -> list[threading.Thread]:
        """One environment per function, started in the background; returns the threads."""
        threads = [threading.Thread(target=pool.warm, daemon=True) for pool in self.pools.values()]
        for thread in threads:
            thread.start()
        return threads

    def close(self) -> None:
        for pool in self.pools.values():
            pool.close()


class CodeWatcher:
    """Notices a file added, changed or removed under a function's code or layer folders;
    the pools of the functions that use it start fresh environments."""

    def __init__(self, pools: Iterable[FunctionPool]) -> None:
        self.pools = list(pools)
        self.folders = sorted({folder for pool in self.pools for folder in pool.spec.folders()})
        self._seen = self._snapshot()

    def _snapshot(self) -> dict[Path, int]:
        files = {}
        for folder in self.folders:
            for path in folder.rglob("*"):
                if "__pycache__" not in path.parts and path.is_file():
                    with contextlib.suppress(FileNotFoundError):  # removed while we looked
                        files[path] = path.stat().st_mtime_ns
        return files

    def reload_changed(self) -> list[FunctionPool]:
        """Reloads the pools whose code changed since the last look; returns them."""
        now = self._snapshot()
        changed = {
            path for path in now.keys() | self._seen.keys() if now.get(path) != self._seen.get(path)
        }
        self._seen = now
        affected = [pool for pool in self.pools if any(map(pool.spec.contains, changed))]
        names = ", ".join(
            sorted(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in changed)
        )
        for pool in affected:
            pool.reload()
            threading.Thread(target=pool.warm, daemon=True).start()
            print(f"[reload] {pool.spec.function} ({names})", file=sys.stderr, flush=True)
        return affected

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(RELOAD_SCAN_SECONDS):
            self.reload_changed()


# ---------------------------------------------------------------------- outputs
def _references(value: Any, names: set[str]) -> bool:
    if isinstance(value, list):
        return any(_references(item, names) for item in value)
    if isinstance(value, dict):
        if value.get("Ref") in names:
            return True
        target = value.get("Fn::GetAtt")
        if isinstance(target, list) and target and target[0] in names:
            return True
        sub = value.get("Fn::Sub")
        text = sub if isinstance(sub, str) else sub[0] if isinstance(sub, list) else ""
        if any(f"${{{name}}}" in text or f"${{{name}." in text for name in names):
            return True
        return any(_references(item, names) for item in value.values())
    return False


def local_outputs(
    stack: Stack,
    api_url: str,
    endpoint: str,
    dynamodb: str | None = None,
    cache_url: str | None = None,
) -> dict[str, str]:
    """The template's Outputs resolved locally (an output built from an API's id is the
    local API's URL), plus the AWS endpoint and, if it is another, DynamoDB's, the shared
    cache tier's server if it runs, and each secret's value under its logical id (here
    only: a deployed stack outputs none)."""
    from devtools.provision import secret_values

    template = load_template()
    apis = {
        name for name, resource in template["Resources"].items() if resource["Type"] in API_TYPES
    }
    outputs = {}
    for name, output in template.get("Outputs", {}).items():
        if "Condition" in output and not stack.condition(output["Condition"]):
            continue
        if _references(output["Value"], apis):
            outputs[name] = api_url
            continue
        try:
            outputs[name] = str(stack.resolve(output["Value"]))
        except (UnresolvedError, KeyError) as error:
            print(f"[outputs] {name} left out: {error}", file=sys.stderr)
    outputs["AwsEndpointUrl"] = endpoint
    if dynamodb:
        outputs["DynamoDbEndpointUrl"] = dynamodb
    if cache_url:
        outputs["CacheUrl"] = cache_url
    return outputs | secret_values(stack)


def save_state(
    stack: Stack, endpoint: str, dynamodb: str | None = None, cache_url: str | None = None
) -> None:
    """What `make invoke` needs to use this running stack: its endpoints and names."""
    state = {
        "endpoint": endpoint,
        "dynamodb_endpoint": dynamodb,
        "cache_url": cache_url,
        "name": stack.name,
        "region": stack.region,
        "parameter_overrides": stack.parameter_overrides,
        "refs": stack.refs,
        "attributes": [[*key, value] for key, value in stack.attributes.items()],
    }
    (local_dir() / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")


def load_state() -> tuple[Stack, str, str | None] | None:
    """The running stack `save_state` described, if its endpoint still answers: the
    stack, its AWS endpoint and its DynamoDB endpoint (None: the AWS endpoint's)."""
    path = local_dir() / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not endpoint_is_up(state["endpoint"]):
        return None
    stack = Stack(
        state["name"],
        state["region"],
        parameter_overrides=state["parameter_overrides"],
        refs=state["refs"],
        attributes={(logical_id, name): value for logical_id, name, value in state["attributes"]},
    )
    return stack, state["endpoint"], state.get("dynamodb_endpoint")


def running_cache_url() -> str | None:
    """The shared cache tier's server of the running stack `save_state` described, if
    it runs one."""
    path = local_dir() / STATE_FILE
    url = json.loads(path.read_text()).get("cache_url") if path.exists() else None
    return str(url) if url else None


def write_sam_env_vars(
    stack: Stack, aws_port: int, dynamodb_port: int | None = None, cache_port: int | None = None
) -> None:
    """`sam local invoke/start-api --env-vars` input: each function's variables as this
    stack resolves them, and AWS_ENDPOINT_URL (and DynamoDB's own, when DynamoDB Local
    serves it, and CACHE_URL when the shared cache tier runs) pointing containers at this
    stack (SAM overrides only variables the template declares: template.yaml declares the
    endpoints in Globals as AWS::NoValue, so they are absent once deployed, and CACHE_URL
    as empty)."""
    host = "http://host.docker.internal"
    parameters = {"AWS_ENDPOINT_URL": f"{host}:{aws_port}"}
    if dynamodb_port is not None:
        parameters["AWS_ENDPOINT_URL_DYNAMODB"] = f"{host}:{dynamodb_port}"
        parameters["AWS_ENDPOINT_URL_DYNAMODB_STREAMS"] = f"{host}:{dynamodb_port}"
    if cache_port is not None:
        parameters["CACHE_URL"] = f"redis://host.docker.internal:{cache_port}"
    variables: dict[str, Any] = {"Parameters": parameters}
    for function in resources("AWS::Serverless::Function"):
        variables[function] = stack.function_environment(function)
    (local_dir() / SAM_ENV_VARS_FILE).write_text(json.dumps(variables, indent=2) + "\n")


# ------------------------------------------------------------------------- seed
def upload_seed(stack: Stack) -> list[str]:
    """Uploads `seed/<bucket logical id>/<key>` files into their buckets, as a user would;
    the buckets' notifications take it from there. Returns the s3:// URLs."""
    import boto3

    s3 = boto3.client("s3")
    buckets = resources("AWS::S3::Bucket")
    tables = resources("AWS::DynamoDB::Table")
    functions = resources("AWS::Serverless::Function")
    uploaded = []
    for folder in sorted(SEED_DIR.iterdir()) if SEED_DIR.is_dir() else []:
        if folder.name in tables or folder.name in functions:
            continue  # put_table_seed's, seed_events'
        if folder.name not in buckets or folder.name not in stack:
            print(
                f"[seed] {folder.name}: no such bucket, table or function in the template",
                file=sys.stderr,
            )
            continue
        bucket = stack[folder.name]
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = path.relative_to(folder).as_posix()
            s3.upload_file(str(path), bucket, key)
            uploaded.append(f"s3://{bucket}/{key}")
    return uploaded


def put_table_seed(stack: Stack, now: float | None = None) -> list[str]:
    """Puts the items of `seed/<table logical id>/*.json` (each a list of items in
    DynamoDB JSON) into their tables, as they are: records that have no API to create
    them, such as an order with a known id for the samples in events/. Their stream
    records flow like any other. Returns "<table>/<key>" of each item put.

    Items stamped relative to the start (a history the trainer reads back a few hours)
    come from `seed/<table logical id>/*.py`, each a module whose `items(now)` returns
    them for a start at `now` (epoch seconds); one line "<table>: <count> items from
    <file>" says each module's, written 25 to a request."""
    import runpy

    import boto3

    dynamodb = boto3.client("dynamodb")
    now = time.time() if now is None else now
    put = []
    for name in sorted(resources("AWS::DynamoDB::Table")):
        folder = SEED_DIR / name
        if name not in stack or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.json")):
            for item in json.loads(path.read_text()):
                dynamodb.put_item(TableName=stack[name], Item=item)
                key = next(iter(item.values()))
                put.append(f"{stack[name]}/{next(iter(key.values()))}")
        for path in sorted(folder.glob("*.py")):
            items = runpy.run_path(str(path))["items"](now)
            for start in range(0, len(items), 25):
                requests: list[Any] = [
                    {"PutRequest": {"Item": i}} for i in items[start : start + 25]
                ]
                while requests:  # what DynamoDB left unprocessed, sent again
                    answer = dynamodb.batch_write_item(RequestItems={stack[name]: requests})
                    requests = answer.get("UnprocessedItems", {}).get(stack[name], [])
            put.append(f"{stack[name]}: {len(items)} items from {path.name}")
    return put


def seed_events() -> list[tuple[str, Path]]:
    """(function, event file) of each `seed/<function logical id>/*.json`: an event the
    function is invoked with once at start, after the rest of the seed is in (such as
    the recommendation trainer's run over the seeded history)."""
    functions = resources("AWS::Serverless::Function")
    return [
        (function, path)
        for function in sorted(functions)
        for path in sorted((SEED_DIR / function).glob("*.json"))
    ]


def wait_for_notifications(
    queue_urls: list[str], settled: Callable[[float], bool], timeout: float
) -> bool:
    """True once the notification queues are empty and `settled(seconds)` says the
    invocations they started have ended."""
    import boto3

    sqs = boto3.client("sqs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = [
            sum(
                int(value)
                for value in sqs.get_queue_attributes(
                    QueueUrl=url,
                    AttributeNames=[
                        "ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible",
                    ],
                )["Attributes"].values()
            )
            for url in queue_urls
        ]
        if not any(counts) and settled(max(0.0, deadline - time.monotonic())):
            return True
        time.sleep(0.1)
    return False


# ------------------------------------------------------------ in the background
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class BackgroundStack:
    """`make run` in a child process on free ports (tests and benchmarks)."""

    process: "subprocess.Popen[bytes]"
    log: Path
    local_dir: Path
    aws_port: int
    api_port: int
    dynamodb_port: int | None  # None: moto serves DynamoDB (STOCKROOM_DYNAMODB=moto)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def dynamodb_endpoint(self) -> str | None:
        """DynamoDB's endpoint, when DynamoDB Local serves it (else moto's, `endpoint`)."""
        return f"http://127.0.0.1:{self.dynamodb_port}" if self.dynamodb_port else None

    def stop(self) -> None:
        """The stack stopped, and then whatever it started and left running (DynamoDB
        Local's JVM, function environments: a stack killed or still busy after 10 s
        cannot stop them) killed."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still busy after 10 s: stop it all the same
            self.kill()
        _kill_group(self.process.pid)

    def kill(self) -> None:
        """The stack and whatever it started killed at once."""
        self.process.kill()
        self.process.wait(timeout=10)
        _kill_group(self.process.pid)


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing left
        os.killpg(group, signal.SIGKILL)


def start_in_background(
    local_dir: Path, log: Path, environment: dict[str, str] | None = None
) -> BackgroundStack:
    """Starts the stack with its key, outputs and state in `local_dir` and its output in
    `log`, from a clean environment (no AWS_* or POWERTOOLS_* of the caller's)."""
    aws_port, api_port, dynamodb_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env |= {
        "STOCKROOM_AWS_PORT": str(aws_port),
        "STOCKROOM_API_PORT": str(api_port),
        "STOCKROOM_DYNAMODB_PORT": str(dynamodb_port),
        "STOCKROOM_CACHE_PORT": str(free_port()),
        "STOCKROOM_METRICS_PORT": str(free_port()),
        "STOCKROOM_LOCAL_DIR": str(local_dir),
        **(environment or {}),
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_stack"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            # A process group of its own, so that stop() reaches what the stack started
            # even when the stack itself is killed before it stops them.
            start_new_session=True,
        )
    local_dynamodb = dynamodb_local.backend(env) == "dynamodb-local"
    return BackgroundStack(
        process, log, local_dir, aws_port, api_port, dynamodb_port if local_dynamodb else None
    )


# ------------------------------------------------------------------------- main
def main() -> None:
    from devtools.provision import provision

    started = time.monotonic()
    host = os.environ.get("STOCKROOM_HOST", "127.0.0.1")
    aws_port = int(os.environ.get("STOCKROOM_AWS_PORT", "4566"))
    api_port = int(os.environ.get("STOCKROOM_API_PORT", "3000"))
    dynamodb_port = int(os.environ.get("STOCKROOM_DYNAMODB_PORT", "8000"))
    cache_port = int(os.environ.get("STOCKROOM_CACHE_PORT", "6380"))
    metrics_port = int(os.environ.get("STOCKROOM_METRICS_PORT", "9464"))
    handlers = handler_overrides()
    for function, handler in handlers.items():
        print(f"[handler] {function} runs {handler}, not the template's", file=sys.stderr)
    if os.environ.get("STOCKROOM_FAULTS"):  # checked here, met in each function's process
        from devtools import faults

        faults.parse(os.environ["STOCKROOM_FAULTS"])
        print(f"[faults] {os.environ['STOCKROOM_FAULTS']} (devtools/faults.py)", file=sys.stderr)
    endpoint = f"http://127.0.0.1:{aws_port}"
    api_url = f"http://127.0.0.1:{api_port}"
    _check_ports(host, aws_port, api_port, dynamodb_port, cache_port)
    cache = start_cache(host, cache_port)
    if cache:  # whenever this process ends, even from a failed start
        atexit.register(cache.stop)
    cache_url = cache.url if cache else None
    moto, dynamodb = _start_aws(host, aws_port, dynamodb_port)
    dynamodb_endpoint = dynamodb.endpoint if dynamodb else None
    if dynamodb and dynamodb_limits.mode() != "none":  # AWS's limits at DynamoDB's port
        log = local_dir() / "limits-proxy.log"
        limits = limits_proxy.start(dynamodb_port, dynamodb.endpoint, dynamodb_limits.mode(), log)
        atexit.register(limits.stop)
        dynamodb_endpoint = limits.endpoint
        print(
            f"[limits] {dynamodb_limits.mode()}: {limits.endpoint} enforces AWS's limits in "
            f"front of DynamoDB Local",
            file=sys.stderr,
        )
    use_local_endpoint(endpoint, dynamodb_endpoint)
    stack = provision(parameter_overrides=authorizer_parameters() | parameter_overrides())
    metrics = StackMetrics(stack)
    metrics_server = metrics.serve(host, metrics_port)
    functions = Functions(
        stack,
        local_aws_environment(endpoint, dynamodb_endpoint)
        | cache_environment(cache_url)
        | METRICS_ENVIRONMENT,
        handlers,
        metrics.observe,
    )
    atexit.register(functions.close)

    # Before the triggers: a schedule's first run finds the seeded history in place.
    _print_seed(put_table_seed(stack))
    stop = threading.Event()
    settled, notification_queues = _start_triggers(
        stack, functions, stop, fresh_iterators=dynamodb is None
    )
    server = LocalApiServer(
        (host, api_port),
        make_http_handler(compile_routes(stack.resolve), functions.invoke, api_cors(stack.resolve)),
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    warming = functions.warm()  # after the API is up: a first request needs no other process

    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    outputs = local_outputs(stack, api_url, endpoint, dynamodb_endpoint, cache_url)
    outputs["MetricsUrl"] = metrics_url
    (local_dir() / OUTPUTS_FILE).write_text(json.dumps(outputs, indent=2) + "\n")
    save_state(stack, endpoint, dynamodb_endpoint, cache_url)
    write_sam_env_vars(
        stack, aws_port, dynamodb_port if dynamodb else None, cache.port if cache else None
    )
    _seed(stack, notification_queues, settled, functions)

    # "ready" means ready: a first request finds its function's environment started.
    deadline = time.monotonic() + WARM_SECONDS
    for thread in warming:
        thread.join(max(0.0, deadline - time.monotonic()))
    _print_ready(
        started, dynamodb is not None, endpoint, dynamodb_endpoint, api_url, cache_url, metrics_url
    )
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
        metrics_server.shutdown()
        metrics_server.server_close()
        functions.close()
        moto.shutdown()
        if dynamodb:
            dynamodb.stop()
        if cache:
            cache.stop()
        (local_dir() / STATE_FILE).unlink(missing_ok=True)


def _start_aws(
    host: str, aws_port: int, dynamodb_port: int
) -> "tuple[Any, dynamodb_local.DynamoDbLocal | None]":
    """moto's AWS endpoint and, unless the stack runs on moto's DynamoDB, DynamoDB Local,
    both serving."""
    # First: the JVM starts while moto and everything else do; on a port of its own when
    # the AWS limits proxy takes DynamoDB's.
    limited = dynamodb_limits.mode() != "none"
    dynamodb = start_dynamodb(free_port() if limited else dynamodb_port)
    if dynamodb:  # stopped even if moto cannot start
        atexit.register(dynamodb.stop)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per AWS call is noise
    moto = start_aws_endpoint(host, aws_port)
    if dynamodb:
        dynamodb.wait_until_serving()
    return moto, dynamodb


def _check_ports(
    host: str, aws_port: int, api_port: int, dynamodb_port: int, cache_port: int
) -> None:
    """Exits naming the holder of any port the stack's servers need, before any starts
    (DynamoDB Local listens on every address)."""
    ports = {"STOCKROOM_AWS_PORT": (host, aws_port), "STOCKROOM_API_PORT": (host, api_port)}
    if dynamodb_local.backend() != "moto":
        ports["STOCKROOM_DYNAMODB_PORT"] = ("0.0.0.0", dynamodb_port)
    if cache_server.tier() != "none":
        ports["STOCKROOM_CACHE_PORT"] = (host, cache_port)
    check_free(ports)


def _start_triggers(
    stack: Stack, functions: Functions, stop: threading.Event, *, fresh_iterators: bool
) -> tuple[Callable[[float], bool], list[str]]:
    """Every trigger of the template's functions, running until `stop`, and the code
    watcher; returns what says the asynchronous invocations have settled, and the
    buckets' notification queues."""
    from devtools.triggers import (
        AsyncInvoker,
        bucket_triggers,
        queue_pollers,
        schedule_triggers,
        stream_pollers,
    )

    invoker = AsyncInvoker(stack, functions.invoke)
    notifiers, notification_queues = bucket_triggers(stack, invoker, stop)
    threads = (
        stream_pollers(stack, functions.invoke, stop, fresh_iterators=fresh_iterators)
        + queue_pollers(stack, functions.invoke, stop)
        + notifiers
        + schedule_triggers(stack, invoker, stop)
    )
    watcher = CodeWatcher(functions.pools.values())
    threads.append(threading.Thread(target=watcher.run, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()
    return invoker.settle, notification_queues


def _seed(
    stack: Stack,
    notification_queues: list[str],
    settled: Callable[[float], bool],
    functions: Functions,
) -> None:
    """The seed's objects uploaded (and imported, given a while), then its events
    invoked in the background, one after the other (the items are in already)."""
    _print_seed(upload_seed(stack))
    if not wait_for_notifications(notification_queues, settled, SEED_SETTLE_SECONDS):
        print("[seed] still importing; data will appear shortly", file=sys.stderr)
    threading.Thread(target=_invoke_seed_events, args=(functions,), daemon=True).start()


def _invoke_seed_events(functions: Functions) -> None:
    for function, path in seed_events():
        try:
            functions.invoke(function, "seed", json.loads(path.read_text()))
        except Exception as error:  # the stack serves all the same; the line says why
            print(f"[seed] {function} {path.name}: {error}", file=sys.stderr, flush=True)


def _print_seed(lines: list[str]) -> None:
    for line in lines:
        print(f"[seed] {line}", file=sys.stderr, flush=True)


def _print_ready(
    started: float,
    local_dynamodb: bool,
    endpoint: str,
    dynamodb_endpoint: str | None,
    api_url: str,
    cache_url: str | None,
    metrics_url: str = "",
) -> None:
    print(parity(local_dynamodb, cache_url is not None))
    print(f"AWS endpoint  {endpoint}")
    if dynamodb_endpoint:
        print(f"DynamoDB      {dynamodb_endpoint}   (DynamoDB Local; its log: dynamodb-local.log)")
    if cache_url:
        print(f"cache tier    {cache_url}   (its log: cache-server.log)")
    print(f"HTTP API      {api_url}   (token: make token SUB=alice)")
    print(f"API docs      {api_url}/docs   (Swagger UI)")
    if metrics_url:
        print(f"metrics       {metrics_url}   (Prometheus: make monitor)")
    folder = local_dir().relative_to(ROOT) if local_dir().is_relative_to(ROOT) else local_dir()
    print(f"outputs       {folder}/{OUTPUTS_FILE}   sam local: {folder}/{SAM_ENV_VARS_FILE}")
    print(f"ready in {time.monotonic() - started:.1f} s -- Ctrl-C to stop", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "token":
        print(make_token(sys.argv[2], " ".join(sys.argv[3:])))
    else:
        main()
