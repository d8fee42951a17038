"""CloudFormation's intrinsic functions, resolved against a locally provisioned stack:
Parameters (defaults and overrides), pseudo parameters, Conditions, `Ref`, `Fn::GetAtt`,
`Fn::Sub`, `Fn::If`, `Fn::Join`, `Fn::Select`, `Fn::Split` and `AWS::NoValue`, as
`sam deploy` would resolve them."""

import re
from dataclasses import dataclass, field
from typing import Any

from devtools.template import function_properties, load_template

# Moto's default account: ARNs it builds (queues, streams) carry it.
LOCAL_ACCOUNT_ID = "123456789012"


class UnresolvedError(LookupError):
    """A reference to something not provisioned (yet): the caller may retry later."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


@dataclass
class Stack:
    """What `Ref` and `Fn::GetAtt` give for each provisioned resource, plus the stack's
    parameters. Indexing by logical id gives its `Ref` value."""

    name: str
    region: str
    account: str = LOCAL_ACCOUNT_ID
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    template: dict[str, Any] = field(default_factory=load_template, repr=False)

    def __getitem__(self, logical_id: str) -> str:
        return self.refs[logical_id]

    def __contains__(self, logical_id: object) -> bool:
        return logical_id in self.refs

    def function_environment(self, function: str) -> dict[str, str]:
        """The function's environment variables (Globals merged), resolved."""
        variables = function_properties(function).get("Environment", {}).get("Variables", {})
        return {name: _text(value) for name, value in self.resolve(variables).items()}

    # ------------------------------------------------------------- parameters
    def parameter(self, name: str) -> str:
        if name in self.parameter_overrides:
            return self.parameter_overrides[name]
        declared = self.template.get("Parameters", {})
        if name not in declared:
            raise KeyError(f"Ref {name}: no such parameter or resource")
        return str(declared[name].get("Default", ""))

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::StackName": self.name,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/local"
            ),
        }
        if name not in values:
            raise KeyError(f"Ref {name}: pseudo parameter not supported locally")
        return values[name]

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    # ---------------------------------------------------------------- resolve
    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.refs:
            return self.refs[name]
        if name in self.template["Resources"]:
            raise UnresolvedError(name)
        value = self.parameter(name)
        kind = str(self.template.get("Parameters", {})[name].get("Type", "String"))
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return value.split(",")  # a list parameter's Ref is a list ("" gives [""])
        return value

    def get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) in self.attributes:
            return self.attributes[(logical_id, attribute)]
        raise UnresolvedError(f"{logical_id}.{attribute}")

    def resolve(self, value: Any) -> Any:
        """`value` with every intrinsic function replaced by its value; `AWS::NoValue`
        removes the key or item that holds it."""
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {name: self.resolve(value) for name, value in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return self.get_att(*name.split(".", 1))
            return str(self.ref(name))

        # "${!Literal}" stands for "${Literal}".
        return _SUB_VARIABLE.sub(replace, text).replace("${!", "${")


def _text(value: Any) -> str:
    # CloudFormation writes YAML booleans as "true"/"false".
    return str(value).lower() if isinstance(value, bool) else str(value)


_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda stack, name: stack.ref(name),
    "Fn::GetAtt": lambda stack, target: stack.get_att(
        *(target.split(".", 1) if isinstance(target, str) else stack.resolve(target))
    ),
    "Fn::Sub": Stack._sub,
    "Fn::If": lambda stack, arguments: stack.resolve(
        arguments[1] if stack.condition(arguments[0]) else arguments[2]
    ),
    "Fn::Join": lambda stack, arguments: str(arguments[0]).join(
        str(item) for item in stack.resolve(arguments[1])
    ),
    "Fn::Select": lambda stack, arguments: stack.resolve(arguments[1])[
        int(stack.resolve(arguments[0]))
    ],
    "Fn::Split": lambda stack, arguments: str(stack.resolve(arguments[1])).split(arguments[0]),
    "Fn::Equals": lambda stack, arguments: (
        str(stack.resolve(arguments[0])) == str(stack.resolve(arguments[1]))
    ),
    "Fn::Not": lambda stack, arguments: not stack.resolve(arguments[0]),
    "Fn::And": lambda stack, arguments: all(stack.resolve(item) for item in arguments),
    "Fn::Or": lambda stack, arguments: any(stack.resolve(item) for item in arguments),
    "Condition": lambda stack, name: stack.condition(name),
}
