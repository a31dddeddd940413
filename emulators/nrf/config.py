"""Settings of the nRF Cloud provisioning emulator (`[nrf]` in the config file, `PROVEMU_NRF_*`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NrfConfig:
    https_port: int = field(default=8443, metadata={
        "help": "device-facing REST API and management API over TLS (dev PKI)"})
    http_port: int | None = field(default=None, metadata={
        "help": "optional plain-HTTP port for devices built with root CA sec tag -1"})
    coap_port: int = field(default=5683, metadata={
        "help": "CoAP over plain UDP (emulator-only test mode; real devices use DTLS)"})
    dtls_port: int | None = field(default=5684, metadata={
        "help": "CoAP over DTLS 1.2 with a server certificate"})
    api_key: str = field(default="provemu-nrf-api-key", metadata={
        "help": "Bearer API key the management API requires (empty: no check)"})
    owner_id: str = field(default="provemu-team", metadata={"help": "ownerId reported for claimed devices"})
    not_claimed_http_status: int = field(default=403, metadata={
        "help": "HTTP status for an unknown/unclaimed device: 403 (real service) or 401"})
    not_claimed_coap_code: str = field(default="4.01", metadata={
        "help": "CoAP code for an unknown/unclaimed device: 4.01 or 4.03"})
    jwt_skew_seconds: int = field(default=60, metadata={"help": "clock skew allowed on exp/iat"})
    require_jwt_exp: bool = field(default=True, metadata={
        "help": "reject JWTs without exp (modem had no time)"})
    accept_unverified_jwt: bool = field(default=False, metadata={
        "help": "accept JWTs of devices claimed without a trusted key on their iss alone, whatever their "
                "signature (off: such devices are refused 401 / 4.01; logged at start when on)"})
    verify_attestation: bool = field(default=True, metadata={
        "help": "verify the claim token's COSE signature against the key the claim registers"})
    max_batch: int | None = field(default=None, metadata={
        "help": "most commands per GET (e.g. 2 reproduces the real service's multi-round onboarding)"})
    max_commands_per_device: int = field(default=20, metadata={"help": "pending commands allowed per device"})
    max_responses: int = field(default=20, metadata={"help": "most responses accepted in one POST"})
    dtls_suspend: str = field(default="4.04", metadata={
        "help": "answer to POST /.dtls/suspend: 4.04 (device re-authenticates) or 2.04 (keep the session)"})
    status_completed: str = field(default="COMPLETED", metadata={
        "help": "final command status (unconfirmed name)"})
    status_failed: str = field(default="FAILED", metadata={
        "help": "failed command status (unconfirmed name)"})
    status_cancelled: str = field(default="CANCELLED", metadata={
        "help": "status of commands flushed after a failure (unconfirmed name)"})

    def __post_init__(self) -> None:
        if not 400 <= self.not_claimed_http_status <= 499:
            raise ValueError("not_claimed_http_status must be a 4xx status (403 or 401)")
        if self.not_claimed_coap_code not in ("4.01", "4.03"):
            raise ValueError("not_claimed_coap_code must be 4.01 or 4.03")
        if self.dtls_suspend not in ("4.04", "2.04"):
            raise ValueError("dtls_suspend must be 4.04 or 2.04")
        if self.max_batch is not None and self.max_batch < 1:
            raise ValueError("max_batch must be at least 1")
