"""Persistent per-node state of the ESP emulator in the shared SQLite store: node keys, stored Wi-Fi
credentials (written at ApplyConfig as the device writes them to NVS; a node holding them boots out of
provisioning mode, as a real one does), RainMaker mappings and
the client-issued challenge-response disable (kept in NVS until a factory reset on the device)."""

from __future__ import annotations

import sqlite3

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulators.clock import Clock
from emulators.state import StateStore
from protocols.esp.rainmaker import new_node_key
from protocols.esp.security import Rng

SCHEMA = """
CREATE TABLE IF NOT EXISTS esp_node_keys (
    name TEXT PRIMARY KEY, private_key_pem TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS esp_wifi_credentials (
    name TEXT PRIMARY KEY, ssid BLOB NOT NULL, passphrase BLOB NOT NULL, ip4_addr TEXT NOT NULL,
    provisioned_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS esp_chal_resp_disabled (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS esp_rainmaker_mappings (
    name TEXT PRIMARY KEY, node_id TEXT NOT NULL, user_id TEXT NOT NULL, secret_key TEXT NOT NULL,
    updated_at REAL NOT NULL)
"""


class EspStore:
    def __init__(self, db: StateStore, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        db.ensure_schema("esp", SCHEMA)

    def node_key(self, name: str, rng: Rng) -> ec.EllipticCurvePrivateKey:
        """The node's P-256 key (RainMaker signs challenges with it), created once from ``rng`` and kept."""
        row = self.db.query_one("SELECT private_key_pem FROM esp_node_keys WHERE name = ?", (name,))
        if row is not None:
            key = serialization.load_pem_private_key(row["private_key_pem"].encode(), password=None)
            if isinstance(key, ec.EllipticCurvePrivateKey):
                return key
        key = new_node_key(rng)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        self.db.execute("INSERT OR REPLACE INTO esp_node_keys VALUES (?, ?)", (name, pem))
        return key

    def save_credentials(self, name: str, ssid: bytes, passphrase: bytes, ip4_addr: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO esp_wifi_credentials VALUES (?, ?, ?, ?, ?)",
            (name, ssid, passphrase, ip4_addr, self.clock.now()),
        )

    def clear_credentials(self, name: str) -> None:
        self.db.execute("DELETE FROM esp_wifi_credentials WHERE name = ?", (name,))

    def credentials(self, name: str) -> sqlite3.Row | None:
        return self.db.query_one("SELECT * FROM esp_wifi_credentials WHERE name = ?", (name,))

    def save_mapping(self, name: str, node_id: str, user_id: str, secret_key: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO esp_rainmaker_mappings VALUES (?, ?, ?, ?, ?)",
            (name, node_id, user_id, secret_key, self.clock.now()),
        )

    def mapping(self, name: str) -> sqlite3.Row | None:
        return self.db.query_one("SELECT * FROM esp_rainmaker_mappings WHERE name = ?", (name,))

    def disable_chal_resp(self, name: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO esp_chal_resp_disabled VALUES (?)", (name,))

    def chal_resp_disabled(self, name: str) -> bool:
        return self.db.query_one("SELECT 1 FROM esp_chal_resp_disabled WHERE name = ?", (name,)) is not None

    def factory_reset(self, name: str) -> None:
        with self.db.transaction():
            self.db.execute("DELETE FROM esp_chal_resp_disabled WHERE name = ?", (name,))
            self.db.execute("DELETE FROM esp_wifi_credentials WHERE name = ?", (name,))
            self.db.execute("DELETE FROM esp_rainmaker_mappings WHERE name = ?", (name,))
