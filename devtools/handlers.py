"""A function's handler module imported in this process, as Lambda's init imports it.

Apart from template.py, which provision.py reads: it names the resources as provisioned
when the environment lacks them."""

import importlib
import os
from types import ModuleType

from devtools.template import function_properties, handler_location, on_path


def import_handler_module(function: str) -> ModuleType:
    """The function's handler module, imported with its folder and the layer on the path
    (as /var/task and /opt/python are in Lambda) and, where the environment lacks them,
    the functions' variables as the local stack names its resources (a handler checks
    its settings at import)."""
    from devtools.provision import environments_as_provisioned  # boto3: when first called

    location = handler_location(function)
    on_path(location.folder)
    variables = function_properties(function).get("Environment", {}).get("Variables", {})
    if any(name not in os.environ and not name.startswith("AWS_") for name in variables):
        for key, value in environments_as_provisioned().items():
            os.environ.setdefault(key, value)
    return importlib.import_module(location.module)
