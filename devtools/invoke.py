"""`make invoke FUNCTION=<LogicalId> EVENT=<file>`: the Docker-free twin of
`sam local invoke FUNCTION -e FILE`. Runs the function once, in a fresh execution
environment, against the running local stack's AWS endpoint (and its shared cache tier)
if one is up, else against a fresh embedded one provisioned from the template (without
the tier). The result goes to stdout as one
JSON document and logs to stderr; an unhandled error prints Lambda's error shape
(errorType, errorMessage) and exits with status 1.

Against the running stack the function's effects are real: an order placed stays
placed, a message sent goes to the stack's queue and on to its worker. The samples in
events/ name the seeded catalog and the seeded order, so each works against `make run`."""

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devtools.intrinsics import Stack
from devtools.template import ROOT, resources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make invoke", description=__doc__)
    parser.add_argument("function", help="the function's logical id in template.yaml")
    parser.add_argument("event", type=Path, help="a JSON event file ('-' for stdin)")
    arguments = parser.parse_args(argv)
    event = _event(parser, arguments.function, arguments.event)

    from devtools.local_stack import cache_environment, local_aws_environment
    from devtools.workers import FunctionError, FunctionPool, FunctionSpec

    stack, endpoint, dynamodb_endpoint, cache_url, stop_embedded = _endpoints()
    environment = local_aws_environment(endpoint, dynamodb_endpoint)
    environment |= cache_environment(cache_url)
    pool = FunctionPool(FunctionSpec.from_template(arguments.function, stack, environment))
    try:
        result = pool.invoke(event)
    except FunctionError as error:
        print(json.dumps(error.shape))
        return 1
    finally:
        pool.close()
        stop_embedded()
    print(json.dumps(result))
    return 0


def _event(parser: argparse.ArgumentParser, function: str, event_file: Path) -> Any:
    """The event in `event_file` (or stdin), once the function and the file are known to
    exist; a parser error naming what there is otherwise."""
    functions = resources("AWS::Serverless::Function")
    if function not in functions:
        parser.error(f"no function {function!r}; the template has {', '.join(functions)}")
    if str(event_file) != "-" and not event_file.is_file():
        samples = ", ".join(sorted(path.name for path in (ROOT / "events").glob("*.json")))
        parser.error(f"no event file {event_file}; the samples in events/ are: {samples}")
    source = sys.stdin.read() if str(event_file) == "-" else event_file.read_text()
    try:
        return json.loads(source)
    except json.JSONDecodeError as error:
        parser.error(f"{event_file} is not JSON: {error}")


def _endpoints() -> tuple[Stack, str, str | None, str | None, Callable[[], None]]:
    """The running stack, its endpoints and its shared cache tier's server, or a fresh
    embedded AWS endpoint (and DynamoDB Local) provisioned from the template, without the
    tier; and what stops the embedded ones."""
    from devtools.local_stack import (
        authorizer_parameters,
        free_port,
        load_state,
        running_cache_url,
        start_aws_endpoint,
        start_dynamodb,
        use_local_endpoint,
    )

    running = load_state()
    if running:
        stack, endpoint, dynamodb_endpoint = running
        use_local_endpoint(endpoint, dynamodb_endpoint)
        print(f"[invoke] using the running stack at {endpoint}", file=sys.stderr)
        return stack, endpoint, dynamodb_endpoint, running_cache_url(), lambda: None

    from devtools.provision import provision

    embedded_dynamodb = start_dynamodb(free_port())
    endpoint = f"http://127.0.0.1:{free_port()}"
    embedded = start_aws_endpoint("127.0.0.1", int(endpoint.rsplit(":", 1)[1]))
    if embedded_dynamodb:
        embedded_dynamodb.wait_until_serving()
    dynamodb_endpoint = embedded_dynamodb.endpoint if embedded_dynamodb else None
    use_local_endpoint(endpoint, dynamodb_endpoint)
    stack = provision(parameter_overrides=authorizer_parameters())
    print(f"[invoke] no stack running: a fresh one at {endpoint}", file=sys.stderr)

    def stop() -> None:
        embedded.shutdown()
        if embedded_dynamodb:
            embedded_dynamodb.stop()

    return stack, endpoint, dynamodb_endpoint, None, stop


if __name__ == "__main__":
    sys.exit(main())
