"""The fleet provisioning service: CreateKeysAndCertificate, CreateCertificateFromCsr and RegisterThing.

Requests arrive from the broker core already authorized; `serve` returns the answer (topic, payload, QoS)
with the `Delivery` a fault asks for, and the driver hands it to `Broker.deliver_response`, which sends it to
the requesting connection only (AWS IoT developer guide, "Device provisioning MQTT API"). Ownership tokens
come from the injected random-bytes source, times from the emulator clock.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
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
from protocols.aws.broker import ProvisioningRequest
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
from protocols.faults import Delivery, FaultPlan

if TYPE_CHECKING:
    from emulators.aws.config import AwsConfig

log = logging.getLogger("provemu.aws.provisioning")

ISSUED_CERTIFICATE_CN = "AWS IoT Certificate"
PROVISIONING_FAULTS = ("throttle", "reject", "delay", "drop", "never_answer")
TOKEN_BYTES = 48


@dataclass(frozen=True)
class ProvisioningAnswer:
    """What to publish back to the requester, and how a fault changes its delivery (drop, never, late)."""

    delivery: Delivery
    topic: str = ""
    payload: bytes = b""
    qos: int = 0


class Rejected(Exception):
    def __init__(self, case: RejectionCase, detail: str = "", **context: str) -> None:
        super().__init__(detail or case.value)
        self.case = case
        self.detail = detail
        self.context = context


class FleetProvisioningService:
    def __init__(self, config: AwsConfig, registry: Registry, pki: DevPKI, keys: KeyPool, clock: Clock,
                 faults: FaultPlan, emit: Callable[..., Any], random_bytes: Callable[[int], bytes]) -> None:
        self.config = config
        self.registry = registry
        self.pki = pki
        self.keys = keys
        self.clock = clock
        self.faults = faults
        self.emit = emit
        self.random_bytes = random_bytes
        overrides: dict[str | RejectionCase, dict[str, Any]] = {k: v for k, v in config.error_overrides.items()}
        self.catalog = ErrorCatalog(overrides)
        self.token_policy = TokenPolicy(config.token_single_use, config.token_binding)
        self._templates: dict[tuple[str, int], ProvisioningTemplate] = {}
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def serve(self, served: ProvisioningRequest[Any]) -> ProvisioningAnswer:
        """The answer to one request; the caller serves one connection's requests in order."""
        request, client_id = served.request, served.client_id
        operation = request.operation.value
        fault = self.faults.take(actions=PROVISIONING_FAULTS, operation=operation, client_id=client_id,
                                 template=request.template_name or "")
        delivery = Delivery.of(fault)
        response: AcceptedResponse | ErrorResponse
        if fault is not None:
            self.emit("fault_applied", fault=fault.id, action=fault.action, operation=operation)
            log.info("fault %s: %s on %s from %s", fault.id, fault.action, operation, client_id)
            if not delivery.answers:
                return ProvisioningAnswer(delivery)
        try:
            if fault is not None and fault.action == "throttle":
                raise Rejected(RejectionCase.THROTTLED)
            if fault is not None and fault.action == "reject":
                raise _Answer(self._fault_rejection(fault.params))
            response = await self._handle(served)
            accepted = True
        except _Answer as answer:
            response, accepted = answer.response, False
        except Rejected as rejection:
            response, accepted = self.catalog.rejection(rejection.case, rejection.detail, **rejection.context), False
            log.info("%s from %s rejected: %s %s", operation, client_id, response.error_code,
                     response.error_message)
        except Exception:
            log.exception("%s from %s failed", operation, client_id)
            response, accepted = self.catalog.rejection(RejectionCase.INTERNAL_ERROR), False
        if accepted:
            topic = request.accepted_topic
            self.emit("provisioning_accepted", operation=operation, client_id=client_id, topic=topic,
                      **_summary(response))
        else:
            topic = request.rejected_topic
            self.emit("provisioning_rejected", operation=operation, client_id=client_id, topic=topic,
                      **_summary(response))
        return ProvisioningAnswer(delivery, topic, encode_response(response, request.fmt), served.qos)

    def _fault_rejection(self, params: dict[str, Any]) -> ErrorResponse:
        if "case" in params:
            return self.catalog.rejection(RejectionCase(params["case"]))
        return ErrorResponse(int(params.get("statusCode", 400)), str(params.get("errorCode", "InvalidRequest")),
                             str(params.get("errorMessage", "Rejected by an injected fault.")))

    async def _handle(self, served: ProvisioningRequest[Any]) -> AcceptedResponse:
        request = served.request
        try:
            message = decode_request(request.operation, request.fmt, served.payload)
        except FleetPayloadError as exc:
            raise Rejected(exc.case, str(exc)) from exc
        claim_id = served.claim_certificate_id
        if isinstance(message, RegisterThingRequest):
            assert request.template_name is not None
            return await self._register_thing(served, request.template_name, message)
        if isinstance(message, CreateCertificateFromCsrRequest):
            try:
                cert = sign_csr(self.pki.ca, message.certificate_signing_request)
            except CsrError as exc:
                raise Rejected(RejectionCase.INVALID_CSR, str(exc)) from exc
            cert_id, pem, token = self._record_new_certificate(cert, claim_id, served.client_id)
            return CreateCertificateFromCsrResponse(cert_id, pem, token)
        key = await self.keys.take()
        issued = issue_client_cert(self.pki.ca, ISSUED_CERTIFICATE_CN, public_key=key.public_key)
        cert_id, pem, token = self._record_new_certificate(issued.cert, claim_id, served.client_id)
        return CreateKeysAndCertificateResponse(cert_id, pem, key.private_pem, token)

    def _record_new_certificate(self, cert: x509.Certificate, claim_id: str | None,
                                client_id: str) -> tuple[str, str, str]:
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        cert_id = certificate_id(cert)
        token = base64.urlsafe_b64encode(self.random_bytes(TOKEN_BYTES)).rstrip(b"=").decode()
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

    async def _register_thing(self, served: ProvisioningRequest[Any], template_name: str,
                              message: RegisterThingRequest) -> RegisterThingResponse:
        template = self._template(template_name)
        row = self.registry.template(template_name)
        assert row is not None
        token = self.registry.token(message.certificate_ownership_token)
        claim_id = served.claim_certificate_id
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
                claim_id, record.id, record.pem, self._template_arn(template_name), served.client_id, parameters),
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
                  client_id=served.client_id)
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


def _summary(response: AcceptedResponse | ErrorResponse) -> dict[str, Any]:
    if isinstance(response, ErrorResponse):
        return {"statusCode": response.status_code, "errorCode": response.error_code,
                "errorMessage": response.error_message}
    if isinstance(response, RegisterThingResponse):
        return {"thingName": response.thing_name}
    return {"certificateId": response.certificate_id}
