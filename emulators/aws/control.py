"""The aws emulator's control API (`/api/aws/...`): templates, claims, registry, connections, faults.

The routes see the emulator only through `AwsControlled`, the narrow interface below, so this module does not
import the emulator."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Protocol

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from certs.devpki import DevPKI
from emulators.aws.claims import create_claim
from emulators.aws.config import AwsConfig
from emulators.aws.keypool import KeyPool
from emulators.aws.registry import Registry, RegistryError
from emulators.faults import fault_routes
from emulators.routes import (
    ANY_OBJECT,
    BAD_REQUEST,
    BOOLEAN,
    INTEGER,
    NO_CONTENT,
    NOT_FOUND,
    NUMBER,
    STRING,
    ControlError,
    Handler,
    Reply,
    Route,
    array,
    json_object,
    obj,
)
from protocols.aws.fleet_topics import is_valid_template_name
from protocols.aws.policy import PolicyError, parse_policy
from protocols.aws.templates import TemplateValidationError, parse_template
from protocols.faults import FaultPlan

_OPTIONAL_STRING = {"type": ["string", "null"]}
TEMPLATE = obj(("templateName", "templateBody", "enabled", "defaultVersionId"), templateName=STRING,
               templateBody=STRING, description=STRING, enabled=BOOLEAN, preProvisioningHookUrl=_OPTIONAL_STRING,
               defaultVersionId=INTEGER)
THING = obj(("thingName",), thingName=STRING, attributes=ANY_OBJECT, thingTypeName=_OPTIONAL_STRING,
            thingGroups=array(STRING), billingGroup=_OPTIONAL_STRING, version=INTEGER, principals=array(STRING))
CERTIFICATE = obj(("certificateId", "status"), certificateId=STRING, status=STRING, kind=_OPTIONAL_STRING,
                  createdAt=NUMBER, expiresAt={"type": ["number", "null"]}, templateName=STRING,
                  certificatePem=STRING, things=array(STRING), policies=array(STRING))
CLAIM = obj(("certificateId", "certificatePem", "keyPair"), certificateId=STRING, certificatePem=STRING,
            keyPair=obj(("PrivateKey", "PublicKey"), PrivateKey=STRING, PublicKey=STRING), expiration=NUMBER)
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


def _registry_errors(handler: Handler) -> Handler:
    """The registry's refusals (unknown or conflicting names) answered with the status each carries."""
    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RegistryError as exc:
            raise ControlError(exc.status, str(exc)) from None
    return answered


