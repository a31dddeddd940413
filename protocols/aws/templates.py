"""Fleet provisioning templates: parse and validate a body, evaluate it into a plan, plan thing updates.

Owns the template document model (AWS IoT developer guide, Provisioning templates): sections `Parameters`,
`Mappings`, `Resources`, `DeviceConfiguration` (plus `Conditions` in lenient mode), the three resource
types and their `OverrideSettings`, and the pure decisions RegisterThing needs (`ProvisioningPlan`, `plan_thing_change`,
`plan_certificate_status`). The registry applies the results; nothing here reads or writes state.

Invariants:
- `parse_template` raises only `TemplateValidationError` (for any input); a parsed template's literal
  shapes are valid, so evaluation fails only with `TemplateEvaluationError` (carrying a RejectionCase).
- A plan's certificate always names the certificate being registered; its strings satisfy AWS's
  name and attribute patterns; `device_configuration` is a flat str -> str map.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from protocols.aws.fleet_messages import RejectionCase
from protocols.aws.policy import Policy, PolicyError, parse_policy
from protocols.aws.template_functions import (
    NO_VALUE,
    SUBJECT_FIELDS,
    Evaluator,
    Scope,
    TemplateEvaluationError,
    TemplateValidationError,
    check_condition,
    check_expression,
    intrinsic_name,
)

__all__ = [
    "TEMPLATE_BODY_MAX_CHARS",
    "CertificateSpec",
    "CertificateStatus",
    "Override",
    "PolicySpec",
    "ProvisioningPlan",
    "ProvisioningTemplate",
    "TemplateEvaluationError",
    "TemplateValidationError",
    "ThingAction",
    "ThingChange",
    "ThingOverrides",
    "ThingRecord",
    "ThingSpec",
    "certificate_subject_fields",
    "parse_template",
    "plan_certificate_status",
    "plan_thing_change",
]

TEMPLATE_BODY_MAX_CHARS = 10240
MAX_NESTING = 32

THING = "AWS::IoT::Thing"
CERTIFICATE = "AWS::IoT::Certificate"
POLICY = "AWS::IoT::Policy"

_SECTIONS = {"Parameters", "Mappings", "Resources", "DeviceConfiguration"}
_LENIENT_SECTIONS = {"Conditions", "AWSTemplateFormatVersion", "Description", "Metadata"}
_PROPERTIES = {
    THING: {"ThingName", "AttributePayload", "ThingTypeName", "ThingGroups", "BillingGroup"},
    CERTIFICATE: {
        "CertificateId",
        "CertificateID",
        "CertificateSigningRequest",
        "CertificatePem",
        "CACertificatePem",
        "Status",
    },
    POLICY: {"PolicyName", "PolicyDocument"},
}
# (property, override key spellings): the docs list the upper-case keys, every example the property names.
_THING_OVERRIDE_KEYS = {
    "AttributePayload": "attribute_payload",
    "ATTRIBUTE_PAYLOAD": "attribute_payload",
    "ThingTypeName": "thing_type_name",
    "THING_TYPE_NAME": "thing_type_name",
    "ThingGroups": "thing_groups",
    "THING_GROUPS": "thing_groups",
}
_CERTIFICATE_OVERRIDE_KEYS = {"Status": "status"}
_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}")
_POLICY_NAME = re.compile(r"[\w+=,.@-]{1,128}")
_ATTRIBUTE_NAME = re.compile(r"[a-zA-Z0-9_.,@/:#-]{1,128}")
_ATTRIBUTE_VALUE = re.compile(r"[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}")


class Override(enum.Enum):
    DO_NOTHING = "DO_NOTHING"
    REPLACE = "REPLACE"
    FAIL = "FAIL"
    MERGE = "MERGE"


class CertificateStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


# --------------------------------------------------------------------------------------------------
# Plan


@dataclass(frozen=True, slots=True)
class ThingOverrides:
    """What to do per property when the thing already exists (unset: DO_NOTHING)."""

    attribute_payload: Override = Override.DO_NOTHING
    thing_type_name: Override = Override.DO_NOTHING
    thing_groups: Override = Override.DO_NOTHING


@dataclass(frozen=True, slots=True)
class ThingSpec:
    logical_id: str
    thing_name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    thing_type_name: str | None = None
    thing_groups: tuple[str, ...] = ()
    billing_group: str | None = None
    overrides: ThingOverrides = ThingOverrides()


@dataclass(frozen=True, slots=True)
class CertificateSpec:
    logical_id: str
    certificate_id: str
    status: CertificateStatus = CertificateStatus.ACTIVE
    status_override: Override = Override.REPLACE


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A policy to attach: an existing one by name (`policy` None) or one created from `policy`."""

    logical_id: str
    policy_name: str
    policy: Policy | None = None

    @property
    def by_name(self) -> bool:
        return self.policy is None


