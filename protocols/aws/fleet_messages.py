"""Fleet provisioning payloads and the rejection catalogue.

Payload shapes: AWS IoT developer guide, Device provisioning MQTT API (fleet-provision-api). Status codes
come from the set of the v4 beta Embedded C SDK's server status enum `AwsIotProvisioningServerStatusCode_t`
(aws-iot-device-sdk-embedded-C, branch v4_beta_deprecated, `aws_iot_provisioning_types.h`). AWS does not
document most `errorCode`/`errorMessage` strings; each default below names its basis, and all are
configurable.

Owns the JSON/CBOR codec for request, accepted and rejected payloads and the table that maps every
rejection case to its `{statusCode, errorCode, errorMessage}`. No I/O, no state.

Invariants:
- The only exception a decoder raises on bad peer bytes is `FleetPayloadError`; it names the
  `RejectionCase` the endpoint should answer with (normally MALFORMED_PAYLOAD).
- Requests: an empty payload, `{}` and the empty CBOR map are the same empty request; unknown keys are
  ignored; JSON on a `cbor` topic (and CBOR on a `json` topic) is malformed.
- `decode_response(encode_response(r))` returns `r` in both formats; `statusCode` is a CBOR integer.
"""

from __future__ import annotations

import enum
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import cbor2

from protocols.aws.fleet_topics import Operation, PayloadFormat, TopicKind
from protocols.errors import RemoteProtocolError

PARAMETER_KEY_MAX_LENGTH = 2048
PARAMETER_VALUE_MAX_LENGTH = 4096
_CBOR_MAX_DEPTH = 64

KEY_CERTIFICATE_ID = "certificateId"
KEY_CERTIFICATE_PEM = "certificatePem"
KEY_PRIVATE_KEY = "privateKey"
KEY_OWNERSHIP_TOKEN = "certificateOwnershipToken"
KEY_CSR = "certificateSigningRequest"
KEY_PARAMETERS = "parameters"
KEY_DEVICE_CONFIGURATION = "deviceConfiguration"
KEY_THING_NAME = "thingName"
KEY_STATUS_CODE = "statusCode"
KEY_ERROR_CODE = "errorCode"
KEY_ERROR_MESSAGE = "errorMessage"


class RejectionCase(enum.Enum):
    """Every reason the endpoint answers on `/rejected`; values are the configuration keys."""

    EMPTY_OWNERSHIP_TOKEN = "empty_ownership_token"
    INVALID_OWNERSHIP_TOKEN = "invalid_ownership_token"
    EXPIRED_OWNERSHIP_TOKEN = "expired_ownership_token"
    REUSED_OWNERSHIP_TOKEN = "reused_ownership_token"
    TOKEN_BOUND_TO_OTHER_CLAIM = "token_bound_to_other_claim"
    INVALID_CSR = "invalid_csr"
    TEMPLATE_NOT_FOUND = "template_not_found"
    TEMPLATE_DISABLED = "template_disabled"
    THROTTLED = "throttled"
    FORBIDDEN = "forbidden"
    HOOK_DENIED = "hook_denied"
    HOOK_FAILED = "hook_failed"
    HOOK_TIMEOUT = "hook_timeout"
    RESOURCE_CONFLICT = "resource_conflict"
    TEMPLATE_EVALUATION_ERROR = "template_evaluation_error"
    MISSING_PARAMETER = "missing_parameter"
    MALFORMED_PAYLOAD = "malformed_payload"
    INTERNAL_ERROR = "internal_error"


class FleetPayloadError(RemoteProtocolError):
    """Remote error: the peer's payload cannot be decoded or violates the payload schema."""

    def __init__(self, message: str, case: RejectionCase = RejectionCase.MALFORMED_PAYLOAD) -> None:
        super().__init__(message)
        self.message = message
        self.case = case


# --------------------------------------------------------------------------------------------------
# Request and response messages


@dataclass(frozen=True, slots=True)
class CreateKeysAndCertificateRequest:
    """CreateKeysAndCertificate has no request fields."""


