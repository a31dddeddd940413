"""The pre-provisioning hook's messages: the input AWS sends the hook and how its answer is read.

Output: {allowProvisioning: true | "true", parameterOverrides: {str: str}}; anything else denies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HookVerdict:
    allowed: bool
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    outcome: str = "denied"  # allowed | denied | failed | timeout


def hook_input(
    claim_certificate_id: str | None,
    certificate_id: str,
    certificate_pem: str,
    template_arn: str,
    client_id: str,
    parameters: dict[str, str],
) -> dict[str, Any]:
    return {
        "claimCertificateId": claim_certificate_id,
        "certificateId": certificate_id,
        "certificatePem": certificate_pem,
        "templateArn": template_arn,
        "clientId": client_id,
        "parameters": parameters,
    }


def interpret_hook_answer(body: object) -> HookVerdict:
    if not isinstance(body, dict):
        return HookVerdict(False, reason="hook answer is not a JSON object", outcome="failed")
    allow = body.get("allowProvisioning")
    if allow is not True and not (isinstance(allow, str) and allow.lower() == "true"):
        return HookVerdict(False, reason="hook did not allow provisioning")
    overrides = body.get("parameterOverrides") or {}
    if not isinstance(overrides, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in overrides.items()
    ):
        return HookVerdict(False, reason="parameterOverrides must map strings to strings", outcome="failed")
    return HookVerdict(True, dict(overrides), outcome="allowed")