@dataclass(frozen=True, slots=True)
class ProvisioningPlan:
    thing: ThingSpec | None
    certificate: CertificateSpec | None
    policies: tuple[PolicySpec, ...]
    device_configuration: Mapping[str, str]

    @property
    def thing_name(self) -> str:
        """The RegisterThing `thingName` (empty when the template declares no thing)."""
        return self.thing.thing_name if self.thing else ""


# --------------------------------------------------------------------------------------------------
# Template document


@dataclass(frozen=True, slots=True)
class Resource:
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    overrides: Mapping[str, Override]
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class ProvisioningTemplate:
    """A validated template body; `evaluate()` turns it into a plan for one device."""

    body: Mapping[str, Any]
    scope: Scope
    resources: tuple[Resource, ...]
    device_configuration: Mapping[str, Any]
    warnings: tuple[str, ...] = ()

    @property
    def lenient(self) -> bool:
        return self.scope.lenient

    def body_json(self) -> str:
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)

    def evaluate(
        self,
        parameters: Mapping[str, str],
        *,
        certificate_id: str,
        certificate_subject: Mapping[str, str] | None = None,
        aws_pseudo_parameters: Mapping[str, str] | None = None,
    ) -> ProvisioningPlan:
        """Evaluate for one RegisterThing.

        `parameters`: request parameters after the hook's overrides; `certificate_subject`: subject fields
        by pseudo-parameter suffix (`CommonName`, ...; see `certificate_subject_fields`);
        `aws_pseudo_parameters`: lenient mode's `AWS::Region`, `AWS::AccountId`, ...
        """
        return _PlanBuilder(self, parameters, certificate_id, certificate_subject, aws_pseudo_parameters).build()


def parse_template(body: str | bytes | Mapping[str, Any], *, lenient: bool = False) -> ProvisioningTemplate:
    """Parse and validate a template body (JSON text or decoded object); raises TemplateValidationError."""
    document = _load(body)
    try:
        return _parse_document(document, lenient)
    except RecursionError:
        raise TemplateValidationError("template is nested too deeply") from None


def _load(body: str | bytes | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise TemplateValidationError("template body is not UTF-8") from None
    if isinstance(body, str):
        text = body
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise TemplateValidationError(f"template body is not valid JSON: {exc}") from None
    else:
        document = body
        try:
            text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise TemplateValidationError(f"template body is not JSON data: {exc}") from None
    if len(text) > TEMPLATE_BODY_MAX_CHARS:
        raise TemplateValidationError(f"template body longer than {TEMPLATE_BODY_MAX_CHARS} characters")
    if not isinstance(document, Mapping):
        raise TemplateValidationError("template body must be a JSON object")
    _check_depth(document)
    return dict(document)


def _check_depth(document: Any) -> None:
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_NESTING:
            raise TemplateValidationError(f"template nested deeper than {MAX_NESTING} levels")
        children = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children)


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TemplateValidationError("must be a JSON object", path)
    return value


