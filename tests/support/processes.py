"""Processes as /proc shows them: what a test checks is left running (Linux only)."""

import time
from pathlib import Path


def _state_and_group(pid: int | str) -> tuple[str, int] | None:
    """A process's state letter and process group, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[0], int(fields[2])


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not yet reaped, does not)."""
    found = _state_and_group(pid)
    return found is not None and found[0] != "Z"


def running_in_group(group: int) -> list[int]:
    """The live (not zombie) processes of process group `group`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        state = _state_and_group(stat.parent.name)
        if state is not None and state[1] == group and state[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def gone_within(seconds: float, pids: list[int]) -> list[int]:
    """Those of `pids` still running after waiting up to `seconds` for all to end."""
    deadline = time.monotonic() + seconds
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
