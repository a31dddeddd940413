"""AWS IoT policy documents: parsing, validation and evaluation (allow/deny for one action on one ARN).

Owns the IAM-style policy language subset that AWS IoT uses: `Version`, `Statement` (one or a list),
`Effect`, `Action`/`NotAction`, `Resource`/`NotResource`, `Condition` (string, Bool and Null operators)
and policy variables `${...}`. No I/O.

Invariants:
- Default deny; an explicit Deny wins over any Allow.
- In patterns only `*` (any run, including `/`) and `?` (one character) are wildcards; MQTT `+` and `#`
  inside an ARN are literal characters. Actions match case-insensitively, resources case-sensitively.
- A substituted variable value is literal (its `*` is not a wildcard). A pattern whose variable has no
  value matches nothing, so a statement resting on it does not apply (AWS behaviour).
- Variables are substituted only under `"Version": "2012-10-17"`, as in IAM.
- `parse_policy` raises only `PolicyError` for any JSON-shaped input.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from protocols.errors import RemoteProtocolError

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
POLICY_DOCUMENT_MAX_CHARS = 2048

_ACTION = re.compile(r"\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERAL_ESCAPES = {"*": "*", "?": "?", "$": "$"}
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_STRING_OPERATORS = {
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnNotEquals",
    "ArnLike",
    "ArnNotLike",
    "Bool",
    "Null",
}


class PolicyError(RemoteProtocolError):
    """The policy document is not valid JSON or not a valid AWS IoT policy."""


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


# --------------------------------------------------------------------------------------------------
# Patterns


def _glob_regex(text: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text)


@functools.lru_cache(maxsize=4096)
def _compile(regex: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(regex, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


_GLOB, _LITERAL, _VAR = "glob", "literal", "var"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A wildcard pattern split into glob text, literal text (`${*}` escapes) and `${variable}` names.

    `pieces` holds (kind, text, regex) triples; patterns without variables are compiled once here.
    """

    source: str
    pieces: tuple[tuple[str, str, str], ...]
    ignore_case: bool = False
    static: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, source: str, *, variables: bool, ignore_case: bool = False) -> Pattern:
        pieces: list[tuple[str, str, str]] = []
        pos = 0
        for match in _VARIABLE.finditer(source) if variables else ():
            if match.start() > pos:
                glob = source[pos : match.start()]
                pieces.append((_GLOB, glob, _glob_regex(glob)))
            name = match.group(1)
            if name in _LITERAL_ESCAPES:
                pieces.append((_LITERAL, name, re.escape(name)))
            else:
                pieces.append((_VAR, name, ""))
            pos = match.end()
        if pos < len(source) or not pieces:
            pieces.append((_GLOB, source[pos:], _glob_regex(source[pos:])))
        static = None
        if all(kind != _VAR for kind, _, _ in pieces):
            static = _compile("".join(regex for _, _, regex in pieces), ignore_case)
        return cls(source, tuple(pieces), ignore_case, static)

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(text for kind, text, _ in self.pieces if kind == _VAR)

    def resolve(self, variables: Mapping[str, str]) -> re.Pattern[str] | None:
        """The compiled pattern for these variable values, or None if a variable has no value."""
        if self.static is not None:
            return self.static
        regex: list[str] = []
        for kind, text, piece in self.pieces:
            if kind != _VAR:
                regex.append(piece)
                continue
            value = variables.get(text)
            if value is None:
                return None
            regex.append(re.escape(value))
        return _compile("".join(regex), self.ignore_case)

    def literal(self, variables: Mapping[str, str]) -> str | None:
        """The pattern read as plain text (for the Equals operators), or None if a variable has no value."""
        out: list[str] = []
        for kind, text, _ in self.pieces:
            if kind != _VAR:
                out.append(text)
                continue
            value = variables.get(text)
            if value is None:
                return None
            out.append(value)
        return "".join(out)

    def matches(self, value: str, variables: Mapping[str, str]) -> bool:
        compiled = self.resolve(variables)
        return compiled is not None and compiled.fullmatch(value) is not None


# --------------------------------------------------------------------------------------------------
# Conditions


@dataclass(frozen=True, slots=True)
class Condition:
    """One `operator: {key: [values]}` test (all keys must pass)."""

    operator: str
    if_exists: bool
    tests: tuple[tuple[str, tuple[Pattern, ...]], ...]

    def holds(self, variables: Mapping[str, str]) -> bool:
        return all(self._key_holds(key, values, variables) for key, values in self.tests)

    def _key_holds(self, key: str, values: tuple[Pattern, ...], variables: Mapping[str, str]) -> bool:
        actual = variables.get(key)
        op = self.operator
        if op == "Null":
            want_absent = any(v.source.lower() == "true" for v in values)
            return (actual is None) == want_absent
        if actual is None:
            return self.if_exists or "Not" in op
        negated = "Not" in op
        found = any(self._value_matches(op, actual, value, variables) for value in values)
        return not found if negated else found

    @staticmethod
    def _value_matches(op: str, actual: str, value: Pattern, variables: Mapping[str, str]) -> bool:
        if op.endswith("Like"):
            return value.matches(actual, variables)
        expected = value.literal(variables)
        if expected is None:
            return False
        if op == "Bool" or "IgnoreCase" in op:
            return actual.lower() == expected.lower()
        return actual == expected


