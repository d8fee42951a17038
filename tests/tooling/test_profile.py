"""`make profile` (devtools/profile.py, the runtime's profiler): a throwaway function
profiled in a real process, its first invocation apart from the later ones."""

import os
import textwrap
from pathlib import Path

from devtools.profile import run
from devtools.workers import FunctionSpec

HANDLER = """
import time

def spin(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass

def first_path():
    spin(0.05)

def later_path():
    spin(0.02)

def handler(event, context):
    first_path() if event["first"] else later_path()
    return "done"
"""


def test_the_cold_profile_holds_the_first_invocation_and_the_warm_one_the_rest(tmp_path: Path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler_module.py").write_text(textwrap.dedent(HANDLER))
    spec = FunctionSpec(
        function="ThrowawayFunction",
        module="handler_module",
        attribute="handler",
        code=code,
        layers=(),
        timeout=10,
        memory=256,
        environment={"PATH": os.environ["PATH"]},
        max_environments=1,
    )
    folder = tmp_path / "profiles"

    seconds = run(spec, [{"first": True}, {"first": False}, {"first": False}], folder)

    assert len(seconds) == 3
    (cold,) = folder.glob("ThrowawayFunction-*-cold.txt")
    (warm,) = folder.glob("ThrowawayFunction-*-warm.txt")
    assert "first_path" in cold.read_text() and "later_path" not in cold.read_text()
    assert "later_path" in warm.read_text() and "first_path" not in warm.read_text()
    assert {p.suffix for p in folder.iterdir()} == {".html", ".txt"}
