"""`make invoke FUNCTION=... EVENT=...` with no local stack running: a fresh embedded AWS
endpoint provisioned from the template, the result on stdout, Lambda's error shape and a
non-zero exit for an unhandled error."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import ROOT

pytestmark = pytest.mark.local_only


def run_invoke(arguments: list[str], local_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env["STOCKROOM_LOCAL_DIR"] = str(local_dir)  # no running stack's state in it
    return subprocess.run(arguments, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_make_invoke_runs_a_function_once_against_a_fresh_endpoint(tmp_path):
    completed = run_invoke(
        ["make", "-s", "invoke", "FUNCTION=CatalogFunction", "EVENT=events/get_product.json"],
        tmp_path,
    )

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)  # one JSON document, logs kept out of it
    assert result["statusCode"] == 404  # a fresh stack has no products
    assert "a fresh one" in completed.stderr


def test_an_unhandled_error_prints_lambdas_error_shape_and_exits_non_zero(tmp_path):
    event = json.loads((ROOT / "events" / "s3_put_import_generated.json").read_text())
    event["Records"][0]["s3"]["bucket"]["name"] = "no-such-bucket"
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(event))

    completed = run_invoke(
        [sys.executable, "-m", "devtools.invoke", "CatalogImportFunction", str(event_file)],
        tmp_path,
    )

    assert completed.returncode == 1
    error = json.loads(completed.stdout)
    assert error["errorType"] == "SourceMissingError"
    assert (
        "s3://no-such-bucket/imports/demo-merchant/spring catalog (2026).csv"
        in error["errorMessage"]
    )


def test_an_unknown_function_is_refused_naming_the_ones_there_are(tmp_path):
    completed = run_invoke(
        [sys.executable, "-m", "devtools.invoke", "NoSuchFunction", "events/get_product.json"],
        tmp_path,
    )
    assert completed.returncode == 2
    assert "CatalogFunction" in completed.stderr


def test_a_missing_event_file_is_one_line_naming_the_samples(tmp_path):
    completed = run_invoke(
        ["make", "-s", "invoke", "FUNCTION=CatalogFunction", "EVENT=events/nope.json"], tmp_path
    )

    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert "no event file events/nope.json" in completed.stderr
    assert "get_product.json" in completed.stderr


def test_redrive_with_no_stack_running_says_so_in_one_line(tmp_path):
    from devtools.local_stack import free_port

    # Outputs left by a stack that has since stopped: nothing listens on its port.
    (tmp_path / "outputs.json").write_text(
        json.dumps(
            {
                "OrderDeadLetterQueueUrl": "http://127.0.0.1:1/000000000000/dlq",
                "AwsEndpointUrl": f"http://127.0.0.1:{free_port()}",
            }
        )
    )
    completed = run_invoke(["make", "-s", "redrive"], tmp_path)

    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert "is the local stack running? start it with `make run`" in completed.stderr
