"""A server the local stack starts in the background (DynamoDB Local, the cache
server): waited for until it answers on its port, and stopped."""

import subprocess
import time
from pathlib import Path
from typing import ClassVar


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
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
