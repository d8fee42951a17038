"""Code lives with its only user: each module of the shared layer is loaded by two
functions or more (checked in fresh interpreters, as Lambda's init loads them), and a
function's logic module carries the function's name."""

import pytest

from devtools.cold_import import loaded_modules
from devtools.template import ROOT, handler_location, resources

FUNCTIONS = resources("AWS::Serverless::Function")
LAYER = ROOT / "layers" / "common"
# Packages' __init__ modules: plumbing, loaded by whoever loads a module inside them.
PLUMBING = {"stockroom", "stockroom.dal"}


def _layer_modules() -> list[str]:
    names = []
    for path in sorted(LAYER.rglob("*.py")):
        parts = path.relative_to(LAYER).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("module", sorted(set(_layer_modules()) - PLUMBING))
def test_every_layer_module_serves_two_functions_or_more(module):
    users = [function for function in FUNCTIONS if module in loaded_modules(function)]
    assert len(users) >= 2, f"{module} is loaded by {users}: move it into that function's folder"


# Functions whose logic two or more functions share: it lives in the layer, by that name.
SHARED_LOGIC = {
    "catalog": "stockroom.catalog",
    "recommendations": "stockroom.recommendations",
    "recommendation_feed": "stockroom.recommendations",
}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_folder_holds_its_handler_and_its_logic_by_name(function):
    location = handler_location(function)
    name = location.folder.name
    assert location.module.startswith(f"{name}_"), "the handler is <folder>_<trigger>"
    logic = SHARED_LOGIC.get(name, name)
    assert logic in loaded_modules(function), f"{function} does not load its logic module {logic}"
    if name not in SHARED_LOGIC:
        assert (location.folder / f"{name}.py").exists()