def control_routes(emu: AwsControlled) -> list[Route]:
    registry = emu.registry
    now = emu.now

    async def list_templates(_: web.Request) -> web.StreamResponse:
        return web.json_response({"templates": [t.to_json() for t in registry.templates()]})

    async def put_template(request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        name = request.match_info.get("name") or body.get("templateName")
        if not isinstance(name, str) or not is_valid_template_name(name):
            raise ControlError(400, "templateName must be 1-36 characters of [0-9A-Za-z_-]")
        if request.method == "POST" and registry.template(name) is not None:
            raise ControlError(409, f"template {name} exists")
        raw = body.get("templateBody")
        text = raw if isinstance(raw, str) else json.dumps(raw) if isinstance(raw, dict) else None
        if text is None:
            raise ControlError(400, "templateBody must be a JSON string or object")
        if len(text) > TEMPLATE_BODY_LIMIT:
            raise ControlError(400, f"templateBody longer than {TEMPLATE_BODY_LIMIT} characters")
        try:
            parse_template(text, lenient=emu.config.lenient_templates)
        except TemplateValidationError as exc:
            raise ControlError(400, f"invalid template: {exc}") from exc
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > DESCRIPTION_LIMIT:
            raise ControlError(400, "description must be a string of at most 500 characters")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ControlError(400, "enabled must be a boolean")
        hook = body.get("preProvisioningHook") or {}
        hook_url = hook.get("url") if isinstance(hook, dict) else None
        if hook and not (isinstance(hook_url, str) and hook_url.startswith(("http://", "https://"))):
            raise ControlError(400, "preProvisioningHook must be {\"url\": \"http(s)://...\"}")
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
        body = await json_object(request, optional=True)
        cn = body.get("commonName", "provemu claim")
        if not isinstance(cn, str) or not cn:
            raise ControlError(400, "commonName must be a non-empty string")
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
        body = await json_object(request)
        status = body.get("status")
        if not isinstance(status, str):
            raise ControlError(400, "status must be a string")
        registry.set_certificate_status(request.match_info["cert_id"], status.upper())
        emu.emit("certificate_status", certificate_id=request.match_info["cert_id"], status=status.upper())
        return web.json_response({"certificateId": request.match_info["cert_id"], "status": status.upper()})

    async def delete_certificate(request: web.Request) -> web.StreamResponse:
        registry.delete_certificate(request.match_info["cert_id"])
        return web.Response(status=204)

    async def attach_policy(request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        name = body.get("policyName")
        if not isinstance(name, str):
            raise ControlError(400, "policyName must be a string")
        if registry.certificate(request.match_info["cert_id"]) is None:
            raise RegistryError(f"no certificate {request.match_info['cert_id']}")
        registry.attach_policy(name, request.match_info["cert_id"])
        return web.Response(status=204)

    async def list_policies(_: web.Request) -> web.StreamResponse:
        return web.json_response({"policies": [{"policyName": n, "policyDocument": json.loads(d)}
                                               for n, d in registry.policies().items()]})

    async def put_policy(request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        document = body.get("policyDocument")
        try:
            policy = parse_policy(document if isinstance(document, str | dict) else "")
        except PolicyError as exc:
            raise ControlError(400, f"invalid policy: {exc}") from exc
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

    template_in = obj(("templateBody",), templateName=STRING, templateBody={"type": ["string", "object"]},
                      description=STRING, enabled=BOOLEAN, preProvisioningHook=obj(("url",), url=STRING))
    template = Reply("the template", TEMPLATE)
    routes = [
        Route("GET", "/templates", list_templates, "List provisioning templates",
              {200: Reply("templates", obj(("templates",), templates=array(TEMPLATE)))}),
        Route("POST", "/templates", put_template, "Create a template", {201: template, 400: BAD_REQUEST,
              409: Reply("a template of that name exists")}, body=template_in),
        Route("GET", "/templates/{name}", get_template, "Describe a template", {200: template, 404: NOT_FOUND}),
        Route("PUT", "/templates/{name}", put_template, "Create or replace a template",
              {200: template, 400: BAD_REQUEST}, body=template_in),
        Route("DELETE", "/templates/{name}", delete_template, "Delete a template", {204: NO_CONTENT, 404: NOT_FOUND}),
        Route("POST", "/templates/{name}/provisioning-claim", provisioning_claim,
              "CreateProvisioningClaim: a claim certificate valid for 5 minutes",
              {201: Reply("the claim", CLAIM), 404: NOT_FOUND}),
        Route("POST", "/claims", new_claim, "Create a long-lived ACTIVE claim certificate with the claim policy",
              {201: Reply("the claim", CLAIM), 400: BAD_REQUEST}, body=obj(commonName=STRING)),
        Route("GET", "/things", list_things, "List things",
              {200: Reply("things", obj(("things",), things=array(THING)))}),
        Route("GET", "/things/{name}", get_thing, "Describe a thing", {200: Reply("the thing", THING),
                                                                        404: NOT_FOUND}),
        Route("DELETE", "/things/{name}", delete_thing, "Delete a thing", {204: NO_CONTENT, 404: NOT_FOUND}),
        Route("GET", "/certificates", list_certificates, "List certificates",
              {200: Reply("certificates", obj(("certificates",), certificates=array(CERTIFICATE)))}),
        Route("GET", "/certificates/{cert_id}", get_certificate, "Describe a certificate",
              {200: Reply("the certificate, its PEM, things and policies", CERTIFICATE), 404: NOT_FOUND}),
        Route("PUT", "/certificates/{cert_id}", update_certificate, "Change a certificate's status",
              {200: Reply("the new status", obj(("certificateId", "status"), certificateId=STRING, status=STRING)),
               400: BAD_REQUEST, 404: NOT_FOUND}, body=obj(("status",), status=STRING)),
        Route("DELETE", "/certificates/{cert_id}", delete_certificate, "Delete a certificate",
              {204: NO_CONTENT, 404: NOT_FOUND}),
        Route("POST", "/certificates/{cert_id}/policies", attach_policy, "Attach a policy to a certificate",
              {204: NO_CONTENT, 400: BAD_REQUEST, 404: NOT_FOUND}, body=obj(("policyName",), policyName=STRING)),
        Route("GET", "/policies", list_policies, "List policies", {200: Reply("policies", obj(("policies",),
              policies=array(obj(("policyName", "policyDocument"), policyName=STRING, policyDocument=ANY_OBJECT))))}),
        Route("PUT", "/policies/{name}", put_policy, "Create or replace a policy",
              {201: Reply("stored", obj(("policyName",), policyName=STRING)), 400: BAD_REQUEST},
              body=obj(("policyDocument",), policyDocument={"type": ["string", "object"]})),
        Route("DELETE", "/policies/{name}", delete_policy, "Delete a policy", {204: NO_CONTENT, 404: NOT_FOUND}),
        Route("GET", "/connections", connections, "Live MQTT connections and their subscriptions",
              {200: Reply("connections", obj(("connections",), connections=array(ANY_OBJECT)))}),
        Route("GET", "/pki", pki_info, "CA certificate and the default claim files",
              {200: Reply("the PKI", obj(("caPem", "caPath", "claimCertificatePath", "claimKeyPath"), caPem=STRING,
                                         caPath=STRING, claimCertificatePath=STRING, claimKeyPath=STRING))}),
        Route("GET", "/keypool", keypool, "Pre-generated CreateKeysAndCertificate keys: available and target",
              {200: Reply("the pool", obj(("keyType", "available", "target"), keyType=STRING, available=INTEGER,
                                          target=INTEGER))}),
    ]
    return [replace(r, handler=_registry_errors(r.handler)) for r in routes] + fault_routes(emu.faults)


def _claim_json(pair: Any, expiration: float | None) -> dict[str, Any]:
    public = pair.cert.public_key().public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    out = {"certificateId": pair.certificate_id, "certificatePem": pair.cert_pem().decode(),
           "keyPair": {"PrivateKey": pair.key_pem(traditional=True).decode(), "PublicKey": public}}
    if expiration is not None:
        out["expiration"] = expiration
    return out

