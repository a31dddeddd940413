"""The fleet provisioning service: CreateKeysAndCertificate, CreateCertificateFromCsr and RegisterThing.

Requests arrive from the gateway already authorized; answers go back through `Gateway.deliver_response`,
so only the requesting connection receives them. Requests of one connection are served in order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certs.devpki import DevPKI
from certs.pki import CsrError, certificate_id, issue_client_cert, load_certificate, sign_csr
from emulators.aws.hook import call_hook
from emulators.aws.keypool import KeyPool
from emulators.aws.registry import Registry
from emulators.clock import Clock
from emulators.faults import FaultPlan
from protocols.aws.fleet_messages import (
    AcceptedResponse,
    CreateCertificateFromCsrRequest,
    CreateCertificateFromCsrResponse,
    CreateKeysAndCertificateResponse,
    ErrorCatalog,
    ErrorResponse,
    FleetPayloadError,
    RegisterThingRequest,
    RegisterThingResponse,
    RejectionCase,
    decode_request,
    encode_response,
)
from protocols.aws.fleet_topics import FleetRequest, Operation
from protocols.aws.hook_messages import hook_input
from protocols.aws.ownership import TokenPolicy, TokenState, check_token
from protocols.aws.template_functions import TemplateEvaluationError, TemplateValidationError
from protocols.aws.templates import (
    ProvisioningPlan,
    ProvisioningTemplate,
    ThingAction,
    ThingRecord,
    certificate_subject_fields,
    parse_template,
    plan_certificate_status,
    plan_thing_change,
)
from protocols.mqtt.packets import Publish

if TYPE_CHECKING:
    from emulators.aws.config import AwsConfig
    from emulators.aws.gateway import Gateway, MqttConnection

log = logging.getLogger("provemu.aws.provisioning")

ISSUED_CERTIFICATE_CN = "AWS IoT Certificate"
PROVISIONING_FAULTS = ("throttle", "reject", "delay", "drop", "never_answer")


class Rejected(Exception):
    def __init__(self, case: RejectionCase, detail: str = "", **context: str) -> None:
        super().__init__(detail or case.value)
        self.case = case
        self.detail = detail
        self.context = context


class FleetProvisioningService:
    def __init__(self, config: AwsConfig, registry: Registry, pki: DevPKI, keys: KeyPool, clock: Clock,
                 faults: FaultPlan, gateway: Gateway, emit: Callable[..., Any]) -> None:
        self.config = config
        self.registry = registry
        self.pki = pki
        self.keys = keys
        self.clock = clock
        self.faults = faults
        self.gateway = gateway
        self.emit = emit
        overrides: dict[str | RejectionCase, dict[str, Any]] = {k: v for k, v in config.error_overrides.items()}
        self.catalog = ErrorCatalog(overrides)
        self.token_policy = TokenPolicy(config.token_single_use, config.token_binding)
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: weakref.WeakKeyDictionary[MqttConnection, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._templates: dict[tuple[str, int], ProvisioningTemplate] = {}
        self._http: aiohttp.ClientSession | None = None

    def submit(self, conn: MqttConnection, request: FleetRequest, packet: Publish) -> None:
        task = asyncio.create_task(self._serve(conn, request, packet))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _serve(self, conn: MqttConnection, request: FleetRequest, packet: Publish) -> None:
        lock = self._locks.setdefault(conn, asyncio.Lock())
        async with lock:
            operation = _operation_name(request.operation)
            fault = self.faults.take(actions=PROVISIONING_FAULTS, operation=operation, client_id=conn.client_id,
                                     template=request.template_name or "")
            response: AcceptedResponse | ErrorResponse
            try:
                if fault is not None:
                    self.emit("fault_applied", fault=fault.id, action=fault.action, operation=operation)
                    log.info("fault %s: %s on %s from %s", fault.id, fault.action, operation, conn.client_id)
                    if fault.action == "never_answer":
                        return
                    if fault.action == "drop":
                        conn.drop()
                        return
                    if fault.action == "delay":
                        await asyncio.sleep(float(fault.params.get("seconds", 1.0)))
                    elif fault.action == "throttle":
                        raise Rejected(RejectionCase.THROTTLED)
                    elif fault.action == "reject":
                        response = self._fault_rejection(fault.params)
                        raise _Answer(response)
                response = await self._handle(conn, request, packet.payload)
                topic = request.accepted_topic
                outcome = "accepted"
            except _Answer as answer:
                response, topic, outcome = answer.response, request.rejected_topic, "rejected"
            except Rejected as rejection:
                response = self.catalog.rejection(rejection.case, rejection.detail, **rejection.context)
                topic, outcome = request.rejected_topic, "rejected"
                log.info("%s from %s rejected: %s %s", operation, conn.client_id, response.error_code,
                         response.error_message)
            except Exception:
                log.exception("%s from %s failed", operation, conn.client_id)
                response = self.catalog.rejection(RejectionCase.INTERNAL_ERROR)
                topic, outcome = request.rejected_topic, "rejected"
            payload = encode_response(response, request.fmt)
            self.emit(f"provisioning_{outcome}", operation=operation, client_id=conn.client_id, topic=topic,
                      **_summary(response))
            self.gateway.deliver_response(conn, topic, payload, packet.qos)

    def _fault_rejection(self, params: dict[str, Any]) -> ErrorResponse:
        if "case" in params:
            return self.catalog.rejection(RejectionCase(params["case"]))
        return ErrorResponse(int(params.get("statusCode", 400)), str(params.get("errorCode", "InvalidRequest")),
                             str(params.get("errorMessage", "Rejected by an injected fault.")))

    async def _handle(self, conn: MqttConnection, request: FleetRequest, payload: bytes) -> AcceptedResponse:
        try:
            message = decode_request(request.operation, request.fmt, payload)
        except FleetPayloadError as exc:
            raise Rejected(exc.case, str(exc)) from exc
        claim_id = conn.principal.certificate_id if conn.principal else None
        if isinstance(message, RegisterThingRequest):
            assert request.template_name is not None
            return await self._register_thing(conn, request.template_name, message)
        if isinstance(message, CreateCertificateFromCsrRequest):
            try:
                cert = sign_csr(self.pki.ca, message.certificate_signing_request)
            except CsrError as exc:
                raise Rejected(RejectionCase.INVALID_CSR, str(exc)) from exc
            cert_id, pem, token = self._record_new_certificate(cert, claim_id, conn.client_id)
            return CreateCertificateFromCsrResponse(cert_id, pem, token)
        key = await self.keys.take()
        issued = issue_client_cert(self.pki.ca, ISSUED_CERTIFICATE_CN, public_key=key.public_key)
        cert_id, pem, token = self._record_new_certificate(issued.cert, claim_id, conn.client_id)
        return CreateKeysAndCertificateResponse(cert_id, pem, key.private_pem, token)

    def _record_new_certificate(self, cert: x509.Certificate, claim_id: str | None,
                                client_id: str) -> tuple[str, str, str]:
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        cert_id = certificate_id(cert)
        token = secrets.token_urlsafe(48)
        now = self.clock.now()
        with self.registry.db.transaction():
            self.registry.add_certificate(cert_id, pem, "PENDING_ACTIVATION", now)
            self.registry.add_token(token, cert_id, claim_id, client_id, now, self.config.token_ttl_seconds)
        self.emit("certificate_created", certificate_id=cert_id, status="PENDING_ACTIVATION",
                  client_id=client_id)
        return cert_id, pem, token

    def _template(self, name: str) -> ProvisioningTemplate:
        row = self.registry.template(name)
        if row is None:
            raise Rejected(RejectionCase.TEMPLATE_NOT_FOUND, template_name=name)
        if not row.enabled:
            raise Rejected(RejectionCase.TEMPLATE_DISABLED, template_name=name)
        key = (name, row.version)
        template = self._templates.get(key)
        if template is None:
            try:
                template = parse_template(row.body, lenient=self.config.lenient_templates)
            except TemplateValidationError as exc:
                raise Rejected(RejectionCase.TEMPLATE_EVALUATION_ERROR, str(exc), template_name=name) from exc
            self._templates[key] = template
        return template

    async def _register_thing(self, conn: MqttConnection, template_name: str,
                              message: RegisterThingRequest) -> RegisterThingResponse:
        template = self._template(template_name)
        row = self.registry.template(template_name)
        assert row is not None
        token = self.registry.token(message.certificate_ownership_token)
        claim_id = conn.principal.certificate_id if conn.principal else None
        state = TokenState(token.certificate_id, token.claim_certificate_id, token.expires_at, token.used_at) \
            if token else None
        problem = check_token(message.certificate_ownership_token, state, self.clock.now(), claim_id,
                              self.token_policy)
        if problem is not None:
            raise Rejected(problem)
        assert token is not None
        record = self.registry.certificate(token.certificate_id)
        if record is None:
            raise Rejected(RejectionCase.INVALID_OWNERSHIP_TOKEN)
        parameters = dict(message.parameters)
        if row.hook_url:
            verdict = await call_hook(self._session(), row.hook_url, hook_input(
                claim_id, record.id, record.pem, self._template_arn(template_name), conn.client_id, parameters),
                self.config.hook_timeout)
            self.emit("hook_called", template=template_name, allowed=verdict.allowed, outcome=verdict.outcome,
                      reason=verdict.reason)
            if not verdict.allowed:
                raise Rejected({"timeout": RejectionCase.HOOK_TIMEOUT, "failed": RejectionCase.HOOK_FAILED}.get(
                    verdict.outcome, RejectionCase.HOOK_DENIED), verdict.reason)
            parameters.update(verdict.parameter_overrides)
        subject = certificate_subject_fields(load_certificate(record.pem))
        try:
            plan = template.evaluate(parameters, certificate_id=record.id, certificate_subject=subject,
                                     aws_pseudo_parameters={"AWS::Region": self.config.region,
                                                            "AWS::AccountId": self.config.account_id})
            thing_name = self._apply(plan, record.id, record.status)
        except TemplateEvaluationError as exc:
            raise Rejected(exc.case, exc.detail, template_name=template_name, **exc.context) from exc
        self.registry.use_token(message.certificate_ownership_token, self.clock.now())
        self.emit("thing_registered", thing_name=thing_name, certificate_id=record.id, template=template_name,
                  client_id=conn.client_id)
        return RegisterThingResponse(thing_name, dict(plan.device_configuration))

    def _apply(self, plan: ProvisioningPlan, cert_id: str, current_status: str) -> str:
        """Write the plan in one transaction; any conflict leaves the registry as it was."""
        now = self.clock.now()
        with self.registry.db.transaction():
            if plan.thing is not None:
                existing = self.registry.thing(plan.thing.thing_name)
                current = ThingRecord(existing.name, dict(existing.attributes), existing.thing_type,
                                      tuple(existing.groups), existing.billing_group) if existing else None
                change = plan_thing_change(current, plan.thing)
                if change.action is not ThingAction.UNCHANGED:
                    rec = change.record
                    self.registry.put_thing(rec.name, dict(rec.attributes), rec.thing_type, list(rec.groups),
                                            rec.billing_group, now)
                self.registry.attach_thing_principal(plan.thing.thing_name, cert_id)
            if plan.certificate is not None:
                self.registry.set_certificate_status(cert_id, plan_certificate_status(current_status,
                                                                                      plan.certificate))
            for spec in plan.policies:
                if spec.policy is not None:
                    self.registry.put_policy(spec.policy_name, spec.policy.canonical_json, now)
                elif self.registry.policy(spec.policy_name) is None:
                    raise TemplateEvaluationError(f"policy {spec.policy_name} does not exist")
                self.registry.attach_policy(spec.policy_name, cert_id)
        return plan.thing_name

    def _template_arn(self, name: str) -> str:
        return f"arn:aws:iot:{self.config.region}:{self.config.account_id}:provisioningtemplate/{name}"

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http


class _Answer(Exception):
    def __init__(self, response: ErrorResponse) -> None:
        super().__init__(response.error_code)
        self.response = response


def _operation_name(operation: Operation) -> str:
    return {Operation.CREATE_KEYS_AND_CERTIFICATE: "CreateKeysAndCertificate",
            Operation.CREATE_CERTIFICATE_FROM_CSR: "CreateCertificateFromCsr",
            Operation.REGISTER_THING: "RegisterThing"}[operation]


def _summary(response: AcceptedResponse | ErrorResponse) -> dict[str, Any]:
    if isinstance(response, ErrorResponse):
        return {"statusCode": response.status_code, "errorCode": response.error_code,
                "errorMessage": response.error_message}
    if isinstance(response, RegisterThingResponse):
        return {"thingName": response.thing_name}
    return {"certificateId": response.certificate_id}
