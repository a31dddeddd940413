"""The nRF emulator's registry in SQLite: claimed devices and keys, management commands, per-device
ordered queues of device commands, their results, provisioning rules and tags. It is the `ServiceStore` of
`protocols.nrf.service`; the ids it makes come from the emulator's randomness.

Invariants: queue positions grow per device and define the order (ids are never sorted); a device
command row exists only while it is pending; every change of a queue and its commands' statuses
happens in one transaction.
"""

from __future__ import annotations

import datetime
import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbor2

from emulators.state import StateStore
from protocols.nrf.codec import (
    Command,
    Response,
    command_item,
    decode_commands,
    decode_responses,
    response_item,
)
from protocols.nrf.queue import QueuedCommand, Settlement, correlation_id, random_uuid

SCHEMA = """
CREATE TABLE IF NOT EXISTS nrf_devices (
    device_id TEXT PRIMARY KEY, device_type INTEGER NOT NULL, firmware_id TEXT NOT NULL,
    public_key TEXT, tags TEXT NOT NULL, claim_token TEXT NOT NULL, claimed_at TEXT NOT NULL,
    id_prefix TEXT NOT NULL, next_seq INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS nrf_commands (
    command_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, request_type TEXT NOT NULL, request TEXT NOT NULL,
    description TEXT NOT NULL, status TEXT NOT NULL, response TEXT, corr_ids TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS nrf_commands_device ON nrf_commands(device_id, created_at);
CREATE TABLE IF NOT EXISTS nrf_queue (
    device_id TEXT NOT NULL, position INTEGER NOT NULL, corr_id TEXT NOT NULL, command_id TEXT NOT NULL,
    command BLOB NOT NULL, PRIMARY KEY (device_id, corr_id));
CREATE INDEX IF NOT EXISTS nrf_queue_order ON nrf_queue(device_id, position);
CREATE TABLE IF NOT EXISTS nrf_results (
    command_id TEXT NOT NULL, corr_id TEXT NOT NULL, response BLOB NOT NULL, PRIMARY KEY (command_id, corr_id));
CREATE TABLE IF NOT EXISTS nrf_rules (rule_id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nrf_tags (tag TEXT PRIMARY KEY, description TEXT NOT NULL)
"""

PENDING, IN_PROGRESS = "PENDING", "IN_PROGRESS"


def iso_now(now: float) -> str:
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Device:
    device_id: str
    device_type: int
    firmware_id: str
    public_key: str | None
    tags: list[str]
    claimed_at: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Device:
        return cls(row["device_id"], row["device_type"], row["firmware_id"], row["public_key"],
                   json.loads(row["tags"]), row["claimed_at"])