# --------------------------------------------------------------------------------------------------
# Documents


@dataclass(frozen=True, slots=True)
class Statement:
    effect: Effect
    actions: tuple[Pattern, ...]
    not_action: bool
    resources: tuple[Pattern, ...]
    not_resource: bool
    conditions: tuple[Condition, ...] = ()

    def applies(self, action: str, resource: str, variables: Mapping[str, str]) -> bool:
        action_hit = any(p.matches(action, variables) for p in self.actions)
        if action_hit == self.not_action:
            return False
        if self.not_resource:
            resolved = [p.resolve(variables) for p in self.resources]
            if any(r is None for r in resolved):
                return False
            if any(r is not None and r.fullmatch(resource) for r in resolved):
                return False
        elif not any(p.matches(resource, variables) for p in self.resources):
            return False
        return all(c.holds(variables) for c in self.conditions)


@dataclass(frozen=True, slots=True)
class Policy:
    """A parsed, validated policy document."""

    version: str | None
    statements: tuple[Statement, ...]
    canonical_json: str

    @property
    def default_name(self) -> str:
        """Name AWS gives a template policy without PolicyName: a 40-hex hash of the document.

        AWS IoT developer guide, Provisioning templates, Policy resources: PolicyName "Defaults to a hash of
        the policy document"; Single thing provisioning shows a 40-hex name. AWS does not name the hash;
        provemu uses upper-case SHA-1 of the canonical JSON.
        """
        return hashlib.sha1(self.canonical_json.encode("utf-8")).hexdigest().upper()

    def document(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.canonical_json)
        return result


