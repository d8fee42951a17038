"""The local stack's ports, checked before anything starts: a port another process holds
is named with that process (its pid and command line), so a start that cannot serve
says what is in its way instead of failing halfway with a server already running."""

import contextlib
import socket
from collections.abc import Mapping
from pathlib import Path

_LISTEN = "0A"  # the TCP state /proc/net/tcp shows for a listening socket


def is_free(host: str, port: int) -> bool:
    """Whether a server could listen on `host`:`port` now (as the stack's servers do:
    with SO_REUSEADDR, so a connection closing on it is no obstacle)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def holder(port: int, proc: Path = Path("/proc")) -> str:
    """Who listens on TCP `port`: "pid 123 (its command line)", or why that is unknown
    (another user's process, or a system without /proc)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return "a process this system does not name (no /proc/net/tcp entry)"
    for fd_folder in proc.glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):  # another user's, or gone meanwhile
            for fd in fd_folder.iterdir():
                with contextlib.suppress(OSError):
                    if str(fd.readlink()) in inodes:
                        return _describe(fd_folder.parent)
    return "a process of another user (pid unknown; try `sudo ss -ltnp`)"


def _listening_inodes(port: int, proc: Path) -> set[str]:
    """The sockets listening on `port` (IPv4 and IPv6), as /proc/*/fd links name them."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (proc / "net" / table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rpartition(":")[2], 16)
                if local_port == port and fields[3] == _LISTEN:
                    inodes.add(f"socket:[{fields[9]}]")
    return inodes


def _describe(process: Path) -> str:
    try:
        command = (process / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        command = "?"
    return f"pid {process.name} ({command})"


def check_free(ports: Mapping[str, tuple[str, int]]) -> None:
    """Exits with one line per taken port, naming its holder and the variable that moves
    the stack's server elsewhere; `ports` maps each variable to the address it sets."""
    taken = [
        f"port {port} ({variable}) is taken by {holder(port)}: stop it, or set {variable}"
        for variable, (host, port) in ports.items()
        if not is_free(host, port)
    ]
    if taken:
        raise SystemExit("the local stack cannot start:\n  " + "\n  ".join(taken))
