"""Intrinsic functions of provisioning templates: checks at template creation, evaluation at RegisterThing.

Owns `Ref`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::Sub` (AWS IoT developer guide,
Provisioning templates, Intrinsic functions) and, only in lenient (CloudFormation-superset) mode, `Fn::If`,
`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`, `Fn::Base64`, `Fn::GetAtt`, named `Conditions` and the
`AWS::*` pseudo-parameters (`AWS::NoValue` removes the enclosing property or list item). No I/O.

Invariants:
- An intrinsic is a JSON object with exactly one key that is `Ref` or starts with `Fn::`.
- `check_expression` raises only `TemplateValidationError`; `Evaluator.evaluate` raises only
  `TemplateEvaluationError`, whose `case` is the `RejectionCase` the device gets.
- `AWS::IoT::Certificate::*` pseudo-parameters always come from the certificate being registered (or a
  declared Default), never from request parameters, so a device cannot spoof them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from protocols.aws.fleet_messages import RejectionCase
from protocols.errors import RemoteProtocolError

CERTIFICATE_ID = "AWS::IoT::Certificate::Id"
CERTIFICATE_PREFIX = "AWS::IoT::Certificate::"
SUBJECT_FIELDS: Final = (
    "CommonName",
    "Country",
    "Organization",
    "OrganizationalUnit",
    "DistinguishedNameQualifier",
    "StateName",
    "SerialNumber",
)
CERTIFICATE_PSEUDO_PARAMETERS: Final = frozenset(
    {CERTIFICATE_ID, *(CERTIFICATE_PREFIX + name for name in SUBJECT_FIELDS)}
)
NO_VALUE_NAME = "AWS::NoValue"
DOCUMENTED_FUNCTIONS: Final = frozenset({"Fn::Join", "Fn::Select", "Fn::Split", "Fn::FindInMap", "Fn::Sub"})
LENIENT_FUNCTIONS: Final = frozenset(
    {"Fn::If", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Base64", "Fn::GetAtt"}
)
_CONDITION_FUNCTIONS: Final = frozenset({"Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"})
_SUB_TOKEN = re.compile(r"\$\{([^}]*)\}")


class TemplateValidationError(RemoteProtocolError):
    """The template body is invalid (answer the control-plane call with 400)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class TemplateEvaluationError(RemoteProtocolError):
    """Evaluating a template for one RegisterThing failed; `case` selects the `/rejected` answer."""

    def __init__(
        self,
        detail: str,
        case: RejectionCase = RejectionCase.TEMPLATE_EVALUATION_ERROR,
        **context: str,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.case = case
        self.context = context


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()


def intrinsic_name(value: Any) -> str | None:
    """The function name if `value` is an intrinsic call, else None."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if isinstance(key, str) and (key == "Ref" or key.startswith("Fn::")):
            return key
    return None


@dataclass(frozen=True, slots=True)
class Scope:
    """What a template declares, as the functions see it."""

    parameter_defaults: Mapping[str, str | None]
    mappings: Mapping[str, Mapping[str, Mapping[str, Any]]]
    resources: Mapping[str, str]  # logical id -> resource type
    conditions: Mapping[str, Any] = field(default_factory=dict)
    lenient: bool = False


# --------------------------------------------------------------------------------------------------
# Static checks (template creation)


def _args(value: Any, name: str, count: int | tuple[int, int], path: str) -> list[Any]:
    low, high = (count, count) if isinstance(count, int) else count
    if not isinstance(value, list) or not low <= len(value) <= high:
        size = str(low) if low == high else f"{low} to {high}"
        raise TemplateValidationError(f"{name} takes a list of {size} arguments", path)
    return value


def _check_ref_name(name: str, scope: Scope, path: str, warnings: list[str]) -> None:
    if name in CERTIFICATE_PSEUDO_PARAMETERS or name in scope.parameter_defaults:
        return
    if name.startswith("AWS::"):
        if not scope.lenient:
            raise TemplateValidationError(
                f"pseudo-parameter {name} is not documented for AWS IoT templates (enable lenient mode)", path
            )
        return
    if name in scope.resources:
        if not scope.lenient:
            raise TemplateValidationError(f"Ref to resource {name} needs lenient mode", path)
        return
    # AWS documents Refs to parameters the template does not declare (pre-provisioning-hook example),
    # so an undeclared name only warns; a missing value fails at RegisterThing.
    warnings.append(f"{path}: reference to undeclared parameter {name}")


def _check_getatt(logical: Any, attribute: Any, scope: Scope, path: str) -> None:
    if not isinstance(logical, str) or not isinstance(attribute, str):
        raise TemplateValidationError("Fn::GetAtt takes a logical name and an attribute name", path)
    if logical not in scope.resources:
        raise TemplateValidationError(f"Fn::GetAtt: unknown resource {logical}", path)


def check_sub_string(text: str, variables: Mapping[str, Any], scope: Scope, path: str, warnings: list[str]) -> None:
    for match in _SUB_TOKEN.finditer(text):
        name = match.group(1)
        if name.startswith("!") or name in variables:
            continue
        if "." in name and name.split(".", 1)[0] in scope.resources:
            if not scope.lenient:
                raise TemplateValidationError(f"${{{name}}} is a resource attribute (enable lenient mode)", path)
            logical, attribute = name.split(".", 1)
            _check_getatt(logical, attribute, scope, path)
            continue
        if not name:
            raise TemplateValidationError("Fn::Sub: empty ${} reference", path)
        _check_ref_name(name, scope, path, warnings)


def check_expression(value: Any, scope: Scope, path: str, warnings: list[str]) -> None:
    """Reject unknown or malformed intrinsics anywhere in `value` (literal shapes only)."""
    name = intrinsic_name(value)
    if name is None:
        if isinstance(value, dict):
            for key, item in value.items():
                check_expression(item, scope, f"{path}.{key}", warnings)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                check_expression(item, scope, f"{path}[{i}]", warnings)
        return
    arg = value[name]
    where = f"{path}.{name}"
    if name == "Ref":
        if not isinstance(arg, str):
            raise TemplateValidationError("Ref takes a name", where)
        _check_ref_name(arg, scope, where, warnings)
        return
    if name not in DOCUMENTED_FUNCTIONS:
        if name not in LENIENT_FUNCTIONS:
            raise TemplateValidationError(f"unknown intrinsic function {name}", where)
        if not scope.lenient:
            raise TemplateValidationError(
                f"{name} is a CloudFormation function that AWS IoT provisioning templates do not document "
                "(enable lenient mode to use it)",
                where,
            )
    _check_function(name, arg, scope, where, warnings)


def _check_function(name: str, arg: Any, scope: Scope, where: str, warnings: list[str]) -> None:
    if name == "Fn::Join":
        delimiter, items = _args(arg, name, 2, where)
        if not isinstance(delimiter, str):
            raise TemplateValidationError("Fn::Join delimiter must be a string", where)
        check_expression(items, scope, where, warnings)
    elif name == "Fn::Select":
        index, items = _args(arg, name, 2, where)
        if isinstance(index, bool) or not isinstance(index, int | str | dict):
            raise TemplateValidationError("Fn::Select index must be an integer or a string", where)
        check_expression(index, scope, where, warnings)
        check_expression(items, scope, where, warnings)
    elif name == "Fn::Split":
        delimiter, source = _args(arg, name, 2, where)
        if not isinstance(delimiter, str) or not delimiter:
            raise TemplateValidationError("Fn::Split delimiter must be a non-empty string", where)
        check_expression(source, scope, where, warnings)
    elif name == "Fn::FindInMap":
        map_name, *keys = _args(arg, name, 3, where)
        if isinstance(map_name, str) and map_name not in scope.mappings:
            raise TemplateValidationError(f"Fn::FindInMap: no mapping named {map_name}", where)
        for item in (map_name, *keys):
            check_expression(item, scope, where, warnings)
    elif name == "Fn::Sub":
        _check_sub(arg, scope, where, warnings)
    elif name == "Fn::If":
        condition, *branches = _args(arg, name, 3, where)
        _check_condition_name(condition, scope, where)
        check_expression(branches, scope, where, warnings)
    elif name in _CONDITION_FUNCTIONS:
        _check_condition_function(name, arg, scope, where, warnings)
    elif name == "Fn::Base64":
        check_expression(arg, scope, where, warnings)
    else:  # Fn::GetAtt
        parts = arg.split(".", 1) if isinstance(arg, str) else arg
        logical, attribute = _args(parts, name, 2, where)
        _check_getatt(logical, attribute, scope, where)


def _check_sub(arg: Any, scope: Scope, where: str, warnings: list[str]) -> None:
    if isinstance(arg, str):
        check_sub_string(arg, {}, scope, where, warnings)
        return
    text, variables = _args(arg, "Fn::Sub", 2, where)
    if not isinstance(text, str) or not isinstance(variables, dict):
        raise TemplateValidationError("Fn::Sub takes a string or [string, {name: value}]", where)
    for key, item in variables.items():
        check_expression(item, scope, f"{where}.{key}", warnings)
    check_sub_string(text, variables, scope, where, warnings)


def _check_condition_name(condition: Any, scope: Scope, where: str) -> None:
    if not isinstance(condition, str) or condition not in scope.conditions:
        raise TemplateValidationError(f"unknown condition {condition!r}", where)


def _check_condition_function(name: str, arg: Any, scope: Scope, where: str, warnings: list[str]) -> None:
    if name == "Fn::Equals":
        check_expression(_args(arg, name, 2, where), scope, where, warnings)
        return
    operands = _args(arg, name, 1 if name == "Fn::Not" else (2, 10), where)
    for operand in operands:
        check_condition(operand, scope, where, warnings)


def check_condition(value: Any, scope: Scope, path: str, warnings: list[str]) -> None:
    """A condition is `{"Condition": name}` or one of Fn::Equals/Not/And/Or."""
    if isinstance(value, dict) and list(value) == ["Condition"]:
        _check_condition_name(value["Condition"], scope, path)
        return
    name = intrinsic_name(value)
    if name not in _CONDITION_FUNCTIONS:
        raise TemplateValidationError("a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or a Condition", path)
    check_expression(value, scope, path, warnings)


# --------------------------------------------------------------------------------------------------
# Evaluation (RegisterThing)

ResourceResolver = Callable[[str, str | None], str]


def _fail(detail: str) -> TemplateEvaluationError:
    return TemplateEvaluationError(detail)


class Evaluator:
    """Evaluates template expressions for one RegisterThing call.

    `resolve_resource(logical_id, attribute)` answers lenient-mode `Ref`s to resources (attribute None)
    and `Fn::GetAtt`; the template layer supplies it.
    """

    def __init__(
        self,
        scope: Scope,
        parameters: Mapping[str, str],
        *,
        certificate_id: str,
        certificate_subject: Mapping[str, str] | None = None,
        aws_pseudo_parameters: Mapping[str, str] | None = None,
        resolve_resource: ResourceResolver | None = None,
    ) -> None:
        self._scope = scope
        self._parameters = parameters
        self._certificate_id = certificate_id
        self._subject = certificate_subject or {}
        self._aws = aws_pseudo_parameters or {}
        self._resolve_resource = resolve_resource
        self._condition_values: dict[str, bool] = {}
        self._conditions_in_progress: set[str] = set()

    # -- names

    def ref(self, name: str) -> Any:
        if name in CERTIFICATE_PSEUDO_PARAMETERS:
            if name == CERTIFICATE_ID:
                return self._certificate_id
            value = self._subject.get(name.removeprefix(CERTIFICATE_PREFIX))
            if value is not None:
                return value
            default = self._scope.parameter_defaults.get(name)
            if default is not None:
                return default
            raise TemplateEvaluationError(
                f"the certificate has no subject field for {name}",
                RejectionCase.MISSING_PARAMETER,
                parameter=name,
            )
        if self._scope.lenient:
            if name == NO_VALUE_NAME:
                return NO_VALUE
            if name.startswith("AWS::"):
                if name not in self._aws:
                    raise _fail(f"pseudo-parameter {name} has no configured value")
                return self._aws[name]
            if name in self._scope.resources and name not in self._scope.parameter_defaults:
                return self._resource(name, None)
        if name in self._parameters:
            return self._parameters[name]
        default = self._scope.parameter_defaults.get(name)
        if default is not None:
            return default
        raise TemplateEvaluationError(
            f"parameter {name} has no value and no default", RejectionCase.MISSING_PARAMETER, parameter=name
        )

    def _resource(self, logical: str, attribute: str | None) -> str:
        if self._resolve_resource is None:
            raise _fail(f"cannot resolve resource {logical}")
        return self._resolve_resource(logical, attribute)

    # -- values

    def evaluate(self, value: Any) -> Any:
        """Evaluate every intrinsic in `value`; NO_VALUE (lenient) drops list items and object members."""
        name = intrinsic_name(value)
        if name is not None:
            return self._call(name, value[name])
        if isinstance(value, dict):
            evaluated = {key: self.evaluate(item) for key, item in value.items()}
            return {key: item for key, item in evaluated.items() if item is not NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.evaluate(v) for v in value) if item is not NO_VALUE]
        return value

    def string(self, value: Any, what: str) -> str:
        result = self.evaluate(value)
        if not isinstance(result, str):
            raise _fail(f"{what} must evaluate to a string, got {_type_name(result)}")
        return result

    def string_list(self, value: Any, what: str) -> list[str]:
        result = self.evaluate(value)
        if not isinstance(result, list) or not all(isinstance(item, str) for item in result):
            raise _fail(f"{what} must evaluate to a list of strings, got {_type_name(result)}")
        return result

    def _call(self, name: str, arg: Any) -> Any:
        if name == "Ref":
            return self.ref(arg)
        if name == "Fn::Join":
            delimiter, items = arg
            return delimiter.join(self.string_list(items, "Fn::Join list"))
        if name == "Fn::Select":
            return self._select(*arg)
        if name == "Fn::Split":
            delimiter, source = arg
            return self.string(source, "Fn::Split source").split(delimiter)
        if name == "Fn::FindInMap":
            return self._find_in_map(*arg)
        if name == "Fn::Sub":
            return self._sub(arg)
        if name == "Fn::If":
            condition, if_true, if_false = arg
            return self.evaluate(if_true if self.condition_named(condition) else if_false)
        if name in _CONDITION_FUNCTIONS:
            return self.condition({name: arg})
        if name == "Fn::Base64":
            return base64.b64encode(self.string(arg, "Fn::Base64 input").encode("utf-8")).decode("ascii")
        logical, attribute = arg.split(".", 1) if isinstance(arg, str) else arg  # Fn::GetAtt
        return self._resource(logical, attribute)

    def _select(self, index_expr: Any, items_expr: Any) -> Any:
        index = self.evaluate(index_expr)
        if isinstance(index, str) and index.isdecimal():
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool):
            raise _fail(f"Fn::Select index must be an integer, got {_type_name(index)}")
        items = self.evaluate(items_expr)
        if not isinstance(items, list):
            raise _fail(f"Fn::Select needs a list, got {_type_name(items)}")
        if not 0 <= index < len(items):
            raise _fail(f"Fn::Select index {index} is out of bounds for a list of {len(items)}")
        if items[index] is None:
            raise _fail(f"Fn::Select item {index} is null")
        return items[index]

    def _find_in_map(self, map_expr: Any, top_expr: Any, second_expr: Any) -> Any:
        map_name = self.string(map_expr, "Fn::FindInMap map name")
        top = self.string(top_expr, "Fn::FindInMap top-level key")
        second = self.string(second_expr, "Fn::FindInMap second-level key")
        try:
            return self._scope.mappings[map_name][top][second]
        except KeyError:
            raise _fail(f"Fn::FindInMap: {map_name}/{top}/{second} is not in Mappings") from None

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        else:
            text, raw = arg
            variables = {key: self.string(item, f"Fn::Sub variable {key}") for key, item in raw.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return variables[name]
            if self._scope.lenient and "." in name and name.split(".", 1)[0] in self._scope.resources:
                logical, attribute = name.split(".", 1)
                return self._resource(logical, attribute)
            value = self.ref(name)
            if not isinstance(value, str):
                raise _fail(f"Fn::Sub: ${{{name}}} is not a string")
            return value

        return _SUB_TOKEN.sub(replace, text)

    # -- conditions (lenient)

    def condition_named(self, name: str) -> bool:
        if name in self._condition_values:
            return self._condition_values[name]
        if name in self._conditions_in_progress:
            raise _fail(f"condition {name} depends on itself")
        self._conditions_in_progress.add(name)
        try:
            value = self.condition(self._scope.conditions[name])
        finally:
            self._conditions_in_progress.discard(name)
        self._condition_values[name] = value
        return value

    def condition(self, value: Any) -> bool:
        if isinstance(value, dict) and list(value) == ["Condition"]:
            return self.condition_named(value["Condition"])
        name = intrinsic_name(value)
        arg: Any = value[name] if name else None
        if name == "Fn::Equals":
            left, right = (self.evaluate(item) for item in arg)
            return bool(left == right)
        if name == "Fn::Not":
            return not self.condition(arg[0])
        if name == "Fn::And":
            return all(self.condition(item) for item in arg)
        if name == "Fn::Or":
            return any(self.condition(item) for item in arg)
        raise _fail("a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or a Condition")


def _type_name(value: Any) -> str:
    if value is NO_VALUE:
        return "AWS::NoValue"
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
