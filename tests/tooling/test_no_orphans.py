"""Nothing the local stack starts outlives it: its servers and function environments end
with the process that started them, however it ends, and a start that finds a port taken
names the process that holds it and starts nothing."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devtools.local_stack import free_port
from devtools.ports import holder, is_free
from devtools.template import ROOT
from support.processes import alive, gone_within, running_in_group

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="the parent-death signal and /proc are Linux's"
)


def _command_line() -> str:
    return Path("/proc/self/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def test_a_listening_port_is_named_with_its_process():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.listen()
        assert not is_free("127.0.0.1", port)
        assert not is_free("0.0.0.0", port)  # DynamoDB Local's every address
        assert holder(port) == f"pid {os.getpid()} ({_command_line()})"
    assert is_free("127.0.0.1", port)
    assert "no /proc/net/tcp entry" in holder(port)


def test_a_start_that_finds_its_port_taken_names_the_holder_and_leaves_nothing(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        environment |= {
            "STOCKROOM_AWS_PORT": str(taken),
            "STOCKROOM_API_PORT": str(free_port()),
            "STOCKROOM_DYNAMODB_PORT": str(free_port()),
            "STOCKROOM_CACHE_PORT": str(free_port()),
            "STOCKROOM_LOCAL_DIR": str(tmp_path),
        }
        stack = subprocess.Popen(
            [sys.executable, "-m", "devtools.local_stack"],
            cwd=ROOT,
            env=environment,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        _, errors = stack.communicate(timeout=60)
    assert stack.returncode == 1
    assert (
        f"port {taken} (STOCKROOM_AWS_PORT) is taken by pid {os.getpid()} ({_command_line()})"
        in errors
    )
    assert running_in_group(stack.pid) == []
    assert not (tmp_path / "dynamodb-local.log").exists()  # no JVM even started


def _started_by_a_child(script: str, tmp_path: Path) -> tuple[subprocess.Popen[str], list[int]]:
    """A Python process running `script` (which prints the pids of what it started, on
    one line, then waits), and those pids."""
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout
    line = child.stdout.readline()
    assert line, "the child started nothing"
    return child, [int(pid) for pid in line.split()]


def test_the_servers_end_with_the_process_that_started_them_even_killed(tmp_path):
    child, servers = _started_by_a_child(
        """
        import sys, time
        from pathlib import Path
        from devtools import cache_server, dynamodb_local
        from devtools.local_stack import free_port
        folder = Path(sys.argv[1])
        cache = cache_server.start("127.0.0.1", free_port(), folder / "cache.log")
        dynamodb = dynamodb_local.start(free_port(), folder / "dynamodb-local.log")
        cache.wait_until_serving()
        dynamodb.wait_until_serving()
        print(cache.process.pid, dynamodb.process.pid, flush=True)
        time.sleep(120)
        """,
        tmp_path,
    )
    try:
        assert all(map(alive, servers))
        child.kill()  # no cleanup of its own runs
        child.wait(timeout=10)
        assert gone_within(10, servers) == []
    finally:
        _end(child)
        for pid in filter(alive, servers):
            os.kill(pid, signal.SIGKILL)


def test_an_environment_busy_in_an_invocation_ends_with_its_stack(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    started = tmp_path / "invoked"
    (code / "handler_module.py").write_text(
        "import os, time\n"
        "def handler(event, context):\n"
        f"    open({str(started)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
    )
    child, _ = _started_by_a_child(
        f"""
        import os
        from pathlib import Path
        from devtools.workers import FunctionPool, FunctionSpec
        pool = FunctionPool(FunctionSpec(
            function="SlowFunction", module="handler_module", attribute="handler",
            code=Path({str(code)!r}), layers=(), timeout=300, memory=128,
            environment={{"PATH": os.environ["PATH"]}}, max_environments=1,
        ))
        print(os.getpid(), flush=True)
        pool.invoke({{}})
        """,
        tmp_path,
    )
    environment = 0
    try:
        deadline = time.monotonic() + 20
        while not started.exists() or not started.read_text():
            assert time.monotonic() < deadline, "the invocation never began"
            time.sleep(0.05)
        environment = int(started.read_text())
        assert alive(environment)
        child.kill()  # its stdin stays unread: the environment is busy
        child.wait(timeout=10)
        assert gone_within(10, [environment]) == []
    finally:
        _end(child)
        if environment and alive(environment):
            os.kill(environment, signal.SIGKILL)


def _end(child: "subprocess.Popen[str]") -> None:
    child.kill()
    child.wait(timeout=10)
    if child.stdout:
        child.stdout.close()
