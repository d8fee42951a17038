"""template.yaml as data: CloudFormation's short-form tags become their long forms."""

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_PATH = ROOT / "template.yaml"


class _TemplateLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


@cache
def load_template() -> dict[str, Any]:
    template: dict[str, Any] = yaml.load(TEMPLATE_PATH.read_text(), Loader=_TemplateLoader)
    return template


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == kind
    }


def function_properties(logical_id: str) -> dict[str, Any]:
    """A function's properties with the template's Globals merged in as SAM merges them:
    maps key by key, lists concatenated (Globals first), the function's own values win."""
    template = load_template()
    globals_ = template.get("Globals", {}).get("Function", {})
    merged: dict[str, Any] = _merge(globals_, template["Resources"][logical_id]["Properties"])
    return merged


def function_metadata(logical_id: str) -> dict[str, Any]:
    """A function's Metadata (settings for tools, such as the local stack's)."""
    metadata: dict[str, Any] = load_template()["Resources"][logical_id].get("Metadata", {})
    return metadata


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def event_sources(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(function logical id, event properties) for each event of `kind` (HttpApi, SQS...).
    S3 events are the buckets' notifications, given in the shape of SAM's S3 event."""
    sources = [
        (name, event["Properties"])
        for name, function in resources("AWS::Serverless::Function").items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == kind
    ]
    if kind == "S3":
        sources += bucket_notifications()
    return sources


def bucket_notifications() -> list[tuple[str, dict[str, Any]]]:
    """(function logical id, {Bucket, Events, Filter}) for each Lambda notification a bucket
    of the template declares (`Function: !Ref <Function>.Alias`)."""
    found = []
    for bucket, resource in resources("AWS::S3::Bucket").items():
        configuration = resource["Properties"].get("NotificationConfiguration", {})
        for notification in configuration.get("LambdaConfigurations", []):
            function = notification["Function"]["Ref"].split(".")[0]
            properties = {"Bucket": {"Ref": bucket}, "Events": notification["Event"]}
            if "Filter" in notification:
                properties["Filter"] = notification["Filter"]
            found.append((function, properties))
    return found


def http_routes() -> dict[tuple[str, str], tuple[str, bool]]:
    """(METHOD, path) -> (function logical id, whether the route needs a token)."""
    template = load_template()
    default_auth = template["Resources"]["HttpApi"]["Properties"].get("Auth", {})
    secured_by_default = "DefaultAuthorizer" in default_auth
    routes: dict[tuple[str, str], tuple[str, bool]] = {}
    for name, properties in event_sources("HttpApi"):
        authorizer = properties.get("Auth", {}).get("Authorizer")
        secured = authorizer != "NONE" if authorizer else secured_by_default
        routes[(properties["Method"].upper(), properties["Path"])] = (name, secured)
    return routes


def route_scopes() -> dict[tuple[str, str], list[Any]]:
    """(METHOD, path) -> the scopes its `AuthorizationScopes` requires (intrinsics as
    written), for the routes that name any: a token must carry one of them."""
    return {
        (properties["Method"].upper(), properties["Path"]): scopes
        for _, properties in event_sources("HttpApi")
        if (scopes := properties.get("Auth", {}).get("AuthorizationScopes"))
    }


def product_sources() -> list[Path]:
    """The product's Python files: the shared layer's and every function's."""
    return sorted(
        [*(ROOT / "layers" / "common").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    )


@dataclass(frozen=True)
class HandlerLocation:
    """Where a function's code lives, from its CodeUri and Handler."""

    folder: Path
    module: str
    attribute: str


def handler_location(function: str) -> HandlerLocation:
    properties = load_template()["Resources"][function]["Properties"]
    module, attribute = properties["Handler"].rsplit(".", 1)
    return HandlerLocation(ROOT / properties["CodeUri"], module, attribute)


def on_path(*folders: Path) -> None:
    """`folders` importable, the shared layer always among them."""
    for folder in (ROOT / "layers" / "common", *folders):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
