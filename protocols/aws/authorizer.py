"""Who a connection is and what its policies allow: AWS IoT Core's authorization of MQTT actions.

A `Principal` is the certificate a connection presented and what the registry said about it. The registry is
read through `BrokerStore`, a `typing.Protocol` (the emulator's SQLite registry implements it); its
`generation` grows on every change that can affect authorization, so a principal re-reads its status,
policies and policy variables only when the generation moved (AWS IoT developer guide, "Authorization",
"IoT Core policy variables").

Invariants: a certificate that is not ACTIVE is allowed nothing; a stored policy that does not parse is
ignored (reported once per document) rather than failing every decision; parsed policies are cached by
their name and text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509

from protocols.aws.policy import (
    Policy,
    PolicyEngine,
    PolicyError,
    certificate_subject_variables,
    parse_policy,
    policy_variables,
)


class CertificateView(Protocol):
    @property
    def status(self) -> str: ...


class ThingView(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def thing_type(self) -> str | None: ...

    @property
    def attributes(self) -> Mapping[str, str]: ...


class BrokerStore(Protocol):
    """What the broker reads from the registry: certificates, their policies and things."""

    @property
    def generation(self) -> int: ...

    def certificate(self, cert_id: str) -> CertificateView | None: ...

    def policies_of_certificate(self, cert_id: str) -> Mapping[str, str]: ...

    def things_of_certificate(self, cert_id: str) -> Collection[str]: ...

    def thing(self, name: str) -> ThingView | None: ...


@dataclass
class Principal:
    """Who a connection is: its certificate and what the registry says about it."""

    certificate_id: str
    certificate: x509.Certificate
    certificate_status: str | None
    policies: list[Policy]
    generation: int
    variables: dict[str, str] = field(default_factory=dict)


class Authorizer:
    """Evaluates iot:Connect/Publish/Subscribe/Receive for principals against the store's policies."""

    def __init__(self, store: BrokerStore, on_invalid_policy: Callable[[str, str], None]) -> None:
        self.store = store
        self.engine = PolicyEngine()
        self._on_invalid_policy = on_invalid_policy
        self._policy_cache: dict[str, Policy | None] = {}

    def principal(self, cert_id: str, certificate: x509.Certificate) -> Principal:
        record = self.store.certificate(cert_id)
        return Principal(cert_id, certificate, record.status if record else None, self._policies(cert_id),
                         self.store.generation, certificate_subject_variables(certificate))

    def _policies(self, cert_id: str) -> list[Policy]:
        out = []
        for name, document in self.store.policies_of_certificate(cert_id).items():
            key = f"{name}\0{document}"
            if key not in self._policy_cache:
                try:
                    self._policy_cache[key] = parse_policy(document)
                except PolicyError as exc:
                    self._policy_cache[key] = None
                    self._on_invalid_policy(name, str(exc))
            policy = self._policy_cache[key]
            if policy is not None:
                out.append(policy)
        return out

    def bind(self, principal: Principal, client_id: str) -> None:
        """Compute the policy variables of `principal` connecting as `client_id`."""
        store = self.store
        thing = store.thing(client_id) if client_id in store.things_of_certificate(principal.certificate_id) \
            else None
        principal.variables = policy_variables(
            client_id=client_id,
            thing_name=thing.name if thing else None,
            thing_type_name=thing.thing_type if thing else None,
            is_attached=thing is not None,
            thing_attributes=thing.attributes if thing else None,
            certificate_variables=certificate_subject_variables(principal.certificate),
        )

    def refresh(self, principal: Principal, client_id: str) -> bool:
        """Re-read the principal if the registry changed since; True when it did."""
        generation = self.store.generation
        if principal.generation == generation:
            return False
        record = self.store.certificate(principal.certificate_id)
        principal.certificate_status = record.status if record else None
        principal.policies = self._policies(principal.certificate_id)
        principal.generation = generation
        self.bind(principal, client_id)
        return True

    def allowed(self, principal: Principal, action: str, resource: str) -> bool:
        if principal.certificate_status != "ACTIVE":
            return False
        return self.engine.is_allowed(principal.policies, action, resource, principal.variables)
