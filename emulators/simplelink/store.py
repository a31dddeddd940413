"""Stored WLAN profiles of the emulated device (at most 7, ``SL_WLAN_MAX_PROFILES``), in the SQLite StateStore."""

from __future__ import annotations

from typing import Any

from emulators.state import StateStore
from protocols.simplelink.provisioning import MAX_PROFILES, Profile
from protocols.simplelink.wifi import SecurityType

SCHEMA = """
CREATE TABLE IF NOT EXISTS simplelink_profiles (
    idx INTEGER PRIMARY KEY AUTOINCREMENT,
    ssid BLOB NOT NULL,
    security INTEGER NOT NULL,
    key BLOB NOT NULL,
    priority INTEGER NOT NULL,
    source TEXT NOT NULL,
    added REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS simplelink_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)
"""


class ProfileStore:
    def __init__(self, db: StateStore) -> None:
        self.db = db
        db.ensure_schema("simplelink", SCHEMA)

    def profiles(self) -> list[Profile]:
        rows = self.db.query("SELECT ssid, security, key, priority FROM simplelink_profiles ORDER BY idx")
        return [Profile(bytes(r["ssid"]), int(r["security"]), bytes(r["key"]), int(r["priority"])) for r in rows]

    def listing(self) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT * FROM simplelink_profiles ORDER BY idx")
        out = []
        for r in rows:
            security = int(r["security"])
            out.append(
                {
                    "index": int(r["idx"]),
                    "ssid": bytes(r["ssid"]).decode("utf-8", "replace"),
                    "security": security,
                    "security_name": SecurityType(security).name
                    if security in SecurityType._value2member_map_
                    else str(security),
                    "key": bytes(r["key"]).decode("utf-8", "replace"),
                    "priority": int(r["priority"]),
                    "source": r["source"],
                    "added": float(r["added"]),
                }
            )
        return out

    def count(self) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM simplelink_profiles")
        return int(row["n"]) if row else 0

    def add(self, profile: Profile, source: str, now: float) -> bool:
        """Store ``profile`` (replacing one with the same SSID); False when the table is full."""
        with self.db.transaction():
            self.db.execute("DELETE FROM simplelink_profiles WHERE ssid = ?", (profile.ssid,))
            if self.count() >= MAX_PROFILES:
                return False
            self.db.execute(
                "INSERT INTO simplelink_profiles (ssid, security, key, priority, source, added) VALUES (?,?,?,?,?,?)",
                (profile.ssid, profile.security, profile.key, profile.priority, source, now),
            )
        return True

    def delete(self, index: int | None = None) -> int:
        if index is None:
            return self.db.execute("DELETE FROM simplelink_profiles").rowcount
        return self.db.execute("DELETE FROM simplelink_profiles WHERE idx = ?", (index,)).rowcount

    def setting(self, name: str, default: str) -> str:
        row = self.db.query_one("SELECT value FROM simplelink_settings WHERE name = ?", (name,))
        return str(row["value"]) if row else default

    def set_setting(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO simplelink_settings (name, value) VALUES (?, ?)", (name, value))
