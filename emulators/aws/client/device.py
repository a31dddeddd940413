"""The reference device: fleet provisioning by claim, as AWS's C demos and SDK samples do it.

claim connect → subscribe accepted/rejected → CreateKeysAndCertificate (or CreateCertificateFromCsr with a
locally generated key) → RegisterThing → disconnect → reconnect with the issued certificate.
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.pki import make_csr
from emulators.aws.client.mqtt_client import MqttClient, MqttClientError
from protocols.aws.fleet_messages import (
    CreateCertificateFromCsrRequest,
    CreateKeysAndCertificateRequest,
    ErrorResponse,
    RegisterThingRequest,
    decode_response,
    encode_request,
)
from protocols.aws.fleet_topics import FleetRequest, Operation, PayloadFormat, TopicKind


class ProvisioningRejected(Exception):
    def __init__(self, operation: str, error: ErrorResponse) -> None:
        super().__init__(f"{operation} rejected: {error.status_code} {error.error_code}: {error.error_message}")
        self.operation = operation
        self.error = error


@dataclass
class Endpoint:
    host: str
    port: int
    ca_path: Path
    server_hostname: str | None = None

    def context(self, cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
        context = ssl.create_default_context(cadata=self._ca_pem())
        # ssl loads client credentials only from files; one private scratch file per process is enough
        scratch = _scratch_file()
        scratch.write_bytes(cert_pem + b"\n" + key_pem)
        try:
            context.load_cert_chain(scratch)
        finally:
            scratch.write_bytes(b"")
        return context

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _ca_pem(self) -> str:
        if self._ca_cache is None:
            self._ca_cache = self.ca_path.read_text()
        return self._ca_cache

    _ca_cache: str | None = field(default=None, init=False, repr=False)


_SCRATCH: list[Path] = []


def _scratch_file() -> Path:
    if not _SCRATCH:
        directory = Path(tempfile.mkdtemp(prefix="provemu-device-"))
        atexit.register(shutil.rmtree, directory, True)
        _SCRATCH.append(directory / "credentials.pem")
    return _SCRATCH[0]


@dataclass
class ProvisionedDevice:
    thing_name: str
    certificate_id: str
    certificate_pem: str
    private_key_pem: str
    device_configuration: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)


async def provision(endpoint: Endpoint, claim_cert: bytes, claim_key: bytes, template: str,
                    parameters: Mapping[str, str], *, fmt: str = "json", use_csr: bool = False,
                    protocol_level: int = 4, client_id: str | None = None,
                    claim_context: ssl.SSLContext | None = None, timeout: float = 10.0) -> ProvisionedDevice:
    payload_format = PayloadFormat(fmt)
    started = time.perf_counter()
    client = MqttClient(client_id or f"provemu-device-{uuid.uuid4().hex[:12]}", protocol_level)
    await client.connect(endpoint.host, endpoint.port, claim_context or endpoint.context(claim_cert, claim_key),
                         endpoint.server_hostname, timeout)
    timings = {"connect": time.perf_counter() - started}
    try:
        if use_csr:
            key = ec.generate_private_key(ec.SECP256R1())
            private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode()
            create = FleetRequest(Operation.CREATE_CERTIFICATE_FROM_CSR, payload_format)
            created = await _call(client, create, encode_request(
                CreateCertificateFromCsrRequest(make_csr(key, client.client_id).decode()), payload_format), timeout)
        else:
            create = FleetRequest(Operation.CREATE_KEYS_AND_CERTIFICATE, payload_format)
            created = await _call(client, create, encode_request(CreateKeysAndCertificateRequest(),
                                                                 payload_format), timeout)
            private_pem = created["privateKey"]
        timings["create"] = time.perf_counter() - started
        register = FleetRequest(Operation.REGISTER_THING, payload_format, template)
        registered = await _call(client, register, encode_request(
            RegisterThingRequest(created["certificateOwnershipToken"], dict(parameters)), payload_format), timeout,
            last=True)
        timings["register"] = time.perf_counter() - started
    finally:
        await client.disconnect()
    return ProvisionedDevice(registered.get("thingName", ""), created["certificateId"], created["certificatePem"],
                             private_pem, dict(registered.get("deviceConfiguration") or {}), timings)


async def _call(client: MqttClient, request: FleetRequest, payload: bytes, timeout: float,
                last: bool = False) -> dict[str, Any]:
    """Subscribe to both answers, publish, wait; unsubscribe unless the connection is about to close."""
    responses = [request.topic(TopicKind.ACCEPTED), request.topic(TopicKind.REJECTED)]
    await client.subscribe_many(responses, 1, timeout)
    await client.publish(request.request_topic, payload, 1, timeout)
    try:
        message = await client.next_message(timeout)
    except TimeoutError:
        raise MqttClientError(f"no answer to {request.operation.value} within {timeout} s") from None
    if not last:
        await client.unsubscribe(*responses, timeout=timeout)
    kind = TopicKind.ACCEPTED if message.topic == request.accepted_topic else TopicKind.REJECTED
    response = decode_response(request.operation, kind, request.fmt, message.payload)
    if isinstance(response, ErrorResponse):
        raise ProvisioningRejected(request.operation.value, response)
    wire: dict[str, Any] = response.to_wire()
    return wire


async def connect_as(endpoint: Endpoint, device: ProvisionedDevice, protocol_level: int = 4,
                     timeout: float = 10.0) -> MqttClient:
    """Connect with the issued certificate, using the thing name as client id (as the policy expects)."""
    client = MqttClient(device.thing_name, protocol_level)
    await client.connect(endpoint.host, endpoint.port,
                         endpoint.context(device.certificate_pem.encode(), device.private_key_pem.encode()),
                         endpoint.server_hostname, timeout)
    return client
