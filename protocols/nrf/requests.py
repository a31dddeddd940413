"""Management-API command requests (nRF Cloud docs,
ProvisioningService: provisioning commands) → device commands, and device responses → command results.

A request is the JSON object `{"<type>": {...}}`. The mapping to AT commands is inferred from the nRF Cloud docs except
`clientPrivateKeyGeneration` (exactly the SDK vector cmds2). Emulator extensions: `config`
(`{"config": {"<settings key>": "<value>", ...}}`) and `atCommand` (`{"setCommand", "parameters",
"ignoreCmeErrors"}`). `RequestError` marks a request the API caller got wrong (answered with 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from protocols.errors import RemoteProtocolError
from protocols.nrf.codec import (
    MAX_CONFIG_PAIRS,
    MAX_IGNORED_CME,
    AtCommand,
    AtResponse,
    Command,
    ConfigCommand,
    ErrorResponse,
    FinishedCommand,
    Response,
)

KEY_CLIENT_PRIVATE, CMNG_DELETE_MISSING = 2, 513
DEFAULT_KEY_USAGE = "101010000"


class RequestError(RemoteProtocolError, ValueError):
    """A management request that cannot become device commands (the API caller's error)."""


def _sec_tag(body: dict[str, Any]) -> int:
    tag = body.get("secTag")
    if type(tag) is not int or not 0 <= tag <= 2147483647:
        raise RequestError("secTag must be an integer 0..2147483647")
    return tag


def _text(body: dict[str, Any], key: str, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise RequestError(f"{key} must be a non-empty string")
    if '"' in value:
        raise RequestError(f"{key} must not contain double quotes (AT string parameter)")
    return value


def _delete_then(tag: int, corr_id: str, keygen_params: str) -> list[Command]:
    return [AtCommand(f"{corr_id}.s", "%CMNG", f"3,{tag},{KEY_CLIENT_PRIVATE}", (CMNG_DELETE_MISSING,)),
            AtCommand(corr_id, "%KEYGEN", keygen_params)]


def _key_generation(body: dict[str, Any], corr_id: str) -> list[Command]:
    tag = _sec_tag(body)
    return _delete_then(tag, corr_id, f"{tag},{KEY_CLIENT_PRIVATE},1")


def _csr(body: dict[str, Any], corr_id: str) -> list[Command]:
    tag = _sec_tag(body)
    attributes = _text(body, "attributes", required=False)
    usage = body.get("keyUsage", DEFAULT_KEY_USAGE)
    if not isinstance(usage, str) or not re.fullmatch(r"[01]{9}", usage):
        raise RequestError("keyUsage must be a 9-character bit string")
    return _delete_then(tag, corr_id, f'{tag},{KEY_CLIENT_PRIVATE},0,"{attributes}","{usage}"')


def _cloud_access_key(body: dict[str, Any], corr_id: str) -> list[Command]:
    tag = _sec_tag(body)
    return _delete_then(tag, corr_id, f"{tag},{KEY_CLIENT_PRIVATE},0")


def _write(cred_type: int) -> Callable[[dict[str, Any], str], list[Command]]:
    def build(body: dict[str, Any], corr_id: str) -> list[Command]:
        tag = _sec_tag(body)
        params = f'0,{tag},{cred_type},"{_text(body, "content")}"'
        password = _text(body, "password", required=False)
        if password:
            params += f',"{password}"'
        return [AtCommand(corr_id, "%CMNG", params)]
    return build


def _psk(body: dict[str, Any], corr_id: str) -> list[Command]:
    tag = _sec_tag(body)
    secret = _text(body, "secret")
    if not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", secret):
        raise RequestError("secret must be hex")
    return [AtCommand(f"{corr_id}.i", "%CMNG", f'0,{tag},4,"{_text(body, "identity")}"'),
            AtCommand(corr_id, "%CMNG", f'0,{tag},3,"{secret}"')]


def _config(body: dict[str, Any], corr_id: str) -> list[Command]:
    if not body or len(body) > MAX_CONFIG_PAIRS:
        raise RequestError(f"config needs 1..{MAX_CONFIG_PAIRS} key-value pairs")
    if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in body.items()):
        raise RequestError("config keys and values must be strings")
    return [ConfigCommand(corr_id, tuple(body.items()))]


def _at_command(body: dict[str, Any], corr_id: str) -> list[Command]:
    set_command = body.get("setCommand")
    parameters = body.get("parameters", "")
    ignore = body.get("ignoreCmeErrors", [])
    if not isinstance(set_command, str) or not set_command or not isinstance(parameters, str):
        raise RequestError("setCommand must be a non-empty string, parameters a string")
    if not isinstance(ignore, list) or len(ignore) > MAX_IGNORED_CME or \
            not all(type(c) is int and c >= 0 for c in ignore):
        raise RequestError(f"ignoreCmeErrors must be at most {MAX_IGNORED_CME} unsigned integers")
    return [AtCommand(corr_id, set_command, parameters, tuple(ignore))]


def _finished(body: dict[str, Any], corr_id: str) -> list[Command]:
    return [FinishedCommand(corr_id)]


BUILDERS: dict[str, Callable[[dict[str, Any], str], list[Command]]] = {
    "clientPrivateKeyGeneration": _key_generation,
    "certificateSigningRequest": _csr,
    "cloudAccessKeyGeneration": _cloud_access_key,
    "clientCertificate": _write(1),
    "serverCertificate": _write(0),
    "clientPrivateKey": _write(2),
    "preSharedKey": _psk,
    "config": _config,
    "atCommand": _at_command,
    "finished": _finished,
}

KEY_RESULTS = {"clientPrivateKeyGeneration": "publicKey", "certificateSigningRequest": "csr",
               "cloudAccessKeyGeneration": "csr"}


def parse_request(request: Any) -> tuple[str, dict[str, Any]]:
    """The request's type name and body; exactly one known type."""
    if not isinstance(request, dict) or len(request) != 1:
        raise RequestError(f"request must be an object with exactly one of: {', '.join(BUILDERS)}")
    (kind, body), = request.items()
    if kind not in BUILDERS:
        raise RequestError(f"unknown request type {kind!r}")
    if not isinstance(body, dict):
        raise RequestError(f"{kind} must be a JSON object")
    return kind, body


def device_commands(request: Any, corr_id: str) -> tuple[str, list[Command]]:
    kind, body = parse_request(request)
    return kind, BUILDERS[kind](body, corr_id)


def _quoted(message: str) -> str | None:
    match = re.search(r'%KEYGEN:\s*"([^"]*)"', message)
    return match.group(1) if match else None


def result_json(kind: str, responses: Sequence[Response]) -> dict[str, Any]:
    """The `response` object of a completed or failed command, keyed by its request type."""
    out: dict[str, Any] = {}
    for response in responses:
        if isinstance(response, ErrorResponse):
            return {"error": {"correlationId": response.corr_id, "cmeError": response.cme_error,
                              "message": response.message}}
        if isinstance(response, AtResponse):
            out["message"] = response.message
    if kind in KEY_RESULTS and "message" in out:
        blob = _quoted(out["message"])
        if blob is not None:
            out[KEY_RESULTS[kind]] = blob
    return {kind: out}
