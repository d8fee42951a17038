"""template.yaml as CloudFormation receives it: SAM's transform, run offline.

Runs under the SAM CLI's own Python (.tools/sam), which holds the translator at the
version that `sam deploy` uses; the dev venv cannot, its pydantic pin differs.

  .tools/sam/bin/python -m devtools.sam_transform [Name=Value ...] > transformed.json
"""

import copy
import json
import os
import sys
from typing import Any

from samtranslator.translator.transform import transform

from devtools.template import load_template


class _NoManagedPolicies:
    """The template names no managed policy by name, so none needs looking up in IAM."""

    def load(self) -> dict[str, str]:
        return {}


def transformed(parameters: dict[str, str]) -> dict[str, Any]:
    template = copy.deepcopy(load_template())
    # The transform wants packaged code (what `sam deploy` uploads): any S3 URI will do.
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://artifacts/{properties[key].strip('/')}"
    result: dict[str, Any] = transform(template, parameters, _NoManagedPolicies())
    return result


def main(arguments: list[str]) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    parameters = dict(argument.split("=", 1) for argument in arguments)
    json.dump(transformed(parameters), sys.stdout, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
