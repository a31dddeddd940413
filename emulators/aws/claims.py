"""Claim certificates, the claim policy and the `default` template that `serve aws` starts with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from certs.devpki import DevPKI
from certs.pki import CertifiedKey, issue_client_cert, load_certificate
from emulators.aws.registry import Registry

CLAIM_POLICY_NAME = "provemu-claim-policy"
DEFAULT_TEMPLATE_NAME = "default"
TEMPORARY_CLAIM_SECONDS = 300


def claim_policy_document(region: str, account: str) -> dict[str, Any]:
    """Allows only iot:Connect and the fleet provisioning topics, as AWS's sample claim policy does."""
    arn = f"arn:aws:iot:{region}:{account}"
    topics = ["$aws/certificates/create/*", "$aws/certificates/create-from-csr/*",
              "$aws/provisioning-templates/*/provision/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"},
            {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
             "Resource": [f"{arn}:topic/{t}" for t in topics]},
            {"Effect": "Allow", "Action": "iot:Subscribe",
             "Resource": [f"{arn}:topicfilter/{t}" for t in topics]},
        ],
    }


def default_template_body(region: str, account: str) -> dict[str, Any]:
    """Thing named after `SerialNumber`, certificate ACTIVE, a policy scoped to `devices/<thing>/*`."""
    arn = f"arn:aws:iot:{region}:{account}"
    thing = "${iot:Connection.Thing.ThingName}"
    return {
        "Parameters": {
            "SerialNumber": {"Type": "String"},
            "AWS::IoT::Certificate::Id": {"Type": "String"},
        },
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing",
                      "Properties": {"ThingName": {"Ref": "SerialNumber"}, "AttributePayload": {},
                                     "ThingGroups": []}},
            "certificate": {"Type": "AWS::IoT::Certificate",
                            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},
                                           "Status": "ACTIVE"}},
            "policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{arn}:client/{thing}"},
                    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
                     "Resource": f"{arn}:topic/devices/{thing}/*"},
                    {"Effect": "Allow", "Action": "iot:Subscribe",
                     "Resource": f"{arn}:topicfilter/devices/{thing}/*"},
                ],
            }}},
        },
        "DeviceConfiguration": {},
    }


def ensure_claim_policy(registry: Registry, region: str, account: str, now: float) -> None:
    if registry.policy(CLAIM_POLICY_NAME) is None:
        registry.put_policy(CLAIM_POLICY_NAME, json.dumps(claim_policy_document(region, account)), now)


def create_claim(registry: Registry, pki: DevPKI, region: str, account: str, now: float,
                 template: str | None = None, temporary: bool = False,
                 common_name: str = "provemu claim") -> CertifiedKey:
    """An ACTIVE claim certificate with the claim policy; temporary ones expire after five minutes."""
    ensure_claim_policy(registry, region, account, now)
    pair = issue_client_cert(pki.ca, common_name)
    with registry.db.transaction():
        registry.add_certificate(pair.certificate_id, pair.cert_pem().decode(), "ACTIVE", now, kind="claim",
                                 expires_at=now + TEMPORARY_CLAIM_SECONDS if temporary else None,
                                 template=template)
        registry.attach_policy(CLAIM_POLICY_NAME, pair.certificate_id)
    return pair


def ensure_defaults(registry: Registry, pki: DevPKI, region: str, account: str, now: float) -> tuple[Path, Path]:
    """The default claim certificate on disk and in the registry, and the `default` template."""
    cert_path, key_path = pki.directory / "claim.pem", pki.directory / "claim.key"
    registered = False
    if cert_path.exists() and key_path.exists():
        cert_id = CertifiedKey(load_certificate(cert_path.read_bytes()), None).certificate_id
        registered = registry.certificate(cert_id) is not None
    if not registered:
        pki.write_pair("claim", create_claim(registry, pki, region, account, now))
    if registry.template(DEFAULT_TEMPLATE_NAME) is None:
        registry.put_template(DEFAULT_TEMPLATE_NAME, json.dumps(default_template_body(region, account)),
                              "provemu default fleet provisioning template", True, None, now)
    return cert_path, key_path
