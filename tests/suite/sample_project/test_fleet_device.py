"""The fleet device app (fleet_app.py, awsiotsdk) against the `aws_fleet` fixture."""

from __future__ import annotations

from pathlib import Path

import fleet_app
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def provision(aws_fleet, serial: str) -> fleet_app.Provisioned:
    host, port = aws_fleet.address("mqtt")
    return fleet_app.provision_by_claim(host, port, aws_fleet.ca_path, aws_fleet.pki_file("claim.pem"),
                                        aws_fleet.pki_file("claim.key"), serial)


def test_device_provisions_by_claim_and_then_publishes(aws_fleet, tmp_path: Path) -> None:
    since = aws_fleet.mark()
    device = provision(aws_fleet, "sensor-0001")
    assert device.thing_name == "sensor-0001"
    event = aws_fleet.wait_for_event("thing_registered", where=lambda e: e["data"]["thing_name"] == "sensor-0001",
                                     since=since)
    assert event["data"]["certificate_id"] == device.certificate_id
    fleet_app.publish_telemetry(*aws_fleet.address("mqtt"), aws_fleet.ca_path, device, tmp_path)
    aws_fleet.wait_for_event("publish", where=lambda e: e["data"].get("client_id") == "sensor-0001", since=since)


def test_app_surfaces_throttling_then_recovers(aws_fleet) -> None:
    with aws_fleet.fault("throttle", match={"operation": "RegisterThing"}, count=1), \
            pytest.raises(fleet_app.Rejected) as rejected:
        provision(aws_fleet, "sensor-0002")
    assert rejected.value.status_code == 429
    assert aws_fleet.control.faults("aws") == []
    assert provision(aws_fleet, "sensor-0002").thing_name == "sensor-0002"


@pytest.mark.provemu(aws={"key_type": "ec"})
def test_marker_changes_the_emulator_settings(aws_fleet) -> None:
    device = provision(aws_fleet, "sensor-0003")
    assert isinstance(load_pem_private_key(device.private_key_pem.encode(), None), ec.EllipticCurvePrivateKey)


def test_every_test_gets_fresh_state(aws_fleet) -> None:
    assert aws_fleet.events("thing_registered") == []


def test_claim_material_is_in_the_endpoint_info(aws_fleet) -> None:
    assert aws_fleet.info["claim_cert"] == str(aws_fleet.pki_file("claim.pem"))
    assert aws_fleet.info["claim_key"] == str(aws_fleet.pki_file("claim.key"))
    assert aws_fleet.info["template"] == "default"


def test_certificates_chain_to_the_session_ca(aws_fleet, provemu_ca) -> None:
    assert aws_fleet.ca_path.read_bytes() == provemu_ca.cert_pem.bytes()
    assert aws_fleet.ca is provemu_ca
