"""The app under test of the sample project: a device that provisions itself by claim with the AWS IoT
Device SDK v2 (awsiotsdk), the way AWS's fleet-provisioning sample does.

It only needs an MQTT endpoint, a CA and a claim certificate, so the same code runs against the `aws_fleet`
fixture and against the provemu container.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from awscrt import mqtt
from awsiot import iotidentity, mqtt_connection_builder

TIMEOUT = 15.0


@dataclass
class Provisioned:
    thing_name: str
    certificate_id: str
    certificate_pem: str
    private_key_pem: str


class Rejected(Exception):
    """The service answered on a `.../rejected` topic."""

    def __init__(self, operation: str, error: Any) -> None:
        super().__init__(f"{operation} rejected: {error.status_code} {error.error_code} {error.error_message}")
        self.status_code = error.status_code
        self.error_code = error.error_code


def connect(host: str, port: int, ca: Path, cert: Path, key: Path, client_id: str | None = None) -> mqtt.Connection:
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=host, port=port, cert_filepath=str(cert), pri_key_filepath=str(key), ca_filepath=str(ca),
        client_id=client_id or f"sample-app-{uuid.uuid4().hex[:10]}", clean_session=True, keep_alive_secs=30)
    connection.connect().result(TIMEOUT)
    return connection


def provision_by_claim(host: str, port: int, ca: Path, claim_cert: Path, claim_key: Path,
                       serial: str, template: str = "default") -> Provisioned:
    """CreateKeysAndCertificate then RegisterThing over the claim connection."""
    connection = connect(host, port, ca, claim_cert, claim_key)
    try:
        identity = iotidentity.IotIdentityClient(connection)
        keys = _ask(identity, "CreateKeysAndCertificate",
                    identity.subscribe_to_create_keys_and_certificate_accepted,
                    identity.subscribe_to_create_keys_and_certificate_rejected,
                    iotidentity.CreateKeysAndCertificateSubscriptionRequest(),
                    lambda: identity.publish_create_keys_and_certificate(
                        iotidentity.CreateKeysAndCertificateRequest(), mqtt.QoS.AT_LEAST_ONCE))
        registration = _ask(identity, "RegisterThing",
                            identity.subscribe_to_register_thing_accepted,
                            identity.subscribe_to_register_thing_rejected,
                            iotidentity.RegisterThingSubscriptionRequest(template_name=template),
                            lambda: identity.publish_register_thing(iotidentity.RegisterThingRequest(
                                template_name=template,
                                certificate_ownership_token=keys.certificate_ownership_token,
                                parameters={"SerialNumber": serial}), mqtt.QoS.AT_LEAST_ONCE))
    finally:
        connection.disconnect().result(TIMEOUT)
    return Provisioned(registration.thing_name, keys.certificate_id, keys.certificate_pem, keys.private_key)


def publish_telemetry(host: str, port: int, ca: Path, device: Provisioned, directory: Path) -> None:
    """Connect with the issued certificate (client id = thing name, as the template's policy requires) and
    publish once on the thing's own topic."""
    cert, key = directory / f"{device.thing_name}.pem", directory / f"{device.thing_name}.key"
    cert.write_text(device.certificate_pem)
    key.write_text(device.private_key_pem)
    connection = connect(host, port, ca, cert, key, client_id=device.thing_name)
    try:
        published, _ = connection.publish(f"devices/{device.thing_name}/telemetry",
                                          json.dumps({"ok": True}), mqtt.QoS.AT_LEAST_ONCE)
        published.result(TIMEOUT)
    finally:
        connection.disconnect().result(TIMEOUT)


def _ask(identity: Any, operation: str, on_accepted: Any, on_rejected: Any, subscription: Any,
         publish: Any) -> Any:
    answer: Future[Any] = Future()

    def accepted(response: Any) -> None:
        if not answer.done():
            answer.set_result(response)

    def rejected(error: Any) -> None:
        if not answer.done():
            answer.set_exception(Rejected(operation, error))

    for subscribe, callback in ((on_accepted, accepted), (on_rejected, rejected)):
        subscribed, _ = subscribe(subscription, mqtt.QoS.AT_LEAST_ONCE, callback)
        subscribed.result(TIMEOUT)
    publish().result(TIMEOUT)
    return answer.result(TIMEOUT)
