"""Settings of the AWS IoT fleet-provisioning emulator (`[aws]` in the config file, `PROVEMU_AWS_*`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from protocols.aws.broker import UNAUTHORIZED_ANSWERS
from protocols.aws.broker_session import CONNECT_TIMEOUT


@dataclass
class AwsConfig:
    mqtt_port: int = field(default=8883, metadata={"help": "MQTT over mutual TLS port (no ALPN)"})
    alpn_port: int | None = field(default=None, metadata={
        "help": "optional second TLS port negotiating ALPN x-amzn-mqtt-ca, as AWS does on 443"})
    region: str = field(default="us-east-1", metadata={"help": "region used in ARNs"})
    account_id: str = field(default="123456789012", metadata={"help": "account id used in ARNs"})
    endpoint_name: str = field(default="provemu-ats.iot.us-east-1.localhost", metadata={
        "help": "fake ATS endpoint name added to the server certificate's SAN"})
    require_sni: bool = field(default=False, metadata={
        "help": "refuse TLS connections without SNI (AWS does)"})
    unauthorized_connect: str = field(default="close", metadata={
        "help": "answer to an unknown/inactive certificate at CONNECT: close | connack5 | connack7 (3.1.1: "
                "return code 5 or 7; MQTT 5: reason 0x87 or 0x86)"})
    deliver_unsubscribed: bool = field(default=False, metadata={
        "help": "deliver provisioning responses even without a matching subscription"})
    token_ttl_seconds: int = field(default=3600, metadata={"help": "certificate ownership token lifetime"})
    token_single_use: bool = field(default=True, metadata={
        "help": "consume the ownership token on a successful RegisterThing"})
    token_binding: bool = field(default=False, metadata={
        "help": "only the claim certificate that created a token may redeem it"})
    key_type: str = field(default="rsa", metadata={"help": "CreateKeysAndCertificate key type: rsa | ec"})
    key_pool_size: int = field(default=64, metadata={"help": "pre-generated keys kept ready"})
    keepalive_min: int = field(default=5, metadata={"help": "smallest keep-alive honoured (seconds)"})
    connect_timeout: float = field(default=CONNECT_TIMEOUT, metadata={
        "help": "seconds a connection may take for its TLS handshake, then again for a complete CONNECT, before "
                "it is closed (AWS documents no figure)"})
    max_payload: int = field(default=128 * 1024, metadata={"help": "largest PUBLISH payload in bytes"})
    hook_timeout: float = field(default=5.0, metadata={"help": "pre-provisioning hook timeout (seconds)"})
    lenient_templates: bool = field(default=False, metadata={
        "help": "accept CloudFormation functions AWS IoT does not document (Fn::If, ...)"})
    default_template: bool = field(default=True, metadata={
        "help": "create the template `default` and the claim certificate on first start"})
    error_overrides: dict[str, dict[str, Any]] = field(default_factory=dict, metadata={
        "help": "per rejection case: {statusCode, errorCode, errorMessage} replacing the defaults"})

    def __post_init__(self) -> None:
        if self.unauthorized_connect not in UNAUTHORIZED_ANSWERS:
            raise ValueError("unauthorized_connect must be close, connack5 or connack7")
        if not (math.isfinite(self.connect_timeout) and self.connect_timeout > 0):
            raise ValueError("connect_timeout must be a positive number of seconds")
