"""The management REST API (JSON) of the provisioning service (nRF Cloud REST API: "ProvisioningService" and
"IdentityService" claimed devices), as aiohttp routes.

Served at `/v1/...` on the HTTPS listener with `Authorization: Bearer <api key>`, and mirrored without the
key under the control API (`/api/nrf/v1/...`). Status codes follow what nrfcloud-utils expects: claim 201,
dry run 202, unclaim 204 (404 when not claimed), create command 201, read command 200, rule create 201.
A claim registers the device's identity key when the service can trust one: the key certified by the
emulated identity CA inside an emulated device's token (see `emulators.nrf.identity`), or a `publicKey` (PEM)
given with the claim (emulator extension); with `verify_attestation` the token's COSE signature must verify
with it. Device JWTs are verified against that key; a device claimed without one is refused unless
`accept_unverified_jwt` is set.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from emulators.clock import Clock
from emulators.nrf.config import NrfConfig
from emulators.nrf.store import Device, NrfStore
from emulators.routes import (
    ANY_OBJECT,
    BOOLEAN,
    INTEGER,
    NO_CONTENT,
    STRING,
    Handler,
    Param,
    Reply,
    Route,
    array,
    obj,
)
from protocols.nrf import cose
from protocols.nrf.queue import random_uuid
from protocols.nrf.requests import RequestError, device_commands
from protocols.nrf.service import EventSink

log = logging.getLogger("provemu.nrf.management")

NRF_ERROR = obj(("message",), message=STRING)  # nRF Cloud's own error body, kept on its API and the mirror
DEVICE = obj(("id", "deviceType", "ownerId", "tags", "status"), id=STRING, deviceType=STRING,
             firmwareId={"type": ["string", "null"]}, ownerId=STRING, ownershipStatus=STRING, tags=array(STRING),
             status=STRING, claimedAt={"type": ["number", "string", "null"]}, publicKeyRegistered=BOOLEAN)


def device_json(device: Device, owner_id: str) -> dict[str, Any]:
    return {"id": device.device_id, "deviceType": cose.DEVICE_TYPES.get(device.device_type, "unknown"),
            "firmwareId": device.firmware_id, "ownerId": owner_id, "ownershipStatus": "IDENTIFIED",
            "tags": device.tags, "status": "READY", "claimedAt": device.claimed_at,
            "publicKeyRegistered": device.public_key is not None}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


class ManagementApi:
    """The routes, over the registry; `forget` tells the provisioning service a device's claim changed."""

    def __init__(self, store: NrfStore, config: NrfConfig, clock: Clock, rng: random.Random, emit: EventSink,
                 forget: Callable[[str], None], identity_ca: x509.Certificate) -> None:
        self.identity_ca = identity_ca
        self.store = store
        self.config = config
        self.clock = clock
        self.rng = rng
        self.emit = emit
        self.forget = forget

    def routes(self, require_key: bool) -> list[Route]:
        def guard(handler: Handler) -> Handler:
            async def checked(request: web.Request) -> web.StreamResponse:
                key = self.config.api_key
                if require_key and key and request.headers.get("Authorization") != f"Bearer {key}":
                    log.warning("nrf management: bad API key from %s", request.remote)
                    return _error(401, "Unauthorized")
                try:
                    result: web.StreamResponse = await handler(request)
                    return result
                except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                    return _error(400, f"Bad request: {exc}")

            return checked

        device = Reply("the claimed device", DEVICE)
        bad = Reply("bad request", NRF_ERROR)
        missing = Reply("not found", NRF_ERROR)
        claim = obj(("claimToken",), claimToken=STRING, tags=array(STRING),
                    publicKey={"type": "string", "description": "emulator extension: PEM of the device key"})
        claim_replies = {201: device, 202: Reply("dry run: would claim", obj(("id",), id=STRING)), 400: bad,
                         409: Reply("already claimed", NRF_ERROR)}
        dry_run = (Param("dryrun", STRING, "'true' checks the claim without storing it"),)
        command_list = Reply("the device's commands", obj(("items", "total"), items=array(ANY_OBJECT),
                                                            total=INTEGER))
        items = Reply("items", obj(("items",), items=array(ANY_OBJECT)))
        routes = [
            Route("POST", "/v1/claimed-devices", self.claim, "Claim a device (JSON, or CSV rows of token,tags)",
                  claim_replies, body=claim, query=dry_run),
            Route("POST", "/v1/identities/claimed-devices", self.claim, "Claim a device (alias)", claim_replies,
                  body=claim, query=dry_run),
            Route("POST", "/v1/claimed-devices/bulk", self.bulk, "Bulk claim from CSV rows of token,tags",
                  {202: Reply("accepted", obj(("bulkOpsRequestId",), bulkOpsRequestId=STRING))},
                  body={"type": "string"}, body_media_type="text/csv"),
            Route("GET", "/v1/claimed-devices", self.list_devices, "List claimed devices",
                  {200: Reply("devices", obj(("items", "total"), items=array(DEVICE), total=INTEGER))}),
            Route("GET", "/v1/claimed-devices/{device_id}", self.get_device, "One claimed device",
                  {200: device, 404: missing}),
            Route("DELETE", "/v1/claimed-devices/{device_id}", self.unclaim, "Unclaim a device",
                  {204: NO_CONTENT, 404: missing}),
            Route("DELETE", "/v1/identities/claimed-devices/{device_id}", self.unclaim, "Unclaim a device (alias)",
                  {204: NO_CONTENT, 404: missing}),
            Route("POST", "/v1/claimed-devices/{device_id}/provisioning", self.create_command,
                  "Create a provisioning command", {201: Reply("the command", ANY_OBJECT), 400: bad, 404: missing},
                  body=obj(("request",), request=ANY_OBJECT, description=STRING)),
            Route("GET", "/v1/claimed-devices/{device_id}/provisioning", self.list_commands,
                  "List the device's provisioning commands", {200: command_list, 404: missing}),
            Route("GET", "/v1/claimed-devices/{device_id}/provisioning/{command_id}", self.get_command,
                  "A command's status and response", {200: Reply("the command", ANY_OBJECT), 404: missing}),
            Route("POST", "/v1/provisioning-rules", self.create_rule, "Create a provisioning rule",
                  {201: Reply("the rule", ANY_OBJECT), 400: bad},
                  body=obj(("name",), name=STRING, tags=array(STRING), active=BOOLEAN,
                           commands=array(obj(("request",), request=ANY_OBJECT)))),
            Route("GET", "/v1/provisioning-rules", self.list_rules, "List provisioning rules", {200: items}),
            Route("POST", "/v1/provisioning/tags", self.create_tag, "Create a tag",
                  {200: Reply("existed", obj(("tag",), tag=STRING)), 201: Reply("created", obj(("tag",), tag=STRING)),
                   400: bad}, body=obj(("tag",), tag=STRING, description=STRING)),
            Route("GET", "/v1/provisioning/tags", self.list_tags, "List tags", {200: items}),
        ]
        unauthorized = {401: Reply("missing or wrong API key", NRF_ERROR)} if require_key else {}
        return [replace(r, handler=guard(r.handler), replies={**r.replies, **unauthorized}) for r in routes]

    # --- claims ---
    def _claim_one(self, token_text: Any, tags: Any, public_key: Any, dry_run: bool) -> web.Response:
        if not isinstance(token_text, str) or not token_text:
            return _error(400, "claimToken is required")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            return _error(400, "tags must be a list of strings")
        try:
            token = cose.parse_attestation_token(token_text)
        except cose.TokenError as exc:
            log.warning("nrf management: bad claim token: %s", exc)
            return _error(400, f"Invalid claim token: {exc}")
        try:
            key = self._trusted_key(token, public_key)
        except cose.TokenError as exc:
            log.warning("nrf management: claim of %s refused: %s", token.device_id, exc)
            return _error(400, str(exc))
        key_pem = None if key is None else key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        if self.store.device(token.device_id) is not None:
            return _error(409, "Device is already claimed")
        if dry_run:
            return web.json_response({"id": token.device_id}, status=202)
        now = self.clock.now()
        try:
            device = self.store.claim(token.device_id, token.device_type, token.firmware_id, key_pem,
                                      tags or [], token_text, now)
        except sqlite3.IntegrityError:
            return _error(409, "Device is already claimed")
        self.forget(device.device_id)
        if key_pem is None and not self.config.accept_unverified_jwt:
            log.warning("nrf management: device %s claimed without a key the service can trust: its JWTs will be "
                        "refused (claim with its emulated token or a publicKey, or set accept_unverified_jwt)",
                        device.device_id)
        self.emit("claimed", device=device.device_id, tags=device.tags)
        self._apply_rules(device)
        return web.json_response(device_json(device, self.config.owner_id), status=201)

    def _trusted_key(self, token: cose.AttestationToken, public_key: Any) -> ec.EllipticCurvePublicKey | None:
        """The identity key a claim can register: the one the token's identity certificate vouches for, or a
        given `publicKey` (which must then be the same key); its COSE signature checked when configured."""
        key = None if token.certificate is None else cose.endorsed_key(token, self.identity_ca, self.clock.now())
        if public_key is not None:
            try:
                given = serialization.load_pem_public_key(str(public_key).encode())
            except ValueError:
                raise cose.TokenError("publicKey is not a PEM public key") from None
            if not isinstance(given, ec.EllipticCurvePublicKey):
                raise cose.TokenError("publicKey must be an EC P-256 key")
            if key is not None and key.public_numbers() != given.public_numbers():
                raise cose.TokenError("publicKey is not the key of the token's identity certificate")
            key = given
        if key is not None and self.config.verify_attestation:
            try:
                cose.verify_attestation_token(token, key)
            except cose.TokenError:
                raise cose.TokenError("claim token signature does not match the device's key") from None
        return key

    def _apply_rules(self, device: Device) -> None:
        for rule in self.store.rules():
            if rule.get("active", True) and set(rule.get("tags", [])) & set(device.tags):
                for item in rule.get("commands", []):
                    try:
                        self._create(device.device_id, item.get("request"), rule.get("name", "rule"))
                    except RequestError as exc:  # the claim stands; the rule's command is skipped
                        log.warning("nrf management: rule %s not applied to %s: %s",
                                                 rule.get("name"), device.device_id, exc)

    async def claim(self, request: web.Request) -> web.Response:
        raw = await request.read()
        content_type = request.headers.get("Content-Type", "") + request.headers.get("contentType", "")
        if "csv" in content_type or (raw[:1] == b'"' and b"{" not in raw[:2]):
            return self._claim_csv(raw.decode())
        body = json.loads(raw or b"null")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        dry_run = request.query.get("dryrun", "").lower() == "true"
        return self._claim_one(body.get("claimToken"), body.get("tags"), body.get("publicKey"), dry_run)

    def _claim_csv(self, text: str) -> web.Response:
        claimed, failed = [], []
        for row in csv.reader(io.StringIO(text)):
            if not row or not row[0].strip():
                continue
            tags = [t for t in (row[1].split(",") if len(row) > 1 else []) if t]
            answer = self._claim_one(row[0].strip(), tags, None, dry_run=False)
            body = json.loads(answer.body) if isinstance(answer.body, bytes) else {}
            if answer.status == 201:
                claimed.append(body["id"])
            else:
                failed.append({"claimToken": row[0][:32] + "...", "message": body.get("message", "")})
        return web.json_response({"claimedIds": claimed, "failed": failed}, status=201)

    async def bulk(self, request: web.Request) -> web.Response:
        answer = self._claim_csv((await request.read()).decode())
        summary = json.loads(answer.body) if isinstance(answer.body, bytes) else {}
        request_id = random_uuid(self.rng)
        self.emit("bulk_claim", request_id=request_id, **summary)
        return web.json_response({"bulkOpsRequestId": request_id}, status=202)

    async def list_devices(self, request: web.Request) -> web.Response:
        items = [device_json(d, self.config.owner_id) for d in self.store.devices()]
        return web.json_response({"items": items, "total": len(items)})

    async def get_device(self, request: web.Request) -> web.Response:
        device = self.store.device(request.match_info["device_id"])
        if device is None:
            return _error(404, "Device not found")
        return web.json_response(device_json(device, self.config.owner_id))

    async def unclaim(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        if not self.store.unclaim(device_id):
            return _error(404, "Device not claimed")
        self.forget(device_id)
        self.emit("unclaimed", device=device_id)
        return web.Response(status=204)

    # --- commands ---
    def _create(self, device_id: str, request_body: Any, description: str) -> dict[str, Any]:
        if self.store.open_commands(device_id) >= self.config.max_commands_per_device:
            raise RequestError(f"at most {self.config.max_commands_per_device} pending commands per device")
        corr_id = self.store.next_corr_id(device_id)
        kind, commands = device_commands(request_body, corr_id)
        created = self.store.add_command(device_id, kind, request_body, description, commands,
                                         self.clock.now())
        self.emit("command_created", device=device_id, command=created["id"], type=kind,
                          ids=created["correlationIds"])
        return created

    async def create_command(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        if self.store.device(device_id) is None:
            return _error(404, "Device not claimed")
        body = await request.json()
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        description = body.get("description", "")
        if not isinstance(description, str):
            return _error(400, "description must be a string")
        try:
            created = self._create(device_id, body.get("request"), description)
        except RequestError as exc:
            return _error(400, str(exc))
        return web.json_response(created, status=201)

    async def list_commands(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        if self.store.device(device_id) is None:
            return _error(404, "Device not claimed")
        items = self.store.commands(device_id)
        return web.json_response({"items": items, "total": len(items)})

    async def get_command(self, request: web.Request) -> web.Response:
        found = self.store.command(request.match_info["device_id"], request.match_info["command_id"])
        if found is None:
            return _error(404, "Command not found")
        return web.json_response(found)

    # --- rules and tags ---
    async def create_rule(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return _error(400, "a rule needs a name")
        commands = body.get("commands", [])
        if not isinstance(commands, list) or not all(isinstance(c, dict) for c in commands):
            return _error(400, "commands must be a list of {request: ...}")
        try:
            for item in commands:
                device_commands(item.get("request"), "check")
        except RequestError as exc:
            return _error(400, str(exc))
        return web.json_response(self.store.add_rule(body, self.clock.now()), status=201)

    async def list_rules(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.store.rules()})

    async def create_tag(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("tag"), str) or not body["tag"]:
            return _error(400, "tag is required")
        created = self.store.add_tag(body["tag"], str(body.get("description", "")))
        return web.json_response({"tag": body["tag"]}, status=201 if created else 200)

    async def list_tags(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.store.tags()})
