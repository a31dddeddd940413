"""Fake nRF91 devices kept across runs (SQLite): identity key, modem UUIDs, and the library's settings
(`provisioning/interval-sec`, `provisioning/after-correlation-id`, ...), as a device's flash would."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulators.nrf.client.device import DeviceIdentity
from emulators.state import StateStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS nrf_fake_devices (
    device_id TEXT PRIMARY KEY, identity_key TEXT NOT NULL, firmware_id TEXT NOT NULL, imei TEXT NOT NULL,
    device_type INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nrf_fake_settings (
    device_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (device_id, key))
"""


class FakeDeviceStore:
    def __init__(self, path: Path) -> None:
        self.db = StateStore(path)
        self.db.ensure_schema("nrf-fake-devices", SCHEMA)

    def close(self) -> None:
        self.db.close()

    def save(self, identity: DeviceIdentity) -> None:
        pem = identity.identity_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode()
        self.db.execute("INSERT OR REPLACE INTO nrf_fake_devices VALUES (?, ?, ?, ?, ?)",
                        (identity.device_id, pem, identity.firmware_id, identity.imei, identity.device_type))

    def load(self, device_id: str) -> DeviceIdentity | None:
        row = self.db.query_one("SELECT * FROM nrf_fake_devices WHERE device_id = ?", (device_id,))
        if row is None:
            return None
        key = serialization.load_pem_private_key(row["identity_key"].encode(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return DeviceIdentity(row["device_id"], key, row["firmware_id"], row["imei"], row["device_type"])

    def ids(self) -> list[str]:
        return [r["device_id"] for r in self.db.query("SELECT device_id FROM nrf_fake_devices ORDER BY rowid")]

    def settings(self, device_id: str) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self.db.query(
            "SELECT key, value FROM nrf_fake_settings WHERE device_id = ?", (device_id,))}

    def save_settings(self, device_id: str, settings: dict[str, str]) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM nrf_fake_settings WHERE device_id = ?", (device_id,))
            self.db.executemany("INSERT INTO nrf_fake_settings VALUES (?, ?, ?)",
                                [(device_id, k, v) for k, v in settings.items()])