@dataclass(frozen=True, slots=True)
class CreateCertificateFromCsrRequest:
    certificate_signing_request: str


@dataclass(frozen=True, slots=True)
class RegisterThingRequest:
    certificate_ownership_token: str
    parameters: Mapping[str, str] = field(default_factory=dict)


FleetRequestMessage = CreateKeysAndCertificateRequest | CreateCertificateFromCsrRequest | RegisterThingRequest


@dataclass(frozen=True, slots=True)
class CreateKeysAndCertificateResponse:
    certificate_id: str
    certificate_pem: str
    private_key: str
    certificate_ownership_token: str

    def to_wire(self) -> dict[str, Any]:
        return {
            KEY_CERTIFICATE_ID: self.certificate_id,
            KEY_CERTIFICATE_PEM: self.certificate_pem,
            KEY_PRIVATE_KEY: self.private_key,
            KEY_OWNERSHIP_TOKEN: self.certificate_ownership_token,
        }


@dataclass(frozen=True, slots=True)
class CreateCertificateFromCsrResponse:
    certificate_id: str
    certificate_pem: str
    certificate_ownership_token: str

    def to_wire(self) -> dict[str, Any]:
        return {
            KEY_CERTIFICATE_ID: self.certificate_id,
            KEY_CERTIFICATE_PEM: self.certificate_pem,
            KEY_OWNERSHIP_TOKEN: self.certificate_ownership_token,
        }


@dataclass(frozen=True, slots=True)
class RegisterThingResponse:
    thing_name: str
    device_configuration: Mapping[str, str] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {KEY_DEVICE_CONFIGURATION: dict(self.device_configuration), KEY_THING_NAME: self.thing_name}


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """The `/rejected` payload of every operation."""

    status_code: int
    error_code: str
    error_message: str

    def to_wire(self) -> dict[str, Any]:
        return {
            KEY_STATUS_CODE: self.status_code,
            KEY_ERROR_CODE: self.error_code,
            KEY_ERROR_MESSAGE: self.error_message,
        }


AcceptedResponse = CreateKeysAndCertificateResponse | CreateCertificateFromCsrResponse | RegisterThingResponse
FleetResponse = AcceptedResponse | ErrorResponse


# --------------------------------------------------------------------------------------------------
# Generic payload codec


def _encode(obj: Mapping[str, Any], fmt: PayloadFormat) -> bytes:
    if fmt is PayloadFormat.JSON:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return cbor2.dumps(dict(obj))


def decode_map(fmt: PayloadFormat, payload: bytes) -> dict[str, Any]:
    """Decode a payload that must be one map; an empty payload is the empty map."""
    if not payload:
        return {}
    if fmt is PayloadFormat.JSON:
        try:
            value = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise FleetPayloadError(f"payload is not valid JSON: {exc}") from None
    else:
        stream = io.BytesIO(payload)
        try:
            value = cbor2.CBORDecoder(stream, max_depth=_CBOR_MAX_DEPTH, strict_hashable_types=True).decode()
        # cbor2's semantic tags (regexes, decimals, dates, shared references...) can fail with
        # arbitrary exception types on hostile input; any failure here is the peer's fault.
        except Exception as exc:
            raise FleetPayloadError(f"payload is not valid CBOR: {exc}") from None
        if stream.tell() != len(payload):
            raise FleetPayloadError("payload has bytes after the CBOR item")
    if not isinstance(value, dict):
        raise FleetPayloadError(f"payload must be a {fmt.value.upper()} map, not {type(value).__name__}")
    return value