def _parse_document(document: Mapping[str, Any], lenient: bool) -> ProvisioningTemplate:
    allowed = _SECTIONS | (_LENIENT_SECTIONS if lenient else set())
    for key in document:
        if key not in allowed:
            hint = " (enable lenient mode for CloudFormation sections)" if key in _LENIENT_SECTIONS else ""
            raise TemplateValidationError(f"unknown top-level section {key!r}{hint}")
    defaults = _parse_parameters(document.get("Parameters", {}), lenient)
    mappings = _parse_mappings(document.get("Mappings", {}))
    if "Resources" not in document:
        raise TemplateValidationError("the Resources section is required")
    raw_resources = _object(document["Resources"], "Resources")
    resource_types: dict[str, str] = {}
    for logical, declaration in raw_resources.items():
        resource_type = _object(declaration, f"Resources.{logical}").get("Type")
        if not isinstance(resource_type, str) or resource_type not in _PROPERTIES:
            raise TemplateValidationError(
                f"Type must be one of {', '.join(sorted(_PROPERTIES))}, got {resource_type!r}",
                f"Resources.{logical}",
            )
        resource_types[logical] = resource_type
    conditions = dict(_object(document.get("Conditions", {}), "Conditions"))
    scope = Scope(defaults, mappings, resource_types, conditions, lenient)
    warnings: list[str] = []
    for name, condition in conditions.items():
        check_condition(condition, scope, f"Conditions.{name}", warnings)
    resources = tuple(
        _parse_resource(logical, declaration, scope, warnings) for logical, declaration in raw_resources.items()
    )
    for kind in (THING, CERTIFICATE):
        if sum(r.type == kind for r in resources) > 1:
            raise TemplateValidationError(f"a template may declare at most one {kind}", "Resources")
    device_configuration = dict(_object(document.get("DeviceConfiguration", {}), "DeviceConfiguration"))
    for key, value in device_configuration.items():
        path = f"DeviceConfiguration.{key}"
        if not isinstance(value, str) and intrinsic_name(value) is None:
            raise TemplateValidationError("values must be strings or intrinsic functions (no nesting)", path)
        check_expression(value, scope, path, warnings)
    return ProvisioningTemplate(dict(document), scope, resources, device_configuration, tuple(warnings))


def _parse_parameters(section: Any, lenient: bool) -> dict[str, str | None]:
    defaults: dict[str, str | None] = {}
    for name, declaration in _object(section, "Parameters").items():
        path = f"Parameters.{name}"
        declaration = _object(declaration, path)
        if declaration.get("Type") != "String":
            raise TemplateValidationError("Type must be 'String' (the only documented parameter type)", path)
        unknown = set(declaration) - {"Type", "Default", "Description"}
        if unknown and not lenient:
            raise TemplateValidationError(f"unsupported parameter attribute(s) {', '.join(sorted(unknown))}", path)
        default = declaration.get("Default")
        if default is not None and not isinstance(default, str):
            raise TemplateValidationError("Default must be a string", path)
        defaults[name] = default
    return defaults


def _parse_mappings(section: Any) -> dict[str, dict[str, dict[str, Any]]]:
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for map_name, top in _object(section, "Mappings").items():
        result[map_name] = {}
        for top_key, second in _object(top, f"Mappings.{map_name}").items():
            path = f"Mappings.{map_name}.{top_key}"
            if intrinsic_name(second) is not None:
                raise TemplateValidationError("Mappings cannot contain intrinsic functions or parameters", path)
            result[map_name][top_key] = dict(_object(second, path))
            for key, value in result[map_name][top_key].items():
                if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                    continue
                problem = "intrinsic functions or parameters" if intrinsic_name(value) else "anything but strings"
                raise TemplateValidationError(f"Mappings cannot contain {problem}", f"{path}.{key}")
    return result


def _parse_resource(logical: str, declaration: Mapping[str, Any], scope: Scope, warnings: list[str]) -> Resource:
    path = f"Resources.{logical}"
    allowed = {"Type", "Properties", "OverrideSettings"} | (
        {"Condition", "DependsOn", "Metadata"} if scope.lenient else set()
    )
    unknown = set(declaration) - allowed
    if unknown:
        raise TemplateValidationError(f"unsupported resource attribute(s) {', '.join(sorted(unknown))}", path)
    resource_type: str = declaration["Type"]
    properties = _object(declaration.get("Properties", {}), f"{path}.Properties")
    for key in properties:
        if key not in _PROPERTIES[resource_type]:
            raise TemplateValidationError(f"unknown {resource_type} property {key!r}", f"{path}.Properties")
    check_expression(dict(properties), scope, f"{path}.Properties", warnings)
    condition = declaration.get("Condition")
    if condition is not None and (not isinstance(condition, str) or condition not in scope.conditions):
        raise TemplateValidationError(f"unknown condition {condition!r}", f"{path}.Condition")
    if resource_type == THING:
        _check_thing(properties, f"{path}.Properties")
    elif resource_type == CERTIFICATE:
        _check_certificate(properties, f"{path}.Properties")
    else:
        _check_policy(properties, f"{path}.Properties")
    overrides = _parse_overrides(resource_type, declaration.get("OverrideSettings"), f"{path}.OverrideSettings")
    return Resource(logical, resource_type, dict(properties), overrides, condition)


