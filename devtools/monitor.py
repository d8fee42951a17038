"""`make monitor`: a real Prometheus server scraping the running local stack's /metrics,
with the alerting rules that mirror the template's alarms (devtools/alert_rules.py).

Prometheus is Debian's package (`make prometheus` installs it when missing); its
configuration and data go to the stack's folder (`.local/prometheus/`), its log to
`.local/prometheus/prometheus.log`. It runs until Ctrl-C.

    python -m devtools.monitor              # Prometheus on 127.0.0.1:9090
    STOCKROOM_PROMETHEUS_PORT=9091 python -m devtools.monitor
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from devtools import server_process
from devtools.alert_rules import RULES
from devtools.http_api import local_dir
from devtools.local_stack import OUTPUTS_FILE
from devtools.template import ROOT

PROMETHEUS = ROOT / ".tools" / "prometheus" / "bin" / "prometheus"
SCRAPE_SECONDS = 5
START_SECONDS = 30


def configuration(metrics_url: str, scrape_seconds: float = SCRAPE_SECONDS) -> dict[str, Any]:
    """Prometheus's configuration: the stack's /metrics, every `scrape_seconds`, and the
    rules that mirror the alarms, evaluated as often."""
    url = urlsplit(metrics_url)
    return {
        "global": {
            "scrape_interval": f"{round(scrape_seconds * 1000)}ms",
            "evaluation_interval": f"{round(scrape_seconds * 1000)}ms",
        },
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "stockroom-local",
                "metrics_path": url.path or "/metrics",
                "static_configs": [{"targets": [url.netloc]}],
            }
        ],
    }


@dataclass
class Prometheus:
    process: "subprocess.Popen[bytes]"
    url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query (its `data.result`)."""
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(address, timeout=5) as response:
            result: list[dict[str, Any]] = json.load(response)["data"]["result"]
            return result

    def rules(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/rules", timeout=5) as response:
            groups = json.load(response)["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def stop(self) -> None:
        server_process.stop(self.process)


def executable() -> str:
    """Prometheus: the one `make prometheus` linked, else one on PATH."""
    found = str(PROMETHEUS) if PROMETHEUS.exists() else shutil.which("prometheus")
    if not found:
        raise SystemExit("no Prometheus: run `make prometheus` (or apt-get install prometheus)")
    return found


def start(
    metrics_url: str, folder: Path, port: int, scrape_seconds: float = SCRAPE_SECONDS
) -> Prometheus:
    """Prometheus on 127.0.0.1:`port` scraping `metrics_url`, its configuration, data
    and log in `folder`, answering."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(configuration(metrics_url, scrape_seconds), sort_keys=False))
    with (folder / "prometheus.log").open("w") as log:
        process = subprocess.Popen(
            [
                executable(),
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(f"{server.url}/-/ready", timeout=1).close()
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise SystemExit(
                    f"Prometheus did not start: {(folder / 'prometheus.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)
        else:
            return server


def main() -> None:
    outputs = local_dir() / OUTPUTS_FILE
    metrics_url = json.loads(outputs.read_text()).get("MetricsUrl") if outputs.exists() else None
    if not metrics_url:
        raise SystemExit(f"no running local stack's MetricsUrl in {outputs}: start `make run`")
    port = int(os.environ.get("STOCKROOM_PROMETHEUS_PORT", "9090"))
    server = start(metrics_url, local_dir() / "prometheus", port)
    print(f"Prometheus    {server.url}   scraping {metrics_url} every {SCRAPE_SECONDS} s")
    print(f"alerts        {server.url}/alerts   ({len(server.rules())} rules, {RULES.name})")
    print("Ctrl-C to stop", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
