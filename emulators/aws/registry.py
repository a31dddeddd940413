"""The AWS IoT registry in SQLite: certificates, things, policies, attachments, templates, ownership tokens.

Invariants: a certificate id is the SHA-256 of its DER; a certificate's status is one of CERTIFICATE_STATUSES;
deleting a certificate removes its attachments and tokens (foreign keys cascade). `generation` grows whenever
something that affects authorization changes, so connections can cache their compiled policies.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from emulators.state import StateStore

CERTIFICATE_STATUSES = ("ACTIVE", "INACTIVE", "PENDING_ACTIVATION", "REVOKED", "PENDING_TRANSFER")

SCHEMA = """
CREATE TABLE IF NOT EXISTS aws_certificates (
    id TEXT PRIMARY KEY,
    pem TEXT NOT NULL,
    status TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'device',
    created_at REAL NOT NULL,
    expires_at REAL,
    template TEXT
);
CREATE TABLE IF NOT EXISTS aws_things (
    name TEXT PRIMARY KEY,
    attributes TEXT NOT NULL DEFAULT '{}',
    thing_type TEXT,
    groups TEXT NOT NULL DEFAULT '[]',
    billing_group TEXT,
    created_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS aws_policies (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aws_policy_attachments (
    policy TEXT NOT NULL REFERENCES aws_policies(name) ON DELETE CASCADE,
    certificate_id TEXT NOT NULL REFERENCES aws_certificates(id) ON DELETE CASCADE,
    PRIMARY KEY (policy, certificate_id)
);
CREATE TABLE IF NOT EXISTS aws_thing_principals (
    thing TEXT NOT NULL REFERENCES aws_things(name) ON DELETE CASCADE,
    certificate_id TEXT NOT NULL REFERENCES aws_certificates(id) ON DELETE CASCADE,
    PRIMARY KEY (thing, certificate_id)
);
CREATE TABLE IF NOT EXISTS aws_templates (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    hook_url TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS aws_tokens (
    token TEXT PRIMARY KEY,
    certificate_id TEXT NOT NULL REFERENCES aws_certificates(id) ON DELETE CASCADE,
    claim_certificate_id TEXT,
    client_id TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
CREATE INDEX IF NOT EXISTS aws_tokens_expiry ON aws_tokens(expires_at);
CREATE INDEX IF NOT EXISTS aws_thing_principals_cert ON aws_thing_principals(certificate_id);
CREATE INDEX IF NOT EXISTS aws_policy_attachments_cert ON aws_policy_attachments(certificate_id)
"""


class RegistryError(ValueError):
    """A registry operation names something missing or conflicting (the control API answers 404/409)."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CertificateRecord:
    id: str
    pem: str
    status: str
    kind: str
    created_at: float
    expires_at: float | None
    template: str | None

    def to_json(self, with_pem: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"certificateId": self.id, "status": self.status, "kind": self.kind,
                               "createdAt": self.created_at, "expiresAt": self.expires_at}
        if self.template:
            out["templateName"] = self.template
        if with_pem:
            out["certificatePem"] = self.pem
        return out


@dataclass(frozen=True)
class ThingRow:
    name: str
    attributes: dict[str, str]
    thing_type: str | None
    groups: list[str]
    billing_group: str | None
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"thingName": self.name, "attributes": self.attributes, "thingTypeName": self.thing_type,
                "thingGroups": self.groups, "billingGroup": self.billing_group, "version": self.version}


@dataclass(frozen=True)
class TemplateRow:
    name: str
    body: str
    description: str
    enabled: bool
    hook_url: str | None
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"templateName": self.name, "templateBody": self.body, "description": self.description,
                "enabled": self.enabled, "preProvisioningHookUrl": self.hook_url,
                "defaultVersionId": self.version}


@dataclass(frozen=True)
class TokenRow:
    token: str
    certificate_id: str
    claim_certificate_id: str | None
    client_id: str | None
    created_at: float
    expires_at: float
    used_at: float | None


class Registry:
    def __init__(self, db: StateStore) -> None:
        self.db = db
        db.ensure_schema("aws", SCHEMA)
        self.generation = 0

    def _bump(self) -> None:
        self.generation += 1

    # certificates
    def add_certificate(self, cert_id: str, pem: str, status: str, now: float, kind: str = "device",
                        expires_at: float | None = None, template: str | None = None) -> CertificateRecord:
        _check_status(status)
        self.db.execute(
            "INSERT INTO aws_certificates (id, pem, status, kind, created_at, expires_at, template) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET status = excluded.status",
            (cert_id, pem, status, kind, now, expires_at, template))
        self._bump()
        record = self.certificate(cert_id)
        assert record is not None
        return record

    def certificate(self, cert_id: str) -> CertificateRecord | None:
        row = self.db.query_one("SELECT * FROM aws_certificates WHERE id = ?", (cert_id,))
        return _cert(row) if row else None

    def certificates(self) -> list[CertificateRecord]:
        return [_cert(r) for r in self.db.query("SELECT * FROM aws_certificates ORDER BY created_at")]

    def set_certificate_status(self, cert_id: str, status: str) -> None:
        _check_status(status)
        if self.db.execute("UPDATE aws_certificates SET status = ? WHERE id = ?",
                           (status, cert_id)).rowcount == 0:
            raise RegistryError(f"no certificate {cert_id}")
        self._bump()

    def delete_certificate(self, cert_id: str) -> None:
        if self.db.execute("DELETE FROM aws_certificates WHERE id = ?", (cert_id,)).rowcount == 0:
            raise RegistryError(f"no certificate {cert_id}")
        self._bump()

    def is_attached(self, cert_id: str) -> bool:
        row = self.db.query_one(
            "SELECT EXISTS(SELECT 1 FROM aws_policy_attachments WHERE certificate_id = ?) "
            "OR EXISTS(SELECT 1 FROM aws_thing_principals WHERE certificate_id = ?)", (cert_id, cert_id))
        return bool(row and row[0])

    # things
    def thing(self, name: str) -> ThingRow | None:
        row = self.db.query_one("SELECT * FROM aws_things WHERE name = ?", (name,))
        return _thing(row) if row else None

    def things(self) -> list[ThingRow]:
        return [_thing(r) for r in self.db.query("SELECT * FROM aws_things ORDER BY created_at")]

    def put_thing(self, name: str, attributes: dict[str, str], thing_type: str | None, groups: list[str],
                  billing_group: str | None, now: float) -> None:
        self.db.execute(
            "INSERT INTO aws_things (name, attributes, thing_type, groups, billing_group, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET attributes = excluded.attributes, "
            "thing_type = excluded.thing_type, groups = excluded.groups, "
            "billing_group = excluded.billing_group, version = version + 1",
            (name, json.dumps(attributes), thing_type, json.dumps(groups), billing_group, now))
        self._bump()

    def delete_thing(self, name: str) -> None:
        if self.db.execute("DELETE FROM aws_things WHERE name = ?", (name,)).rowcount == 0:
            raise RegistryError(f"no thing {name}")
        self._bump()

    def attach_thing_principal(self, thing: str, cert_id: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO aws_thing_principals VALUES (?, ?)", (thing, cert_id))
        self._bump()

    def things_of_certificate(self, cert_id: str) -> list[str]:
        return [r[0] for r in self.db.query(
            "SELECT thing FROM aws_thing_principals WHERE certificate_id = ? ORDER BY thing", (cert_id,))]

    def principals_of_thing(self, name: str) -> list[str]:
        return [r[0] for r in self.db.query(
            "SELECT certificate_id FROM aws_thing_principals WHERE thing = ?", (name,))]

    # policies
    def put_policy(self, name: str, document: str, now: float) -> None:
        self.db.execute("INSERT INTO aws_policies (name, document, created_at) VALUES (?, ?, ?) "
                        "ON CONFLICT(name) DO UPDATE SET document = excluded.document", (name, document, now))
        self._bump()

    def policy(self, name: str) -> str | None:
        row = self.db.query_one("SELECT document FROM aws_policies WHERE name = ?", (name,))
        return str(row[0]) if row else None

    def policies(self) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.query("SELECT name, document FROM aws_policies ORDER BY name")}

    def delete_policy(self, name: str) -> None:
        if self.db.execute("DELETE FROM aws_policies WHERE name = ?", (name,)).rowcount == 0:
            raise RegistryError(f"no policy {name}")
        self._bump()

    def attach_policy(self, name: str, cert_id: str) -> None:
        if self.policy(name) is None:
            raise RegistryError(f"no policy {name}")
        self.db.execute("INSERT OR IGNORE INTO aws_policy_attachments VALUES (?, ?)", (name, cert_id))
        self._bump()

    def detach_policy(self, name: str, cert_id: str) -> None:
        self.db.execute("DELETE FROM aws_policy_attachments WHERE policy = ? AND certificate_id = ?",
                        (name, cert_id))
        self._bump()

    def policies_of_certificate(self, cert_id: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.query(
            "SELECT p.name, p.document FROM aws_policies p JOIN aws_policy_attachments a "
            "ON a.policy = p.name WHERE a.certificate_id = ? ORDER BY p.name", (cert_id,))}

    # templates
    def put_template(self, name: str, body: str, description: str, enabled: bool, hook_url: str | None,
                     now: float) -> TemplateRow:
        self.db.execute(
            "INSERT INTO aws_templates (name, body, description, enabled, hook_url, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET body = excluded.body, "
            "description = excluded.description, enabled = excluded.enabled, hook_url = excluded.hook_url, "
            "updated_at = excluded.updated_at, version = version + 1",
            (name, body, description, int(enabled), hook_url, now, now))
        row = self.template(name)
        assert row is not None
        return row

    def template(self, name: str) -> TemplateRow | None:
        row = self.db.query_one("SELECT * FROM aws_templates WHERE name = ?", (name,))
        return _template(row) if row else None

    def templates(self) -> list[TemplateRow]:
        return [_template(r) for r in self.db.query("SELECT * FROM aws_templates ORDER BY name")]

    def delete_template(self, name: str) -> None:
        if self.db.execute("DELETE FROM aws_templates WHERE name = ?", (name,)).rowcount == 0:
            raise RegistryError(f"no template {name}")

    # ownership tokens
    def add_token(self, token: str, cert_id: str, claim_cert_id: str | None, client_id: str | None,
                  now: float, ttl: float) -> None:
        self.db.execute("INSERT INTO aws_tokens VALUES (?, ?, ?, ?, ?, ?, NULL)",
                        (token, cert_id, claim_cert_id, client_id, now, now + ttl))

    def token(self, token: str) -> TokenRow | None:
        row = self.db.query_one("SELECT * FROM aws_tokens WHERE token = ?", (token,))
        return TokenRow(**dict(row)) if row else None

    def use_token(self, token: str, now: float) -> None:
        self.db.execute("UPDATE aws_tokens SET used_at = ? WHERE token = ?", (now, token))

    def purge_expired(self, now: float) -> list[str]:
        """Delete certificates whose token expired while they were never activated nor attached."""
        with self.db.transaction():
            rows = self.db.query(
                "SELECT c.id FROM aws_certificates c JOIN aws_tokens t ON t.certificate_id = c.id "
                "WHERE t.expires_at <= ? AND c.status = 'PENDING_ACTIVATION' "
                "AND NOT EXISTS (SELECT 1 FROM aws_policy_attachments a WHERE a.certificate_id = c.id) "
                "AND NOT EXISTS (SELECT 1 FROM aws_thing_principals p WHERE p.certificate_id = c.id)",
                (now,))
            purged = [r[0] for r in rows]
            for cert_id in purged:
                self.db.execute("DELETE FROM aws_certificates WHERE id = ?", (cert_id,))
            self.db.execute("DELETE FROM aws_tokens WHERE expires_at <= ?", (now,))
            expired_claims = self.db.query(
                "SELECT id FROM aws_certificates WHERE kind = 'claim' AND expires_at IS NOT NULL "
                "AND expires_at <= ?", (now,))
            for row in expired_claims:
                self.db.execute("DELETE FROM aws_certificates WHERE id = ?", (row[0],))
                purged.append(row[0])
        if purged:
            self._bump()
        return purged


def _check_status(status: str) -> None:
    if status not in CERTIFICATE_STATUSES:
        raise RegistryError(f"status must be one of {', '.join(CERTIFICATE_STATUSES)}", status=400)


def _cert(row: sqlite3.Row) -> CertificateRecord:
    return CertificateRecord(row["id"], row["pem"], row["status"], row["kind"], row["created_at"],
                             row["expires_at"], row["template"])


def _thing(row: sqlite3.Row) -> ThingRow:
    return ThingRow(row["name"], json.loads(row["attributes"]), row["thing_type"], json.loads(row["groups"]),
                    row["billing_group"], row["version"])


def _template(row: sqlite3.Row) -> TemplateRow:
    return TemplateRow(row["name"], row["body"], row["description"], bool(row["enabled"]), row["hook_url"],
                       row["version"])
