"""A server the local stack starts in the background (DynamoDB Local, the cache
server): waited for until it answers on its port, stopped, and never left behind."""

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def dies_with_this_process() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel kill the child when the process starting it
    ends, however it ends (SIGKILL included, where no cleanup of ours runs): Linux's
    parent-death signal. The kernel sends it when the starting *thread* ends, so it is
    given only from the main thread, which lives as long as the process; elsewhere, and
    off Linux, None (the caller's stop() is then all there is)."""
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def in_the_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it ended before the signal was asked for
            os._exit(1)

    return in_the_child


class ServerProcess:
    """What the two servers share; each says how it is named, which error it raises,
    how long it may take to start and how to tell that it answers."""

    process: "subprocess.Popen[bytes]"
    log: Path
    label: ClassVar[str]
    error: ClassVar[type[RuntimeError]]
    start_seconds: ClassVar[float]

    def answers(self) -> bool:
        raise NotImplementedError

    def wait_until_serving(self, timeout: float | None = None) -> None:
        """Returns once it answers; stops it and raises its error if it exits first or
        does not answer within `timeout` (its start_seconds by default)."""
        timeout = self.start_seconds if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.error(
                    f"{self.label} exited with {self.process.returncode}: "
                    f"{self.log.read_text()[-2000:]}"
                )
            if self.answers():
                return
            time.sleep(0.05)
        self.stop()
        raise self.error(f"{self.label} did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        stop(self.process)


@dataclass
class HttpServerProcess(ServerProcess):
    """A server answering HTTP on 127.0.0.1:`port`: serving once a GET of its
    `probe_path` gets any answer at all (an error status included)."""

    probe_path: ClassVar[str] = ""

    process: "subprocess.Popen[bytes]"
    port: int
    log: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint + self.probe_path, timeout=1).close()
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True


def stop(process: "subprocess.Popen[bytes]") -> None:
    """Ends `process`: asked to (SIGTERM), then made to if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