def _optional_string(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise FleetPayloadError(f"{key} must be a string")
    return value


def _required_string(obj: Mapping[str, Any], key: str) -> str:
    value = _optional_string(obj, key)
    if value is None:
        raise FleetPayloadError(f"{key} is missing")
    return value


def _string_map(value: Any, key: str, *, limits: bool) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FleetPayloadError(f"{key} must be a map of strings to strings")
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise FleetPayloadError(f"{key} must be a map of strings to strings")
        if limits and len(name) > PARAMETER_KEY_MAX_LENGTH:
            raise FleetPayloadError(f"{key} key longer than {PARAMETER_KEY_MAX_LENGTH} characters")
        if limits and len(item) > PARAMETER_VALUE_MAX_LENGTH:
            raise FleetPayloadError(f"{key} value for {name!r} longer than {PARAMETER_VALUE_MAX_LENGTH} characters")
        result[name] = item
    return result


# --------------------------------------------------------------------------------------------------
# Requests


def decode_request(operation: Operation, fmt: PayloadFormat, payload: bytes) -> FleetRequestMessage:
    """Decode a request payload received on `operation`'s request topic in format `fmt`."""
    obj = decode_map(fmt, payload)
    if operation is Operation.CREATE_KEYS_AND_CERTIFICATE:
        return CreateKeysAndCertificateRequest()
    if operation is Operation.CREATE_CERTIFICATE_FROM_CSR:
        csr = _optional_string(obj, KEY_CSR)
        if not csr:
            raise FleetPayloadError(f"{KEY_CSR} is missing or empty", RejectionCase.INVALID_CSR)
        return CreateCertificateFromCsrRequest(csr)
    token = _optional_string(obj, KEY_OWNERSHIP_TOKEN)
    if not token:
        raise FleetPayloadError(f"{KEY_OWNERSHIP_TOKEN} is missing or empty", RejectionCase.EMPTY_OWNERSHIP_TOKEN)
    return RegisterThingRequest(token, _string_map(obj.get(KEY_PARAMETERS), KEY_PARAMETERS, limits=True))


def encode_request(message: FleetRequestMessage, fmt: PayloadFormat) -> bytes:
    """Encode a request as a client would (CreateKeysAndCertificate as `{}` / CBOR `0xA0`, like awsiotsdk)."""
    if isinstance(message, CreateKeysAndCertificateRequest):
        obj: dict[str, Any] = {}
    elif isinstance(message, CreateCertificateFromCsrRequest):
        obj = {KEY_CSR: message.certificate_signing_request}
    else:
        obj = {KEY_OWNERSHIP_TOKEN: message.certificate_ownership_token}
        if message.parameters:
            obj[KEY_PARAMETERS] = dict(message.parameters)
    return _encode(obj, fmt)


# --------------------------------------------------------------------------------------------------
# Responses


def encode_response(message: FleetResponse, fmt: PayloadFormat) -> bytes:
    """Encode an accepted or rejected payload in the request topic's format."""
    return _encode(message.to_wire(), fmt)


def decode_response(operation: Operation, kind: TopicKind, fmt: PayloadFormat, payload: bytes) -> FleetResponse:
    """Decode a response as a client would; `kind` is ACCEPTED or REJECTED."""
    obj = decode_map(fmt, payload)
    if kind is TopicKind.REJECTED:
        status = obj.get(KEY_STATUS_CODE)
        if not isinstance(status, int) or isinstance(status, bool):
            raise FleetPayloadError(f"{KEY_STATUS_CODE} must be an integer")
        return ErrorResponse(status, _required_string(obj, KEY_ERROR_CODE), _required_string(obj, KEY_ERROR_MESSAGE))
    if kind is not TopicKind.ACCEPTED:
        raise ValueError("responses arrive on the accepted or rejected topic")
    if operation is Operation.CREATE_KEYS_AND_CERTIFICATE:
        return CreateKeysAndCertificateResponse(
            _required_string(obj, KEY_CERTIFICATE_ID),
            _required_string(obj, KEY_CERTIFICATE_PEM),
            _required_string(obj, KEY_PRIVATE_KEY),
            _required_string(obj, KEY_OWNERSHIP_TOKEN),
        )
    if operation is Operation.CREATE_CERTIFICATE_FROM_CSR:
        return CreateCertificateFromCsrResponse(
            _required_string(obj, KEY_CERTIFICATE_ID),
            _required_string(obj, KEY_CERTIFICATE_PEM),
            _required_string(obj, KEY_OWNERSHIP_TOKEN),
        )
    return RegisterThingResponse(
        _required_string(obj, KEY_THING_NAME),
        _string_map(obj.get(KEY_DEVICE_CONFIGURATION), KEY_DEVICE_CONFIGURATION, limits=False),
    )


# --------------------------------------------------------------------------------------------------
# Rejection catalogue


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """Default answer for one rejection case. `error_message` may contain `{name}` placeholders."""

    status_code: int
    error_code: str
    error_message: str
    basis: str


_REPORTED = "reported from AWS (aws-iot-device-sdk-js-v2 issue 69)"
_TOKEN = (
    "AWS does not document this case; provemu answers 400 InvalidCertificateOwnershipToken like the reported"
    " empty-token error; message is the emulator's"
)
_DERIVED = (
    "status from the v4 beta C SDK status enum (AwsIotProvisioningServerStatusCode_t); errorCode ="
    " control-plane exception name (AWS IoT API reference) minus 'Exception', a pattern provemu infers from"
    " InvalidCertificateOwnershipToken; AWS does not document it"
)
_HOOK = "AWS IoT developer guide, Pre-provisioning hooks: the request fails with ACCESS_DENIED; status 403 assumed"

DEFAULT_CATALOG: Mapping[RejectionCase, CatalogEntry] = {
    RejectionCase.EMPTY_OWNERSHIP_TOKEN: CatalogEntry(
        400, "InvalidCertificateOwnershipToken", "Certificate ownership token cannot be empty.", _REPORTED
    ),
    RejectionCase.INVALID_OWNERSHIP_TOKEN: CatalogEntry(
        400, "InvalidCertificateOwnershipToken", "Certificate ownership token is invalid.", _TOKEN
    ),
    RejectionCase.EXPIRED_OWNERSHIP_TOKEN: CatalogEntry(
        400, "InvalidCertificateOwnershipToken", "Certificate ownership token has expired.", _TOKEN
    ),
    RejectionCase.REUSED_OWNERSHIP_TOKEN: CatalogEntry(
        400, "InvalidCertificateOwnershipToken", "Certificate ownership token has already been used.", _TOKEN
    ),
    RejectionCase.TOKEN_BOUND_TO_OTHER_CLAIM: CatalogEntry(
        400,
        "InvalidCertificateOwnershipToken",
        "Certificate ownership token was issued to a different claim certificate.",
        _TOKEN,
    ),
    RejectionCase.INVALID_CSR: CatalogEntry(
        400, "InvalidRequest", "Invalid certificate signing request. {detail}", _DERIVED + " (InvalidRequest)"
    ),
    RejectionCase.TEMPLATE_NOT_FOUND: CatalogEntry(
        404, "ResourceNotFound", "Template {template_name} not found.", _DERIVED + " (ResourceNotFound)"
    ),
    RejectionCase.TEMPLATE_DISABLED: CatalogEntry(
        404, "ResourceNotFound", "Template {template_name} is disabled.", _DERIVED + " (ResourceNotFound)"
    ),
    RejectionCase.THROTTLED: CatalogEntry(429, "Throttling", "Rate exceeded.", _DERIVED + " (Throttling)"),
    RejectionCase.FORBIDDEN: CatalogEntry(
        403, "Unauthorized", "Not authorized. {detail}", _DERIVED + " (Unauthorized)"
    ),
    RejectionCase.HOOK_DENIED: CatalogEntry(
        403, "ACCESS_DENIED", "The pre-provisioning hook did not allow provisioning.", _HOOK
    ),
    RejectionCase.HOOK_FAILED: CatalogEntry(403, "ACCESS_DENIED", "The pre-provisioning hook failed. {detail}", _HOOK),
    RejectionCase.HOOK_TIMEOUT: CatalogEntry(
        403, "ACCESS_DENIED", "The pre-provisioning hook did not answer within 5 seconds.", _HOOK
    ),
    RejectionCase.RESOURCE_CONFLICT: CatalogEntry(
        400,
        "ResourceConflicts",
        "Resource already exists and its OverrideSettings is FAIL. {detail}",
        "AWS IoT developer guide, Provisioning templates, Override settings: ResourceConflictsException; status 400"
        " from the v4 beta C SDK status enum",
    ),
    RejectionCase.TEMPLATE_EVALUATION_ERROR: CatalogEntry(
        400,
        "ResourceRegistrationFailure",
        "Failed to evaluate the provisioning template. {detail}",
        _DERIVED + " (ResourceRegistrationFailure)",
    ),
    RejectionCase.MISSING_PARAMETER: CatalogEntry(
        400,
        "InvalidRequest",
        "Template parameter {parameter} has no value and no default.",
        _DERIVED + " (InvalidRequest)",
    ),
    RejectionCase.MALFORMED_PAYLOAD: CatalogEntry(
        400,
        "InvalidPayload",
        "The request payload is malformed. {detail}",
        "errorCode as in the v4 beta parser test sample; status 400 (the sample's 500 is a parser fixture)",
    ),
    RejectionCase.INTERNAL_ERROR: CatalogEntry(
        500, "InternalFailure", "An internal error occurred.", _DERIVED + " (InternalFailure)"
    ),
}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_OVERRIDE_KEYS = {
    "statusCode": "status_code",
    "status_code": "status_code",
    "errorCode": "error_code",
    "error_code": "error_code",
    "errorMessage": "error_message",
    "error_message": "error_message",
}


class ErrorCatalog:
    """Rejection case -> `/rejected` payload, with per-case overrides from configuration.

    Message placeholders (`{detail}`, `{template_name}`, `{parameter}`, ...) are filled from the context
    passed to `rejection()`; a placeholder without a value becomes empty. Unknown text is left alone, so
    an override can never fail at rejection time.
    """

    def __init__(self, overrides: Mapping[str | RejectionCase, Mapping[str, Any]] | None = None) -> None:
        entries = dict(DEFAULT_CATALOG)
        for key, fields in (overrides or {}).items():
            case = key if isinstance(key, RejectionCase) else _case_from_name(key)
            entries[case] = _apply_override(entries[case], case, fields)
        self._entries = entries

    def entry(self, case: RejectionCase) -> CatalogEntry:
        return self._entries[case]

    def entries(self) -> dict[RejectionCase, CatalogEntry]:
        return dict(self._entries)

    def rejection(self, case: RejectionCase, detail: str = "", **context: str) -> ErrorResponse:
        """The `/rejected` payload for `case`; `detail` and `context` fill message placeholders."""
        entry = self._entries[case]
        values = {"detail": detail, **context}
        message = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), entry.error_message)
        return ErrorResponse(entry.status_code, entry.error_code, " ".join(message.split()))


def _case_from_name(name: str) -> RejectionCase:
    try:
        return RejectionCase(name)
    except ValueError:
        known = ", ".join(case.value for case in RejectionCase)
        raise ValueError(f"unknown rejection case {name!r}; known: {known}") from None


def _apply_override(entry: CatalogEntry, case: RejectionCase, fields: Mapping[str, Any]) -> CatalogEntry:
    changes: dict[str, Any] = {}
    for key, value in fields.items():
        attribute = _OVERRIDE_KEYS.get(key)
        if attribute is None:
            raise ValueError(f"{case.value}: unknown field {key!r} (use statusCode, errorCode, errorMessage)")
        if attribute == "status_code":
            if not isinstance(value, int) or isinstance(value, bool) or not 100 <= value <= 599:
                raise ValueError(f"{case.value}: statusCode must be an integer 100-599, got {value!r}")
        elif not isinstance(value, str):
            raise ValueError(f"{case.value}: {key} must be a string, got {value!r}")
        changes[attribute] = value
    return replace(entry, basis="configured", **changes) if changes else entry