def _check_thing(properties: Mapping[str, Any], path: str) -> None:
    attributes = properties.get("AttributePayload")
    if attributes is not None and intrinsic_name(attributes) is None:
        for name, value in _object(attributes, f"{path}.AttributePayload").items():
            if not isinstance(value, str) and intrinsic_name(value) is None:
                raise TemplateValidationError("attribute values must be strings", f"{path}.AttributePayload.{name}")
    groups = properties.get("ThingGroups")
    if groups is not None and intrinsic_name(groups) is None and not isinstance(groups, list):
        raise TemplateValidationError("ThingGroups must be a list", f"{path}.ThingGroups")


def _check_certificate(properties: Mapping[str, Any], path: str) -> None:
    if not {"CertificateId", "CertificateID"} & set(properties):
        raise TemplateValidationError(
            "fleet provisioning templates must specify the certificate by CertificateId", path
        )
    if {"CertificateId", "CertificateID"} <= set(properties) or {
        "CertificateSigningRequest",
        "CertificatePem",
        "CACertificatePem",
    } & set(properties):
        raise TemplateValidationError("specify the certificate only by CertificateId in fleet provisioning", path)
    status = properties.get("Status")
    if isinstance(status, str):
        if _certificate_status(status) is None:
            raise TemplateValidationError(f"{_STATUS_HINT}, got {status!r}", f"{path}.Status")
    elif status is not None and intrinsic_name(status) is None:
        raise TemplateValidationError("Status must be a string", f"{path}.Status")


def _check_policy(properties: Mapping[str, Any], path: str) -> None:
    if ("PolicyName" in properties) == ("PolicyDocument" in properties):
        raise TemplateValidationError("specify exactly one of PolicyName and PolicyDocument", path)
    document = properties.get("PolicyDocument")
    if document is None or _contains_intrinsic(document):
        return
    if not isinstance(document, str | Mapping):
        raise TemplateValidationError("must be a JSON object or an escaped JSON string", f"{path}.PolicyDocument")
    try:
        parse_policy(document)
    except PolicyError as exc:
        raise TemplateValidationError(f"invalid policy document: {exc}", f"{path}.PolicyDocument") from None


