"""The delivery pipeline's guard rails (Makefile): the dev venv installed with every
artifact checked against its hash."""

import re

from devtools.template import ROOT


def test_the_dev_venv_is_installed_with_every_artifact_checked_against_its_hash():
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"^\t.*\bpip install\b.*$", makefile, flags=re.M)
    from_locks = [line for line in installs if " -r " in line]
    assert len(from_locks) == 2  # uv itself, then requirements-dev.txt with uv
    for line in from_locks:
        assert "--require-hashes" in line, line
    for lock in ("requirements-dev.txt", "devtools/uv-requirements.txt"):
        text = (ROOT / lock).read_text()
        pins = re.findall(r"^([A-Za-z0-9_.\[\],-]+==\S+)(.*)$", text, flags=re.M)
        assert pins, lock
        for pin, rest in pins:
            assert rest.strip() == "\\", (lock, pin)  # its hashes follow on the next lines
        assert text.count("--hash=sha256:") >= len(pins)
    assert "--generate-hashes" in re.search(r"^lock:.*\n\t(.*)$", makefile, flags=re.M)[1]
