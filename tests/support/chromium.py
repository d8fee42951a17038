"""Headless Chromium (Debian's `chromium`, which `make e2e` installs when missing) driven
over the DevTools protocol through a pipe (--remote-debugging-pipe: JSON messages ended
by NUL on file descriptors 3 and 4), so no WebSocket client or browser driver is needed."""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

INSTALL = "sudo apt-get install chromium (make e2e installs it when run as root)"


class Page:
    """One tab: `evaluate` runs JavaScript in it and returns the value it settles to."""

    def __init__(self, process: "subprocess.Popen[bytes]", send: int, receive: int) -> None:
        self._process, self._send, self._receive = process, send, receive
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None
        self._events: list[str] = []

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read()
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result
            if "method" in answer:
                self._events.append(answer["method"])

    def wait_for_event(self, method: str) -> None:
        while method not in self._events:
            answer = self._read()
            if "method" in answer:
                self._events.append(answer["method"])

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._receive, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium exited ({self._process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        loaded: dict[str, Any] = json.loads(message)
        return loaded

    def open(self, url: str) -> None:
        """A new tab at `url`, once loaded."""
        target = self.command("Target.createTarget", url="about:blank")["targetId"]
        attached = self.command("Target.attachToTarget", targetId=target, flatten=True)
        self._session = attached["sessionId"]
        self.command("Page.enable")
        self.command("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")

    def evaluate(self, expression: str, timeout_ms: int = 60_000) -> Any:
        result = self.command(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            timeout=timeout_ms,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")


def _above_nine(pipe: tuple[int, int]) -> tuple[int, int]:
    moved = tuple(fcntl.fcntl(end, fcntl.F_DUPFD_CLOEXEC, 10) for end in pipe)
    for end in pipe:
        os.close(end)
    return moved[0], moved[1]


def executable() -> str | None:
    return shutil.which("chromium")


@contextmanager
def headless() -> Iterator[Page]:
    """A headless Chromium with a fresh profile, stopped at the end."""
    binary = executable()
    if binary is None:
        raise RuntimeError(f"no chromium on PATH: {INSTALL}")
    # Above 9, so that putting one end on 3 or 4 cannot overwrite the other.
    to_browser, from_test = _above_nine(os.pipe())
    to_test, from_browser = _above_nine(os.pipe())
    profile = tempfile.mkdtemp(prefix="chromium-")
    arguments = [
        binary,
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        *(["--no-sandbox"] if os.geteuid() == 0 else []),  # its sandbox refuses root
        "about:blank",
    ]

    # bash (dash takes no descriptor above 9) puts the pipe's ends where Chromium looks
    # for them, 3 and 4.
    redirect = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
    process = subprocess.Popen(
        ["bash", "-c", redirect, *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(to_browser, from_browser),
    )
    os.close(to_browser)
    os.close(from_browser)
    try:
        yield Page(process, from_test, to_test)
    finally:
        process.kill()
        process.wait(timeout=10)
        os.close(from_test)
        os.close(to_test)
        shutil.rmtree(profile, ignore_errors=True)