def _contains_intrinsic(value: Any) -> bool:
    if intrinsic_name(value) is not None:
        return True
    if isinstance(value, Mapping):
        return any(_contains_intrinsic(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_intrinsic(v) for v in value)
    return False


def _parse_overrides(resource_type: str, settings: Any, path: str) -> dict[str, Override]:
    if settings is None:
        return {}
    if resource_type == POLICY:
        raise TemplateValidationError("OverrideSettings are not available for policies", path)
    result: dict[str, Override] = {}
    for key, value in _object(settings, path).items():
        target = (_THING_OVERRIDE_KEYS if resource_type == THING else _CERTIFICATE_OVERRIDE_KEYS).get(key)
        if target is None:
            raise TemplateValidationError(f"no override setting {key!r} for {resource_type}", path)
        try:
            override = Override(value)
        except ValueError:
            raise TemplateValidationError(f"{key}: unknown override {value!r}", path) from None
        if override is Override.MERGE and target not in ("attribute_payload", "thing_groups"):
            raise TemplateValidationError(f"{key}: MERGE is valid only for ThingGroups and AttributePayload", path)
        if target in result and result[target] is not override:
            raise TemplateValidationError(f"{key}: conflicting settings for the same property", path)
        result[target] = override
    return result


def _certificate_status(value: str) -> CertificateStatus | None:
    try:
        return CertificateStatus(value.upper())
    except ValueError:
        return None


_STATUS_HINT = "Status must be ACTIVE or INACTIVE (any case)"


# --------------------------------------------------------------------------------------------------
# Evaluation


class _PlanBuilder:
    def __init__(
        self,
        template: ProvisioningTemplate,
        parameters: Mapping[str, str],
        certificate_id: str,
        certificate_subject: Mapping[str, str] | None,
        aws_pseudo_parameters: Mapping[str, str] | None,
    ) -> None:
        self._template = template
        self._certificate_id = certificate_id
        self._aws = aws_pseudo_parameters or {}
        self._resources = {r.logical_id: r for r in template.resources}
        self._specs: dict[str, ThingSpec | CertificateSpec | PolicySpec] = {}
        self._building: set[str] = set()
        self._evaluator = Evaluator(
            template.scope,
            parameters,
            certificate_id=certificate_id,
            certificate_subject=certificate_subject,
            aws_pseudo_parameters=aws_pseudo_parameters,
            resolve_resource=self._resolve,
        )

    def build(self) -> ProvisioningPlan:
        thing: ThingSpec | None = None
        certificate: CertificateSpec | None = None
        policies: list[PolicySpec] = []
        for resource in self._template.resources:
            if resource.condition is not None and not self._evaluator.condition_named(resource.condition):
                continue
            spec = self._spec(resource.logical_id)
            if isinstance(spec, ThingSpec):
                thing = spec
            elif isinstance(spec, CertificateSpec):
                certificate = spec
            else:
                policies.append(spec)
        configuration: dict[str, str] = {}
        for key, expression in self._template.device_configuration.items():
            value = self._evaluator.evaluate(expression)
            if value is NO_VALUE:
                continue
            if not isinstance(value, str):
                raise TemplateEvaluationError(f"DeviceConfiguration.{key} must evaluate to a string")
            configuration[key] = value
        return ProvisioningPlan(thing, certificate, tuple(policies), configuration)

    def _spec(self, logical: str) -> ThingSpec | CertificateSpec | PolicySpec:
        if logical in self._specs:
            return self._specs[logical]
        if logical in self._building:
            raise TemplateEvaluationError(f"resource {logical} refers to itself")
        self._building.add(logical)
        try:
            resource = self._resources[logical]
            spec: ThingSpec | CertificateSpec | PolicySpec
            if resource.type == THING:
                spec = self._thing(resource)
            elif resource.type == CERTIFICATE:
                spec = self._certificate(resource)
            else:
                spec = self._policy(resource)
        finally:
            self._building.discard(logical)
        self._specs[logical] = spec
        return spec

    def _optional_string(self, properties: Mapping[str, Any], key: str, what: str) -> str | None:
        if key not in properties:
            return None
        value = self._evaluator.evaluate(properties[key])
        if value is NO_VALUE:
            return None
        if not isinstance(value, str):
            raise TemplateEvaluationError(f"{what} must evaluate to a string")
        return value

    def _thing(self, resource: Resource) -> ThingSpec:
        props = resource.properties
        where = f"Resources.{resource.logical_id}"
        name = self._optional_string(props, "ThingName", f"{where}.ThingName")
        if name is None:
            raise TemplateEvaluationError(f"{where}: ThingName is required to register a thing")
        _check_name(name, "thing name")
        attributes: dict[str, str] = {}
        if "AttributePayload" in props:
            payload = self._evaluator.evaluate(props["AttributePayload"])
            if payload is not NO_VALUE:
                if not isinstance(payload, dict):
                    raise TemplateEvaluationError(f"{where}.AttributePayload must evaluate to an object")
                for key, value in payload.items():
                    if not isinstance(value, str):
                        raise TemplateEvaluationError(f"attribute {key} must evaluate to a string")
                    if not _ATTRIBUTE_NAME.fullmatch(key) or not _ATTRIBUTE_VALUE.fullmatch(value):
                        raise TemplateEvaluationError(f"attribute {key}={value!r} violates AWS's attribute patterns")
                    attributes[key] = value
        groups: tuple[str, ...] = ()
        if "ThingGroups" in props:
            evaluated = self._evaluator.evaluate(props["ThingGroups"])
            if evaluated is not NO_VALUE:
                if not isinstance(evaluated, list) or not all(isinstance(g, str) for g in evaluated):
                    raise TemplateEvaluationError(f"{where}.ThingGroups must evaluate to a list of strings")
                groups = tuple(dict.fromkeys(evaluated))
        for group in groups:
            _check_name(group, "thing group name")
        thing_type = self._optional_string(props, "ThingTypeName", f"{where}.ThingTypeName")
        billing_group = self._optional_string(props, "BillingGroup", f"{where}.BillingGroup")
        for value, what in ((thing_type, "thing type name"), (billing_group, "billing group name")):
            if value is not None:
                _check_name(value, what)
        overrides = ThingOverrides(
            **{
                key: resource.overrides[key]
                for key in ("attribute_payload", "thing_type_name", "thing_groups")
                if key in resource.overrides
            }
        )
        return ThingSpec(resource.logical_id, name, attributes, thing_type, groups, billing_group, overrides)

    def _certificate(self, resource: Resource) -> CertificateSpec:
        props = resource.properties
        where = f"Resources.{resource.logical_id}"
        key = "CertificateId" if "CertificateId" in props else "CertificateID"
        certificate_id = self._optional_string(props, key, f"{where}.{key}")
        if certificate_id != self._certificate_id:
            raise TemplateEvaluationError(f"{where}.{key} does not name the certificate being registered")
        status = CertificateStatus.ACTIVE
        raw_status = self._optional_string(props, "Status", f"{where}.Status")
        if raw_status is not None:
            parsed = _certificate_status(raw_status)
            if parsed is None:
                raise TemplateEvaluationError(f"{where}: {_STATUS_HINT}, got {raw_status!r}")
            status = parsed
        return CertificateSpec(
            resource.logical_id, certificate_id, status, resource.overrides.get("status", Override.REPLACE)
        )

    def _policy(self, resource: Resource) -> PolicySpec:
        props = resource.properties
        where = f"Resources.{resource.logical_id}"
        if "PolicyName" in props:
            name = self._optional_string(props, "PolicyName", f"{where}.PolicyName")
            if name is None or not _POLICY_NAME.fullmatch(name):
                raise TemplateEvaluationError(f"{where}.PolicyName {name!r} is not a valid policy name")
            return PolicySpec(resource.logical_id, name)
        document = self._evaluator.evaluate(props["PolicyDocument"])
        if not isinstance(document, str | dict):
            raise TemplateEvaluationError(f"{where}.PolicyDocument must be a JSON object or an escaped string")
        try:
            policy = parse_policy(document)
        except PolicyError as exc:
            raise TemplateEvaluationError(f"{where}.PolicyDocument: {exc}") from None
        return PolicySpec(resource.logical_id, policy.default_name, policy)

    def _resolve(self, logical: str, attribute: str | None) -> str:
        """Lenient-mode `Ref` to a resource and `Fn::GetAtt`, as CloudFormation defines them for IoT."""
        spec = self._spec(logical)
        if isinstance(spec, ThingSpec):
            physical, kind = spec.thing_name, "thing"
        elif isinstance(spec, CertificateSpec):
            physical, kind = spec.certificate_id, "cert"
        else:
            physical, kind = spec.policy_name, "policy"
        if attribute is None or (attribute == "Id" and kind != "thing"):
            return physical
        if attribute == "Arn":
            region, account = self._aws.get("AWS::Region"), self._aws.get("AWS::AccountId")
            if region is None or account is None:
                raise TemplateEvaluationError("Fn::GetAtt Arn needs AWS::Region and AWS::AccountId configured")
            return f"arn:{self._aws.get('AWS::Partition', 'aws')}:iot:{region}:{account}:{kind}/{physical}"
        raise TemplateEvaluationError(f"Fn::GetAtt: {logical} has no attribute {attribute} in the emulator")


def _check_name(value: str, what: str) -> None:
    if not _NAME.fullmatch(value):
        raise TemplateEvaluationError(f"{what} {value!r} must match [a-zA-Z0-9:_-]{{1,128}}")


# --------------------------------------------------------------------------------------------------
# Applying a plan to existing state (pure decisions)


@dataclass(frozen=True, slots=True)
class ThingRecord:
    name: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    thing_type: str | None = None
    groups: tuple[str, ...] = ()
    billing_group: str | None = None


class ThingAction(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class ThingChange:
    """The thing as it must be after RegisterThing, and how it differs from before."""

    action: ThingAction
    record: ThingRecord
    previous: ThingRecord | None = None

    @property
    def groups_added(self) -> tuple[str, ...]:
        before = set(self.previous.groups) if self.previous else set()
        return tuple(g for g in self.record.groups if g not in before)

    @property
    def groups_removed(self) -> tuple[str, ...]:
        after = set(self.record.groups)
        return tuple(g for g in self.previous.groups if g not in after) if self.previous else ()


def _conflict(what: str, name: str) -> TemplateEvaluationError:
    return TemplateEvaluationError(
        f"thing {name} exists with a different {what} and its OverrideSettings is FAIL",
        RejectionCase.RESOURCE_CONFLICT,
        thing_name=name,
    )


def plan_thing_change(existing: ThingRecord | None, spec: ThingSpec) -> ThingChange:
    """Apply OverrideSettings: DO_NOTHING keeps, REPLACE overwrites, MERGE unions (attributes: the
    template wins per key), FAIL raises a RESOURCE_CONFLICT error when the value would change.
    The billing group has no override key: an existing thing keeps its billing group."""
    desired_attributes = dict(spec.attributes)
    if existing is None:
        record = ThingRecord(
            spec.thing_name, desired_attributes, spec.thing_type_name, spec.thing_groups, spec.billing_group
        )
        return ThingChange(ThingAction.CREATE, record)
    o = spec.overrides

    attributes = dict(existing.attributes)
    if o.attribute_payload is Override.REPLACE:
        attributes = desired_attributes
    elif o.attribute_payload is Override.MERGE:
        attributes.update(desired_attributes)
    elif o.attribute_payload is Override.FAIL and desired_attributes != dict(existing.attributes):
        raise _conflict("AttributePayload", existing.name)

    thing_type = existing.thing_type
    if o.thing_type_name is Override.REPLACE:
        thing_type = spec.thing_type_name
    elif o.thing_type_name is Override.FAIL and spec.thing_type_name != existing.thing_type:
        raise _conflict("ThingTypeName", existing.name)

    groups = existing.groups
    if o.thing_groups is Override.REPLACE:
        groups = spec.thing_groups
    elif o.thing_groups is Override.MERGE:
        groups = tuple(dict.fromkeys((*existing.groups, *spec.thing_groups)))
    elif o.thing_groups is Override.FAIL and set(spec.thing_groups) != set(existing.groups):
        raise _conflict("ThingGroups", existing.name)

    record = ThingRecord(existing.name, attributes, thing_type, groups, existing.billing_group)
    unchanged = (
        dict(record.attributes) == dict(existing.attributes)
        and record.thing_type == existing.thing_type
        and set(record.groups) == set(existing.groups)
    )
    return ThingChange(ThingAction.UNCHANGED if unchanged else ThingAction.UPDATE, record, existing)


def plan_certificate_status(current_status: str, spec: CertificateSpec) -> str:
    """New status for the registered certificate. A certificate still PENDING_ACTIVATION (the normal
    fleet case) always takes the template's Status; an already active/inactive one follows the Status
    override (DO_NOTHING keeps it, FAIL conflicts on a change)."""
    desired = spec.status.value
    if current_status == "PENDING_ACTIVATION" or spec.status_override is Override.REPLACE:
        return desired
    if spec.status_override is Override.FAIL and current_status != desired:
        raise TemplateEvaluationError(
            f"certificate {spec.certificate_id} is {current_status} and its Status override is FAIL",
            RejectionCase.RESOURCE_CONFLICT,
        )
    return current_status


# --------------------------------------------------------------------------------------------------
# Certificate subject -> pseudo-parameters

_SUBJECT_OIDS = dict(
    zip(
        SUBJECT_FIELDS,
        (
            NameOID.COMMON_NAME,
            NameOID.COUNTRY_NAME,
            NameOID.ORGANIZATION_NAME,
            NameOID.ORGANIZATIONAL_UNIT_NAME,
            NameOID.DN_QUALIFIER,
            NameOID.STATE_OR_PROVINCE_NAME,
            NameOID.SERIAL_NUMBER,
        ),
        strict=True,
    )
)


def certificate_subject_fields(certificate: x509.Certificate) -> dict[str, str]:
    """Subject fields for `certificate_subject`: `{"CommonName": ..., "StateName": ...}` where present.
    `SerialNumber` is the subject's serialNumber attribute (JITP reads only the subject)."""
    result: dict[str, str] = {}
    for name, oid in _SUBJECT_OIDS.items():
        attributes = certificate.subject.get_attributes_for_oid(oid)
        if attributes:
            value = attributes[0].value
            result[name] = value if isinstance(value, str) else value.decode()
    return result
