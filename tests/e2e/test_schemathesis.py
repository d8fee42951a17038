"""The API against its own OpenAPI document: Schemathesis generates requests from
docs/openapi.json (examples, coverage, fuzzing and stateful phases) and sends them to the
local stack, checking every response with its default checks. What its configuration
changes, and why, is written in tests/e2e/schemathesis.toml."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.http_api import admin_scope, make_token
from devtools.template import ROOT, http_routes

pytestmark = pytest.mark.local_only

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Bounded by count, not time (a time budget makes fuzzing repeat until it is spent): a
# few hundred requests, in well under a minute on two cores.
MAX_EXAMPLES = 25


def test_the_api_keeps_the_promises_of_its_openapi_document(local_stack):
    # The seeded order's customer: the examples' order id is theirs. With the admin scope,
    # so the /admin routes answer too (their 403 is the local API's, tested apart).
    token = make_token("customer-123", admin_scope())
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(CONFIG),
            "run",
            str(ROOT / "docs" / "openapi.json"),
            "--url",
            local_stack["api"],
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"Tested: {len(http_routes())}" in completed.stdout
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in completed.stdout, completed.stdout