def canonical_json(document: Any) -> str:
    """Key-sorted, whitespace-free JSON: equal documents give equal text (and equal default names)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_policy(document: str | bytes | Mapping[str, Any], *, max_chars: int = POLICY_DOCUMENT_MAX_CHARS) -> Policy:
    """Parse a policy from JSON text or an already-decoded object; raises PolicyError."""
    if isinstance(document, str | bytes):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as exc:
            raise PolicyError(f"policy document is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise PolicyError("policy document must be a JSON object")
    try:
        canonical = canonical_json(document)
    except (TypeError, ValueError, RecursionError) as exc:
        raise PolicyError(f"policy document is not JSON data: {exc}") from None
    if len(canonical) > max_chars:
        raise PolicyError(f"policy document longer than {max_chars} characters (whitespace excluded)")
    unknown = set(document) - {"Version", "Statement", "Id"}
    if unknown:
        raise PolicyError(f"unknown policy element(s): {', '.join(sorted(map(str, unknown)))}")
    version = document.get("Version")
    if version is not None and version not in (VERSION_2012, VERSION_2008):
        raise PolicyError(f"Version must be {VERSION_2012!r} or {VERSION_2008!r}")
    if "Id" in document and not isinstance(document["Id"], str):
        raise PolicyError("Id must be a string")
    raw = document.get("Statement")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise PolicyError("Statement must be an object or a non-empty list of objects")
    with_variables = version == VERSION_2012
    statements = tuple(_parse_statement(item, i, with_variables) for i, item in enumerate(raw))
    return Policy(version, statements, canonical)


def _string_list(value: Any, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise PolicyError(f"{what} must be a string or a non-empty list of strings")
    return items


def _parse_statement(item: Any, index: int, with_variables: bool) -> Statement:
    where = f"Statement[{index}]"
    if not isinstance(item, Mapping):
        raise PolicyError(f"{where} must be an object")
    unknown = set(item) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"{where}: unsupported element(s) {', '.join(sorted(map(str, unknown)))}")
    if "Sid" in item and not isinstance(item["Sid"], str):
        raise PolicyError(f"{where}: Sid must be a string")
    try:
        effect = Effect(item.get("Effect"))
    except ValueError:
        raise PolicyError(f"{where}: Effect must be 'Allow' or 'Deny'") from None
    if ("Action" in item) == ("NotAction" in item):
        raise PolicyError(f"{where}: exactly one of Action and NotAction is required")
    if ("Resource" in item) == ("NotResource" in item):
        raise PolicyError(f"{where}: exactly one of Resource and NotResource is required")
    not_action = "NotAction" in item
    actions = _string_list(item["NotAction" if not_action else "Action"], f"{where}: Action")
    for action in actions:
        if not _ACTION.fullmatch(action):
            raise PolicyError(f"{where}: invalid action {action!r}")
    not_resource = "NotResource" in item
    resources = _string_list(item["NotResource" if not_resource else "Resource"], f"{where}: Resource")
    for resource in resources:
        if resource != "*" and not resource.startswith("arn:"):
            raise PolicyError(f"{where}: resource {resource!r} must be '*' or an ARN")
    conditions = _parse_conditions(item.get("Condition"), where, with_variables)
    return Statement(
        effect,
        tuple(Pattern.parse(a, variables=False, ignore_case=True) for a in actions),
        not_action,
        tuple(Pattern.parse(r, variables=with_variables) for r in resources),
        not_resource,
        conditions,
    )


def _parse_conditions(block: Any, where: str, with_variables: bool) -> tuple[Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, Mapping):
        raise PolicyError(f"{where}: Condition must be an object")
    conditions = []
    for operator, tests in block.items():
        if not isinstance(operator, str):
            raise PolicyError(f"{where}: condition operator must be a string")
        base = operator.removesuffix("IfExists")
        if base not in _STRING_OPERATORS:
            raise PolicyError(f"{where}: unsupported condition operator {operator!r}")
        if not isinstance(tests, Mapping) or not tests:
            raise PolicyError(f"{where}: {operator} must map condition keys to values")
        parsed = []
        for key, values in tests.items():
            if isinstance(values, bool):
                values = "true" if values else "false"
            texts = _string_list(values, f"{where}: {operator}.{key}")
            patterns = tuple(Pattern.parse(t, variables=with_variables) for t in texts)
            parsed.append((str(key), patterns))
        conditions.append(Condition(base, base != operator, tuple(parsed)))
    return tuple(conditions)


# --------------------------------------------------------------------------------------------------
# Evaluation


class PolicyEngine:
    """Evaluates requests against the policies attached to a principal."""

    def evaluate(
        self, policies: Iterable[Policy], action: str, resource: str, variables: Mapping[str, str]
    ) -> Decision:
        allowed = False
        for policy in policies:
            for statement in policy.statements:
                if statement.applies(action, resource, variables):
                    if statement.effect is Effect.DENY:
                        return Decision.EXPLICIT_DENY
                    allowed = True
        return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY

    def is_allowed(self, policies: Iterable[Policy], action: str, resource: str, variables: Mapping[str, str]) -> bool:
        return self.evaluate(policies, action, resource, variables) is Decision.ALLOW


# --------------------------------------------------------------------------------------------------
# Variables and ARNs

_SUBJECT_FIELDS: Sequence[tuple[str, x509.ObjectIdentifier]] = (
    ("CommonName", NameOID.COMMON_NAME),
    ("Country", NameOID.COUNTRY_NAME),
    ("Organization", NameOID.ORGANIZATION_NAME),
    ("OrganizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("DistinguishedNameQualifier", NameOID.DN_QUALIFIER),
    ("State", NameOID.STATE_OR_PROVINCE_NAME),
    ("SerialNumber", NameOID.SERIAL_NUMBER),
    ("Title", NameOID.TITLE),
    ("Surname", NameOID.SURNAME),
    ("GivenName", NameOID.GIVEN_NAME),
    ("Initials", NameOID.INITIALS),
    ("Pseudonym", NameOID.PSEUDONYM),
    ("GenerationQualifier", NameOID.GENERATION_QUALIFIER),
)


def certificate_subject_variables(certificate: x509.Certificate) -> dict[str, str]:
    """`iot:Certificate.Subject.<Field>` variables for the fields present in the certificate's subject."""
    result: dict[str, str] = {}
    for name, oid in _SUBJECT_FIELDS:
        attributes = certificate.subject.get_attributes_for_oid(oid)
        if attributes:
            value = attributes[0].value
            result[f"iot:Certificate.Subject.{name}"] = value if isinstance(value, str) else value.decode()
    return result


def policy_variables(
    *,
    client_id: str | None = None,
    thing_name: str | None = None,
    thing_type_name: str | None = None,
    is_attached: bool | None = None,
    thing_attributes: Mapping[str, str] | None = None,
    certificate_variables: Mapping[str, str] | None = None,
    topic: str | None = None,
) -> dict[str, str]:
    """The `iot:` policy variables with a value for one connection (and optionally one topic)."""
    result: dict[str, str] = dict(certificate_variables or {})
    if client_id is not None:
        result["iot:ClientId"] = client_id
    if thing_name is not None:
        result["iot:Connection.Thing.ThingName"] = thing_name
    if thing_type_name is not None:
        result["iot:Connection.Thing.ThingTypeName"] = thing_type_name
    if is_attached is not None:
        result["iot:Connection.Thing.IsAttached"] = "true" if is_attached else "false"
    for name, value in (thing_attributes or {}).items():
        result[f"iot:Connection.Thing.Attributes[{name}]"] = value
    if topic is not None:
        result["iot:Topic"] = topic
    return result


def _arn(region: str, account: str, kind: str, name: str, partition: str) -> str:
    return f"arn:{partition}:iot:{region}:{account}:{kind}/{name}"


def client_arn(region: str, account: str, client_id: str, partition: str = "aws") -> str:
    return _arn(region, account, "client", client_id, partition)


def topic_arn(region: str, account: str, topic: str, partition: str = "aws") -> str:
    return _arn(region, account, "topic", topic, partition)


def topicfilter_arn(region: str, account: str, topic_filter: str, partition: str = "aws") -> str:
    return _arn(region, account, "topicfilter", topic_filter, partition)
