"""The aws emulator's control API (`/api/aws/...`): templates, claims, registry, connections, faults.

The routes see the emulator only through `AwsControlled`, the narrow interface below, so this module does not
import the emulator."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from certs.devpki import DevPKI
from emulators.aws.claims import create_claim
from emulators.aws.config import AwsConfig
from emulators.aws.keypool import KeyPool
from emulators.aws.registry import Registry, RegistryError
from emulators.faults import FaultPlan, fault_openapi, fault_routes
from protocols.aws.fleet_topics import is_valid_template_name
from protocols.aws.policy import PolicyError, parse_policy
from protocols.aws.templates import TemplateValidationError, parse_template

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TEMPLATE_BODY_LIMIT = 10_240
DESCRIPTION_LIMIT = 500


class AwsControlled(Protocol):
    """What the control routes need of the aws emulator."""

    @property
    def config(self) -> AwsConfig: ...

    @property
    def registry(self) -> Registry: ...

    @property
    def faults(self) -> FaultPlan: ...

    @property
    def keys(self) -> KeyPool: ...

    @property
    def pki(self) -> DevPKI: ...

    def now(self) -> float: ...

    def emit(self, kind: str, **data: Any) -> None: ...

    def connections(self) -> list[dict[str, Any]]: ...


class BadRequest(Exception):
    pass


def _guard(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except RegistryError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
    return wrapped


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def control_routes(emu: AwsControlled) -> list[web.RouteDef]:
    registry = emu.registry
    now = emu.now

    async def list_templates(_: web.Request) -> web.StreamResponse:
        return web.json_response({"templates": [t.to_json() for t in registry.templates()]})

    async def put_template(request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        name = request.match_info.get("name") or body.get("templateName")
        if not isinstance(name, str) or not is_valid_template_name(name):
            raise BadRequest("templateName must be 1-36 characters of [0-9A-Za-z_-]")
        if request.method == "POST" and registry.template(name) is not None:
            return web.json_response({"error": f"template {name} exists"}, status=409)
        raw = body.get("templateBody")
        text = raw if isinstance(raw, str) else json.dumps(raw) if isinstance(raw, dict) else None
        if text is None:
            raise BadRequest("templateBody must be a JSON string or object")
        if len(text) > TEMPLATE_BODY_LIMIT:
            raise BadRequest(f"templateBody longer than {TEMPLATE_BODY_LIMIT} characters")
        try:
            parse_template(text, lenient=emu.config.lenient_templates)
        except TemplateValidationError as exc:
            raise BadRequest(f"invalid template: {exc}") from exc
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > DESCRIPTION_LIMIT:
            raise BadRequest("description must be a string of at most 500 characters")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise BadRequest("enabled must be a boolean")
        hook = body.get("preProvisioningHook") or {}
        hook_url = hook.get("url") if isinstance(hook, dict) else None
        if hook and not (isinstance(hook_url, str) and hook_url.startswith(("http://", "https://"))):
            raise BadRequest("preProvisioningHook must be {\"url\": \"http(s)://...\"}")
        row = registry.put_template(name, text, description, enabled, hook_url, now())
        emu.emit("template_saved", template=name, version=row.version)
        return web.json_response(row.to_json(), status=201 if request.method == "POST" else 200)

    async def get_template(request: web.Request) -> web.StreamResponse:
        row = registry.template(request.match_info["name"])
        if row is None:
            raise RegistryError(f"no template {request.match_info['name']}")
        return web.json_response(row.to_json())

    async def delete_template(request: web.Request) -> web.StreamResponse:
        registry.delete_template(request.match_info["name"])
        emu.emit("template_deleted", template=request.match_info["name"])
        return web.Response(status=204)

    async def provisioning_claim(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if registry.template(name) is None:
            raise RegistryError(f"no template {name}")
        pair = create_claim(registry, emu.pki, emu.config.region, emu.config.account_id, now(),
                            template=name, temporary=True)
        emu.emit("claim_created", certificate_id=pair.certificate_id, template=name, temporary=True)
        return web.json_response(_claim_json(pair, now() + 300), status=201)

    async def new_claim(request: web.Request) -> web.StreamResponse:
        body = await _json_object(request) if request.can_read_body else {}
        cn = body.get("commonName", "provemu claim")
        if not isinstance(cn, str) or not cn:
            raise BadRequest("commonName must be a non-empty string")
        pair = create_claim(registry, emu.pki, emu.config.region, emu.config.account_id, now(),
                            common_name=cn)
        emu.emit("claim_created", certificate_id=pair.certificate_id, temporary=False)
        return web.json_response(_claim_json(pair, None), status=201)

    async def list_things(_: web.Request) -> web.StreamResponse:
        return web.json_response({"things": [
            {**t.to_json(), "principals": registry.principals_of_thing(t.name)} for t in registry.things()]})

    async def get_thing(request: web.Request) -> web.StreamResponse:
        thing = registry.thing(request.match_info["name"])
        if thing is None:
            raise RegistryError(f"no thing {request.match_info['name']}")
        return web.json_response({**thing.to_json(), "principals": registry.principals_of_thing(thing.name)})

    async def delete_thing(request: web.Request) -> web.StreamResponse:
        registry.delete_thing(request.match_info["name"])
        return web.Response(status=204)

    async def list_certificates(_: web.Request) -> web.StreamResponse:
        return web.json_response({"certificates": [c.to_json() for c in registry.certificates()]})

    async def get_certificate(request: web.Request) -> web.StreamResponse:
        cert_id = request.match_info["cert_id"]
        record = registry.certificate(cert_id)
        if record is None:
            raise RegistryError(f"no certificate {cert_id}")
        return web.json_response({**record.to_json(with_pem=True),
                                  "things": registry.things_of_certificate(cert_id),
                                  "policies": sorted(registry.policies_of_certificate(cert_id))})

    async def update_certificate(request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        status = body.get("status")
        if not isinstance(status, str):
            raise BadRequest("status must be a string")
        registry.set_certificate_status(request.match_info["cert_id"], status.upper())
        emu.emit("certificate_status", certificate_id=request.match_info["cert_id"], status=status.upper())
        return web.json_response({"certificateId": request.match_info["cert_id"], "status": status.upper()})

    async def delete_certificate(request: web.Request) -> web.StreamResponse:
        registry.delete_certificate(request.match_info["cert_id"])
        return web.Response(status=204)

    async def attach_policy(request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        name = body.get("policyName")
        if not isinstance(name, str):
            raise BadRequest("policyName must be a string")
        if registry.certificate(request.match_info["cert_id"]) is None:
            raise RegistryError(f"no certificate {request.match_info['cert_id']}")
        registry.attach_policy(name, request.match_info["cert_id"])
        return web.Response(status=204)

    async def list_policies(_: web.Request) -> web.StreamResponse:
        return web.json_response({"policies": [{"policyName": n, "policyDocument": json.loads(d)}
                                               for n, d in registry.policies().items()]})

    async def put_policy(request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        document = body.get("policyDocument")
        try:
            policy = parse_policy(document if isinstance(document, str | dict) else "")
        except PolicyError as exc:
            raise BadRequest(f"invalid policy: {exc}") from exc
        registry.put_policy(request.match_info["name"], policy.canonical_json, now())
        return web.json_response({"policyName": request.match_info["name"]}, status=201)

    async def delete_policy(request: web.Request) -> web.StreamResponse:
        registry.delete_policy(request.match_info["name"])
        return web.Response(status=204)

    async def connections(_: web.Request) -> web.StreamResponse:
        return web.json_response({"connections": emu.connections()})

    async def keypool(_: web.Request) -> web.StreamResponse:
        return web.json_response({"keyType": emu.keys.key_type, "available": len(emu.keys),
                                  "target": emu.keys.size})

    async def pki_info(_: web.Request) -> web.StreamResponse:
        pki = emu.pki
        return web.json_response({"caPem": pki.ca.cert_pem().decode(), "caPath": str(pki.ca_path),
                                  "claimCertificatePath": str(pki.directory / "claim.pem"),
                                  "claimKeyPath": str(pki.directory / "claim.key")})

    routes = [
        web.get("/templates", list_templates), web.post("/templates", put_template),
        web.get("/templates/{name}", get_template), web.put("/templates/{name}", put_template),
        web.delete("/templates/{name}", delete_template),
        web.post("/templates/{name}/provisioning-claim", provisioning_claim),
        web.post("/claims", new_claim),
        web.get("/things", list_things), web.get("/things/{name}", get_thing),
        web.delete("/things/{name}", delete_thing),
        web.get("/certificates", list_certificates), web.get("/certificates/{cert_id}", get_certificate),
        web.put("/certificates/{cert_id}", update_certificate),
        web.delete("/certificates/{cert_id}", delete_certificate),
        web.post("/certificates/{cert_id}/policies", attach_policy),
        web.get("/policies", list_policies), web.put("/policies/{name}", put_policy),
        web.delete("/policies/{name}", delete_policy),
        web.get("/connections", connections), web.get("/pki", pki_info), web.get("/keypool", keypool),
    ]
    guarded = [web.route(r.method, r.path, _guard(r.handler)) for r in routes]
    return guarded + fault_routes(emu.faults)


def _claim_json(pair: Any, expiration: float | None) -> dict[str, Any]:
    public = pair.cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    out = {"certificateId": pair.certificate_id, "certificatePem": pair.cert_pem().decode(),
           "keyPair": {"PrivateKey": pair.key_pem(traditional=True).decode(), "PublicKey": public}}
    if expiration is not None:
        out["expiration"] = expiration
    return out


def _op(summary: str, *responses: str, body: bool = False, params: tuple[str, ...] = ()) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {code: {"description": code} for code in responses}}
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                            for p in params]
    return op


def openapi_paths(emu: AwsControlled) -> dict[str, Any]:
    p = "/api/aws"
    paths: dict[str, Any] = {
        f"{p}/templates": {"get": _op("List provisioning templates", "200"),
                           "post": _op("Create a template {templateName, templateBody, description, enabled, "
                                       "preProvisioningHook: {url}}", "201", "400", "409", body=True)},
        f"{p}/templates/{{name}}": {"get": _op("Describe a template", "200", "404", params=("name",)),
                                    "put": _op("Create or replace a template", "200", "400", body=True,
                                               params=("name",)),
                                    "delete": _op("Delete a template", "204", "404", params=("name",))},
        f"{p}/templates/{{name}}/provisioning-claim": {"post": _op(
            "CreateProvisioningClaim: a claim certificate valid for 5 minutes", "201", "404", params=("name",))},
        f"{p}/claims": {"post": _op("Create a long-lived ACTIVE claim certificate with the claim policy",
                                    "201", body=True)},
        f"{p}/things": {"get": _op("List things", "200")},
        f"{p}/things/{{name}}": {"get": _op("Describe a thing", "200", "404", params=("name",)),
                                 "delete": _op("Delete a thing", "204", "404", params=("name",))},
        f"{p}/certificates": {"get": _op("List certificates", "200")},
        f"{p}/certificates/{{cert_id}}": {
            "get": _op("Describe a certificate", "200", "404", params=("cert_id",)),
            "put": _op("Change a certificate's status {status}", "200", "400", "404", body=True,
                       params=("cert_id",)),
            "delete": _op("Delete a certificate", "204", "404", params=("cert_id",))},
        f"{p}/certificates/{{cert_id}}/policies": {"post": _op("Attach a policy {policyName}", "204", "404",
                                                               body=True, params=("cert_id",))},
        f"{p}/policies": {"get": _op("List policies", "200")},
        f"{p}/policies/{{name}}": {"put": _op("Create or replace a policy {policyDocument}", "201", "400",
                                              body=True, params=("name",)),
                                   "delete": _op("Delete a policy", "204", "404", params=("name",))},
        f"{p}/connections": {"get": _op("Live MQTT connections and their subscriptions", "200")},
        f"{p}/pki": {"get": _op("CA certificate and the default claim files", "200")},
        f"{p}/keypool": {"get": _op("Pre-generated CreateKeysAndCertificate keys: available and target", "200")},
    }
    paths.update(fault_openapi(p, emu.faults))
    return paths