class NrfStore:
    def __init__(self, db: StateStore, rng: random.Random) -> None:
        self.db = db
        self.rng = rng
        db.ensure_schema("nrf", SCHEMA)

    # --- devices ---
    def device(self, device_id: str) -> Device | None:
        row = self.db.query_one("SELECT * FROM nrf_devices WHERE device_id = ?", (device_id,))
        return Device.from_row(row) if row else None

    def devices(self) -> list[Device]:
        return [Device.from_row(r) for r in self.db.query("SELECT * FROM nrf_devices ORDER BY claimed_at")]

    def claim(self, device_id: str, device_type: int, firmware_id: str, public_key: str | None,
              tags: Sequence[str], token: str, now: float) -> Device:
        self.db.execute(
            "INSERT INTO nrf_devices (device_id, device_type, firmware_id, public_key, tags, claim_token, "
            "claimed_at, id_prefix) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (device_id, device_type, firmware_id, public_key, json.dumps(list(tags)), token, iso_now(now),
             random_uuid(self.rng)))
        device = self.device(device_id)
        assert device is not None
        return device

    def unclaim(self, device_id: str) -> bool:
        with self.db.transaction():
            gone = self.db.execute("DELETE FROM nrf_devices WHERE device_id = ?", (device_id,)).rowcount
            commands = [r["command_id"] for r in self.db.query(
                "SELECT command_id FROM nrf_commands WHERE device_id = ?", (device_id,))]
            self.db.execute("DELETE FROM nrf_queue WHERE device_id = ?", (device_id,))
            self.db.execute("DELETE FROM nrf_commands WHERE device_id = ?", (device_id,))
            self.db.executemany("DELETE FROM nrf_results WHERE command_id = ?", [(c,) for c in commands])
        return bool(gone)

    # --- commands ---
    def open_commands(self, device_id: str) -> int:
        row = self.db.query_one("SELECT COUNT(*) AS n FROM nrf_commands WHERE device_id = ? AND status IN (?, ?)",
                                (device_id, PENDING, IN_PROGRESS))
        return int(row["n"]) if row else 0

    def next_corr_id(self, device_id: str) -> str:
        """Reserve the next `<prefix>.<hex seq>` id of a device."""
        with self.db.transaction():
            row = self.db.query_one("SELECT id_prefix, next_seq FROM nrf_devices WHERE device_id = ?",
                                    (device_id,))
            assert row is not None
            self.db.execute("UPDATE nrf_devices SET next_seq = next_seq + 1 WHERE device_id = ?", (device_id,))
        return correlation_id(row["id_prefix"], row["next_seq"])

    def add_command(self, device_id: str, kind: str, request: Any, description: str,
                    commands: Sequence[Command], now: float) -> dict[str, Any]:
        command_id = random_uuid(self.rng)
        stamp = iso_now(now)
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO nrf_commands VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                (command_id, device_id, kind, json.dumps(request), description, PENDING,
                 json.dumps([c.corr_id for c in commands]), stamp, stamp))
            row = self.db.query_one("SELECT COALESCE(MAX(position), 0) AS p FROM nrf_queue WHERE device_id = ?",
                                    (device_id,))
            base = int(row["p"]) if row else 0
            self.db.executemany("INSERT INTO nrf_queue VALUES (?, ?, ?, ?, ?)", [
                (device_id, base + i + 1, c.corr_id, command_id, cbor2.dumps(command_item(c), canonical=True))
                for i, c in enumerate(commands)])
        found = self.command(device_id, command_id)
        assert found is not None
        return found

    def command(self, device_id: str, command_id: str) -> dict[str, Any] | None:
        row = self.db.query_one("SELECT * FROM nrf_commands WHERE device_id = ? AND command_id = ?",
                                (device_id, command_id))
        return _command_json(row) if row else None

    def commands(self, device_id: str) -> list[dict[str, Any]]:
        return [_command_json(r) for r in self.db.query(
            "SELECT * FROM nrf_commands WHERE device_id = ? ORDER BY created_at, rowid", (device_id,))]

    def command_kind(self, command_id: str) -> str:
        row = self.db.query_one("SELECT request_type FROM nrf_commands WHERE command_id = ?", (command_id,))
        return str(row["request_type"]) if row else ""

    # --- the queue ---
    def pending(self, device_id: str) -> list[QueuedCommand]:
        rows = self.db.query("SELECT command_id, command FROM nrf_queue WHERE device_id = ? ORDER BY position",
                             (device_id,))
        return [QueuedCommand(decode_commands(b"\x81" + bytes(r["command"]), limit=1)[0], r["command_id"])
                for r in rows]

    def mark_delivered(self, batch: Sequence[QueuedCommand], now: float) -> None:
        ids = sorted({q.command_id for q in batch})
        self.db.executemany("UPDATE nrf_commands SET status = ?, updated_at = ? WHERE command_id = ? AND status = ?",
                            [(IN_PROGRESS, iso_now(now), c, PENDING) for c in ids])

    def apply(self, device_id: str, settlement: Settlement, completed_status: str, failed_status: str,
              cancelled_status: str, now: float, result: Any) -> None:
        """Apply a settlement; `result(kind, responses)` builds a command's `response` JSON."""
        stamp = iso_now(now)
        answered: list[tuple[QueuedCommand, Response]] = list(settlement.completed)
        if settlement.failed:
            answered.append(settlement.failed)
        with self.db.transaction():
            self.db.executemany("INSERT OR REPLACE INTO nrf_results VALUES (?, ?, ?)", [
                (q.command_id, q.corr_id, cbor2.dumps(response_item(r), canonical=True)) for q, r in answered])
            self.db.executemany("DELETE FROM nrf_queue WHERE device_id = ? AND corr_id = ?",
                                [(device_id, corr_id) for corr_id in settlement.removed])
            touched = dict.fromkeys(q.command_id for q, _ in answered)
            for command_id in touched:
                remaining = self.db.query_one("SELECT COUNT(*) AS n FROM nrf_queue WHERE command_id = ?",
                                              (command_id,))
                failed = settlement.failed is not None and settlement.failed[0].command_id == command_id
                if not failed and remaining and remaining["n"]:
                    continue
                responses = self._responses(command_id)
                status = failed_status if failed else completed_status
                self.db.execute("UPDATE nrf_commands SET status = ?, response = ?, updated_at = ? "
                                "WHERE command_id = ?",
                                (status, json.dumps(result(self.command_kind(command_id), responses)), stamp,
                                 command_id))
            for command_id in dict.fromkeys(q.command_id for q in settlement.flushed):
                if command_id in touched:
                    continue
                self.db.execute("UPDATE nrf_commands SET status = ?, updated_at = ? WHERE command_id = ?",
                                (cancelled_status, stamp, command_id))

    def _responses(self, command_id: str) -> list[Response]:
        rows = self.db.query("SELECT response FROM nrf_results WHERE command_id = ? ORDER BY rowid", (command_id,))
        return [decode_responses(b"\x81" + bytes(r["response"]))[0] for r in rows]

    # --- rules and tags ---
    def add_rule(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        rule = {"id": random_uuid(self.rng), **body, "createdAt": iso_now(now)}
        self.db.execute("INSERT INTO nrf_rules VALUES (?, ?, ?)", (rule["id"], json.dumps(rule), rule["createdAt"]))
        return rule

    def rules(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.db.query("SELECT body FROM nrf_rules ORDER BY created_at")]

    def add_tag(self, tag: str, description: str) -> bool:
        return bool(self.db.execute("INSERT OR IGNORE INTO nrf_tags VALUES (?, ?)", (tag, description)).rowcount)

    def tags(self) -> list[dict[str, str]]:
        return [{"tag": r["tag"], "description": r["description"]}
                for r in self.db.query("SELECT * FROM nrf_tags ORDER BY tag")]


def _command_json(row: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["command_id"], "deviceId": row["device_id"], "description": row["description"],
        "request": json.loads(row["request"]), "status": row["status"], "createdAt": row["created_at"],
        "updatedAt": row["updated_at"], "correlationIds": json.loads(row["corr_ids"]),
    }
    if row["response"] is not None:
        out["response"] = json.loads(row["response"])
    return out
