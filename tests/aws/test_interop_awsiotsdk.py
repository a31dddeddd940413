"""The unmodified AWS IoT Device SDK v2 for Python (awsiotsdk + awscrt) against the emulator.

Each flow: claim connect → CreateKeysAndCertificate or CreateCertificateFromCsr → RegisterThing →
reconnect with the issued certificate → publish on a topic the template policy allows, and be refused on one
it does not.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from awscrt import mqtt, mqtt5
from awscrt import mqtt_request_response as rr
from awsiot import iotidentity, mqtt5_client_builder, mqtt_connection_builder
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.pki import make_csr
from tests.aws.conftest import AwsHandles

pytestmark = pytest.mark.slow
TIMEOUT = 15


def _new_key() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return key, pem


# ---------------------------------------------------------------- MQTT 3.1.1, old-style IotIdentityClient

def _mqtt3_connection(aws: AwsHandles, cert: Path, key: Path, client_id: str,
                      interrupted: threading.Event | None = None) -> mqtt.Connection:
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint="localhost", port=aws.port, cert_filepath=str(cert), pri_key_filepath=str(key),
        ca_filepath=str(aws.pki / "ca.pem"), client_id=client_id, clean_session=True, keep_alive_secs=30,
        on_connection_interrupted=(lambda *a, **k: interrupted.set()) if interrupted else None)
    connection.connect().result(TIMEOUT)
    return connection


def _mqtt3_provision(aws: AwsHandles, serial: str, use_csr: bool, tmp: Path) -> dict[str, Any]:
    connection = _mqtt3_connection(aws, aws.pki / "claim.pem", aws.pki / "claim.key", f"claim-{serial}")
    identity = iotidentity.IotIdentityClient(connection)
    created: dict[str, Any] = {}
    registered: dict[str, Any] = {}
    got_create, got_register = threading.Event(), threading.Event()

    def on_created(response: Any) -> None:
        created["response"] = response
        got_create.set()

    def on_rejected(error: Any) -> None:
        created["error"] = registered["error"] = error
        got_create.set()
        got_register.set()

    def on_registered(response: Any) -> None:
        registered["response"] = response
        got_register.set()

    qos = mqtt.QoS.AT_LEAST_ONCE
    if use_csr:
        sub = iotidentity.CreateCertificateFromCsrSubscriptionRequest()
        identity.subscribe_to_create_certificate_from_csr_accepted(sub, qos, on_created)[0].result(TIMEOUT)
        identity.subscribe_to_create_certificate_from_csr_rejected(sub, qos, on_rejected)[0].result(TIMEOUT)
    else:
        sub_k = iotidentity.CreateKeysAndCertificateSubscriptionRequest()
        identity.subscribe_to_create_keys_and_certificate_accepted(sub_k, qos, on_created)[0].result(TIMEOUT)
        identity.subscribe_to_create_keys_and_certificate_rejected(sub_k, qos, on_rejected)[0].result(TIMEOUT)
    reg_sub = iotidentity.RegisterThingSubscriptionRequest(template_name="default")
    identity.subscribe_to_register_thing_accepted(reg_sub, qos, on_registered)[0].result(TIMEOUT)
    identity.subscribe_to_register_thing_rejected(reg_sub, qos, on_rejected)[0].result(TIMEOUT)

    key_pem: str
    if use_csr:
        key, key_pem = _new_key()
        identity.publish_create_certificate_from_csr(
            iotidentity.CreateCertificateFromCsrRequest(certificate_signing_request=make_csr(key, serial).decode()),
            qos).result(TIMEOUT)
    else:
        identity.publish_create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest(), qos).result(
            TIMEOUT)
    assert got_create.wait(TIMEOUT), "no CreateKeysAndCertificate/CreateCertificateFromCsr answer"
    assert "error" not in created, created.get("error")
    response = created["response"]
    if not use_csr:
        key_pem = response.private_key
    identity.publish_register_thing(iotidentity.RegisterThingRequest(
        template_name="default", certificate_ownership_token=response.certificate_ownership_token,
        parameters={"SerialNumber": serial}), qos).result(TIMEOUT)
    assert got_register.wait(TIMEOUT), "no RegisterThing answer"
    assert "error" not in registered, registered.get("error")
    connection.disconnect().result(TIMEOUT)
    (tmp / f"{serial}.pem").write_text(response.certificate_pem)
    (tmp / f"{serial}.key").write_text(key_pem)
    return {"thing": registered["response"].thing_name, "certificate_id": response.certificate_id}


def _mqtt3_use_new_certificate(aws: AwsHandles, serial: str, tmp: Path) -> bool:
    interrupted = threading.Event()
    connection = _mqtt3_connection(aws, tmp / f"{serial}.pem", tmp / f"{serial}.key", serial, interrupted)
    qos = mqtt.QoS.AT_LEAST_ONCE
    received = threading.Event()
    subscribe, _ = connection.subscribe(f"devices/{serial}/#", qos, lambda **kw: received.set())
    subscribe.result(TIMEOUT)
    publish, _ = connection.publish(f"devices/{serial}/telemetry", b'{"t": 21}', qos)
    publish.result(TIMEOUT)
    assert received.wait(TIMEOUT), "own publish not delivered back"
    connection.publish("devices/someone-else/telemetry", b"{}", qos)
    # AWS IoT answers an unauthorised MQTT 3.1.1 publish by closing the connection.
    refused = interrupted.wait(TIMEOUT)
    connection.disconnect()
    return refused


@pytest.mark.parametrize("use_csr", [False, True], ids=["keys", "csr"])
async def test_mqtt311_fleet_provisioning(aws: AwsHandles, tmp_path: Path, use_csr: bool) -> None:
    serial = f"sdk3-{'csr' if use_csr else 'keys'}"
    result = await asyncio.to_thread(_mqtt3_provision, aws, serial, use_csr, tmp_path)
    assert result["thing"] == serial
    record = aws.emulator.registry.certificate(result["certificate_id"])
    assert record is not None and record.status == "ACTIVE"
    assert aws.emulator.registry.things_of_certificate(result["certificate_id"]) == [serial]
    refused = await asyncio.to_thread(_mqtt3_use_new_certificate, aws, serial, tmp_path)
    assert refused
    await aws.suite.events.wait_for(lambda e: e.kind == "publish_refused" and e.data["client_id"] == serial)


# ---------------------------------------------------------------- MQTT 5, IotIdentityClientV2

_STOPPED: dict[int, threading.Event] = {}


def _mqtt5_client(aws: AwsHandles, cert: Path, key: Path, client_id: str) -> mqtt5.Client:
    connected: Future[None] = Future()
    stopped = threading.Event()
    client = mqtt5_client_builder.mtls_from_path(
        endpoint="localhost", port=aws.port, cert_filepath=str(cert), pri_key_filepath=str(key),
        ca_filepath=str(aws.pki / "ca.pem"), client_id=client_id,
        on_lifecycle_connection_success=lambda data: connected.done() or connected.set_result(None),
        on_lifecycle_connection_failure=lambda data: connected.done() or connected.set_exception(
            RuntimeError(f"connection failed: {data.exception}")),
        on_lifecycle_stopped=lambda data: stopped.set())
    _STOPPED[id(client)] = stopped
    client.start()
    connected.result(TIMEOUT)
    return client


def _stop(client: mqtt5.Client) -> None:
    client.stop()
    assert _STOPPED.pop(id(client)).wait(TIMEOUT), "client did not stop"


def _mqtt5_provision(aws: AwsHandles, serial: str, use_csr: bool, tmp: Path) -> dict[str, Any]:
    client = _mqtt5_client(aws, aws.pki / "claim.pem", aws.pki / "claim.key", f"claim5-{serial}")
    identity = iotidentity.IotIdentityClientV2(client, rr.ClientOptions(
        max_request_response_subscriptions=2, max_streaming_subscriptions=0, operation_timeout_in_seconds=TIMEOUT))
    if use_csr:
        key, key_pem = _new_key()
        response = identity.create_certificate_from_csr(iotidentity.CreateCertificateFromCsrRequest(
            certificate_signing_request=make_csr(key, serial).decode())).result(TIMEOUT)
    else:
        response = identity.create_keys_and_certificate(iotidentity.CreateKeysAndCertificateRequest()).result(
            TIMEOUT)
        key_pem = response.private_key
    registered = identity.register_thing(iotidentity.RegisterThingRequest(
        template_name="default", certificate_ownership_token=response.certificate_ownership_token,
        parameters={"SerialNumber": serial})).result(TIMEOUT)
    _stop(client)
    (tmp / f"{serial}.pem").write_text(response.certificate_pem)
    (tmp / f"{serial}.key").write_text(key_pem)
    return {"thing": registered.thing_name, "certificate_id": response.certificate_id}


def _mqtt5_use_new_certificate(aws: AwsHandles, serial: str, tmp: Path) -> tuple[Any, Any]:
    client = _mqtt5_client(aws, tmp / f"{serial}.pem", tmp / f"{serial}.key", serial)
    try:
        allowed = client.publish(mqtt5.PublishPacket(topic=f"devices/{serial}/telemetry", payload=b"{}",
                                                     qos=mqtt5.QoS.AT_LEAST_ONCE)).result(TIMEOUT)
        denied = client.publish(mqtt5.PublishPacket(topic="devices/someone-else/telemetry", payload=b"{}",
                                                    qos=mqtt5.QoS.AT_LEAST_ONCE)).result(TIMEOUT)
    finally:
        _stop(client)
    return allowed.puback.reason_code, denied.puback.reason_code


@pytest.mark.parametrize("use_csr", [False, True], ids=["keys", "csr"])
async def test_mqtt5_fleet_provisioning_v2_client(aws: AwsHandles, tmp_path: Path, use_csr: bool) -> None:
    serial = f"sdk5-{'csr' if use_csr else 'keys'}"
    result = await asyncio.to_thread(_mqtt5_provision, aws, serial, use_csr, tmp_path)
    assert result["thing"] == serial
    record = aws.emulator.registry.certificate(result["certificate_id"])
    assert record is not None and record.status == "ACTIVE"
    allowed, denied = await asyncio.to_thread(_mqtt5_use_new_certificate, aws, serial, tmp_path)
    assert allowed == mqtt5.PubackReasonCode.SUCCESS
    assert denied == mqtt5.PubackReasonCode.NOT_AUTHORIZED


def _mqtt5_register_with_bad_token(aws: AwsHandles) -> Any:
    client = _mqtt5_client(aws, aws.pki / "claim.pem", aws.pki / "claim.key", "claim5-bad-token")
    identity = iotidentity.IotIdentityClientV2(client, rr.ClientOptions(
        max_request_response_subscriptions=2, max_streaming_subscriptions=0, operation_timeout_in_seconds=TIMEOUT))
    try:
        identity.register_thing(iotidentity.RegisterThingRequest(
            template_name="default", certificate_ownership_token="not-a-token",
            parameters={"SerialNumber": "x"})).result(TIMEOUT)
    except Exception as exc:  # the SDK raises V2ServiceException carrying the /rejected fields
        return exc
    finally:
        _stop(client)
    return None


async def test_mqtt5_rejection_surfaces_as_v2_service_exception(aws: AwsHandles) -> None:
    from awsiot import V2ServiceException
    exc = await asyncio.to_thread(_mqtt5_register_with_bad_token, aws)
    assert isinstance(exc, V2ServiceException), exc
    assert exc.modeled_error.status_code == 400
    assert exc.modeled_error.error_code == "InvalidCertificateOwnershipToken"
