"""Where the end-to-end journeys run: a fresh local stack (what `make run` starts), or a
deployed stack given its outputs.

  STOCKROOM_E2E_OUTPUTS  the stack's outputs as JSON: `sam list stack-outputs --output json`
                         (a list of OutputKey/OutputValue) or {"ApiUrl": ...}
  STOCKROOM_E2E_TOKEN    a bearer token the deployed API's JWT authorizer accepts

Against a deployed stack boto3 uses the environment's credentials and region, and tests
marked `local_only` (they need the local stack's token signer, seed or logs) are skipped.
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.http_api import make_token
from devtools.local_stack import start_in_background
from support.targets import OUTPUTS_VARIABLE, TOKEN_VARIABLE, Target, deployed, read_outputs


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not deployed():
        return
    skip = pytest.mark.skip(reason="needs the local stack (its token signer, seed or logs)")
    for item in items:
        if "local_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # A folder of its own for the key, outputs and state: a developer's `make run` is
    # left alone, and tokens made here are signed with this stack's key.
    local_dir = tmp_path_factory.mktemp("local-dir")
    os.environ["STOCKROOM_LOCAL_DIR"] = str(local_dir)
    log = tmp_path_factory.mktemp("local-stack") / "output.log"
    # The reconciler looks every second for orders PENDING over 10 s: soon enough for a
    # test to see a lost order decided, and longer than any backlog the tests build up
    # (an order behind it would get a duplicate message: harmless, but more work).
    stack = start_in_background(
        local_dir,
        log,
        {
            "STOCKROOM_SCHEDULE_SECONDS": "1",
            "STOCKROOM_PARAMETER_OVERRIDES": "StuckOrderSeconds=10",
        },
    )
    deadline = time.monotonic() + 90
    # Ready means serving, with the sample catalog under seed/ imported.
    while "ready in" not in log.read_text():
        assert stack.process.poll() is None, log.read_text()
        if time.monotonic() > deadline:
            stack.kill()
            pytest.fail(f"the local stack was not ready within 90 s:\n{log.read_text()}")
        time.sleep(0.2)
    try:
        yield {
            "api": stack.api,
            "endpoint": stack.endpoint,
            "dynamodb_endpoint": stack.dynamodb_endpoint,
            "outputs": read_outputs(local_dir / "outputs.json"),
            "log": log,
            "local_dir": local_dir,
        }
    finally:
        stack.stop()
        del os.environ["STOCKROOM_LOCAL_DIR"]


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Target:
    if deployed():
        outputs = read_outputs(Path(os.environ[OUTPUTS_VARIABLE]))
        token = os.environ.get(TOKEN_VARIABLE) or pytest.fail(
            f"{OUTPUTS_VARIABLE} names a deployed stack: "
            f"set {TOKEN_VARIABLE} to a token its API accepts"
        )
        # A deployed API knows its identity provider's customers only: one for every role.
        return Target(outputs["ApiUrl"].rstrip("/"), outputs, None, lambda _customer: token)
    local = request.getfixturevalue("local_stack")
    return Target(
        local["api"], local["outputs"], local["endpoint"], make_token, local["dynamodb_endpoint"]
    )
