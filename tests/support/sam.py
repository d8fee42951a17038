"""template.yaml as CloudFormation receives it (SAM's own transform, devtools/sam_transform.py),
so that what SAM adds (roles, managed policies, permissions) is tested too."""

import json
import subprocess
from functools import cache
from typing import Any

from devtools.template import ROOT

SAM_PYTHON = ROOT / ".tools" / "sam" / "bin" / "python"


@cache
def transformed(**parameters: str) -> dict[str, Any]:
    """The transformed template's resources, for `parameters` over a dev stack's."""
    assert SAM_PYTHON.exists(), "the SAM CLI venv is missing: `make unit` installs it"
    given = {"JwtIssuer": "https://id.example/", "JwtAudience": "stockroom", "Stage": "dev"}
    given.update(parameters)
    completed = subprocess.run(
        [str(SAM_PYTHON), "-m", "devtools.sam_transform", *(f"{k}={v}" for k, v in given.items())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    resources: dict[str, Any] = json.loads(completed.stdout)["Resources"]
    return resources
