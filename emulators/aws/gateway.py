"""The MQTT-over-mutual-TLS gateway: AWS IoT Core's message broker semantics on asyncio.

Each TLS connection drives a `BrokerSession`; this module decides what AWS would: who may connect
(certificate status and policy), client-ID takeover, publish/subscribe/receive authorization, routing
between connections, and handing `$aws/...` provisioning requests to the fleet provisioning service,
whose answers go back only to the requesting connection.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509

from certs.pki import certificate_id
from emulators.aws.registry import Registry
from emulators.clock import Clock
from emulators.faults import FaultPlan
from protocols.aws import fleet_topics
from protocols.aws.broker_session import (
    BrokerSession,
    ClientDisconnected,
    ConnectReceived,
    KeepAliveExpired,
    ProtocolViolation,
    PubAckReceived,
    PublishReceived,
    SessionEvent,
    SubscribeReceived,
    UnsubscribeReceived,
)
from protocols.aws.policy import (
    Policy,
    PolicyEngine,
    PolicyError,
    certificate_subject_variables,
    client_arn,
    parse_policy,
    policy_variables,
    topic_arn,
    topicfilter_arn,
)
from protocols.mqtt.packets import Connect, Publish, ReasonCode, Subscribe, Unsubscribe
from protocols.mqtt.topics import TopicTree, topic_matches, validate_topic_filter

if TYPE_CHECKING:
    from emulators.aws.config import AwsConfig
    from emulators.aws.provisioning import FleetProvisioningService

log = logging.getLogger("provemu.aws")

MAX_FILTERS_PER_SUBSCRIBE = 8
MAX_TOPIC_SLASHES = 7
MAX_CLIENT_ID_BYTES = 128
MQTT_PACKET_OVERHEAD = 65_536 + 1024  # topic, properties and headers on top of the payload limit
CONNECT_FAULTS = ("drop", "never_answer", "reject")


@dataclass
class Principal:
    """Who a connection is: its certificate and what the registry says about it at CONNECT."""

    certificate_id: str
    certificate: x509.Certificate
    certificate_status: str | None
    kind: str | None
    policies: list[Policy]
    generation: int
    variables: dict[str, str] = field(default_factory=dict)


class MqttConnection(asyncio.Protocol):
    """One client connection: bytes in and out of its BrokerSession."""

    def __init__(self, gateway: Gateway, listener: str) -> None:
        self.gateway = gateway
        self.listener = listener
        self.session = BrokerSession(gateway.config.max_payload + MQTT_PACKET_OVERHEAD,
                                     keepalive_min=gateway.config.keepalive_min)
        self.transport: asyncio.Transport | None = None
        self.principal: Principal | None = None
        self.peer = ""
        self.sni: str | None = None
        self.alpn: str | None = None
        self.subscriptions: dict[str, int] = {}
        self.will: Publish | None = None
        self.receive_cache: dict[str, bool] = {}
        self.registered = False
        self._keepalive_timer: asyncio.TimerHandle | None = None

    @property
    def client_id(self) -> str:
        return self.session.client_id

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.sni = getattr(ssl_object, "provemu_sni", None)
            self.alpn = ssl_object.selected_alpn_protocol()
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                self.principal = self.gateway.principal_for(x509.load_der_x509_certificate(der))
        if self.gateway.config.require_sni and not self.sni:
            self.gateway.emit("tls_refused", peer=self.peer, reason="no SNI")
            log.warning("refusing %s: no SNI", self.peer)
            transport.abort()
            return
        self.gateway.emit("tcp_connected", peer=self.peer, listener=self.listener, sni=self.sni,
                          alpn=self.alpn, certificate_id=self.principal.certificate_id if self.principal else None)

    def data_received(self, data: bytes) -> None:
        now = self.gateway.clock.monotonic()
        self.session.receive_data(data, now)
        self.serve(now)

    def serve(self, now: float) -> None:
        """Decide on every event the buffered bytes complete, one at a time, then write the answers."""
        session = self.session
        while (event := session.next_event(now)) is not None:
            self.gateway.handle(self, event)
        self.flush()
        if self.transport is not None and not self.transport.is_closing() and session.awaiting_decision:
            self.transport.pause_reading()  # a CONNECT left unanswered: let TCP hold what follows
        self._arm_keepalive()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._keepalive_timer:
            self._keepalive_timer.cancel()
        clean = self.session.closed
        self.session.connection_lost()
        self.gateway.connection_closed(self, clean)

    # output
    def flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
        if self.session.closed and self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def drop(self) -> None:
        """Close at once without a word, as AWS does to unauthorised clients."""
        self.session.connection_lost()
        if self.transport is not None:
            self.transport.abort()

    def _arm_keepalive(self) -> None:
        deadline = self.session.keepalive_deadline()
        if deadline is None:
            return
        if self._keepalive_timer:
            self._keepalive_timer.cancel()
        delay = max(0.0, deadline - self.gateway.clock.monotonic())
        self._keepalive_timer = asyncio.get_running_loop().call_later(delay, self._keepalive_check)

    def _keepalive_check(self) -> None:
        expired = self.session.check_keepalive(self.gateway.clock.monotonic())
        if expired is not None:
            self.gateway.handle(self, expired)
            self.flush()
        else:
            self._arm_keepalive()


class Gateway:
    def __init__(self, config: AwsConfig, registry: Registry, clock: Clock, faults: FaultPlan,
                 emit: Callable[..., Any]) -> None:
        self.config = config
        self.registry = registry
        self.clock = clock
        self.faults = faults
        self.emit = emit
        self.engine = PolicyEngine()
        self.provisioning: FleetProvisioningService | None = None
        self.by_client_id: dict[str, MqttConnection] = {}
        self.tree: TopicTree[MqttConnection] = TopicTree()
        self.retained: dict[str, Publish] = {}
        self._policy_cache: dict[str, Policy] = {}

    # identity and authorization
    def principal_for(self, cert: x509.Certificate) -> Principal:
        cert_id = certificate_id(cert)
        record = self.registry.certificate(cert_id)
        return Principal(cert_id, cert, record.status if record else None, record.kind if record else None,
                         self._policies(cert_id), self.registry.generation,
                         certificate_subject_variables(cert))

    def _policies(self, cert_id: str) -> list[Policy]:
        out = []
        for name, document in self.registry.policies_of_certificate(cert_id).items():
            key = f"{name}\0{document}"
            policy = self._policy_cache.get(key)
            if policy is None:
                try:
                    policy = parse_policy(document)
                except PolicyError as exc:
                    log.error("stored policy %s is invalid and is ignored: %s", name, exc)
                    continue
                self._policy_cache[key] = policy
            out.append(policy)
        return out

    def _refresh(self, conn: MqttConnection) -> Principal:
        principal = conn.principal
        assert principal is not None
        if principal.generation != self.registry.generation:
            record = self.registry.certificate(principal.certificate_id)
            principal.certificate_status = record.status if record else None
            principal.policies = self._policies(principal.certificate_id)
            principal.generation = self.registry.generation
            principal.variables = self._variables(principal, conn.client_id)
            conn.receive_cache.clear()
        return principal

    def _variables(self, principal: Principal, client_id: str) -> dict[str, str]:
        things = self.registry.things_of_certificate(principal.certificate_id)
        thing = self.registry.thing(client_id) if client_id in things else None
        return policy_variables(
            client_id=client_id,
            thing_name=thing.name if thing else None,
            thing_type_name=thing.thing_type if thing else None,
            is_attached=thing is not None,
            thing_attributes=thing.attributes if thing else None,
            certificate_variables=certificate_subject_variables(principal.certificate),
        )

    def allowed(self, conn: MqttConnection, action: str, resource: str) -> bool:
        principal = self._refresh(conn)
        if principal.certificate_status != "ACTIVE":
            return False
        return self.engine.is_allowed(principal.policies, action, resource, principal.variables)

    def _arn(self, kind: Callable[[str, str, str], str], name: str) -> str:
        return kind(self.config.region, self.config.account_id, name)

    # session events
    def handle(self, conn: MqttConnection, event: SessionEvent) -> None:
        if isinstance(event, PublishReceived):
            self._on_publish(conn, event.packet)
        elif isinstance(event, PubAckReceived):
            pass
        elif isinstance(event, ConnectReceived):
            self._on_connect(conn, event.packet)
        elif isinstance(event, SubscribeReceived):
            self._on_subscribe(conn, event.packet)
        elif isinstance(event, UnsubscribeReceived):
            self._on_unsubscribe(conn, event.packet)
        elif isinstance(event, ClientDisconnected):
            conn.will = None
            self.emit("disconnect", client_id=conn.client_id, reason=event.reason_code.name)
        elif isinstance(event, ProtocolViolation):
            log.warning("protocol error from %s (%s): %s", conn.peer, conn.client_id or "-", event.error)
            self.emit("protocol_error", peer=conn.peer, client_id=conn.client_id, error=str(event.error),
                      reason_code=int(event.error.reason_code))
        elif isinstance(event, KeepAliveExpired):
            log.info("keep-alive expired for %s after %ss", conn.client_id, event.keepalive)
            self.emit("keepalive_timeout", client_id=conn.client_id, keepalive=event.keepalive)

    def _on_connect(self, conn: MqttConnection, packet: Connect) -> None:
        client_id = packet.client_id
        self.emit("connect", client_id=client_id, protocol_level=packet.protocol_level, peer=conn.peer,
                  keepalive=packet.keepalive, clean_start=packet.clean_start,
                  certificate_id=conn.principal.certificate_id if conn.principal else None)
        fault = self.faults.take(actions=CONNECT_FAULTS, operation="connect", client_id=client_id)
        if fault is not None and fault.action in ("drop", "never_answer"):
            log.info("fault %s: %s CONNECT from %s", fault.id, fault.action, client_id)
            self.emit("fault_applied", fault=fault.id, action=fault.action, operation="connect")
            if fault.action == "drop":
                conn.drop()
            return
        if fault is not None and fault.action == "reject":
            reason = ReasonCode(int(fault.params.get("reason_code", ReasonCode.NOT_AUTHORIZED)))
            self.emit("fault_applied", fault=fault.id, action="reject", operation="connect")
            conn.session.refuse_connect(reason, fault.params.get("return_code"))
            return
        if not client_id or len(client_id.encode()) > MAX_CLIENT_ID_BYTES:
            log.warning("refusing %s: client id %r is empty or longer than 128 bytes", conn.peer, client_id)
            self.emit("connect_refused", client_id=client_id, reason="invalid client id")
            conn.session.refuse_connect(ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)
            return
        principal = conn.principal
        if principal is not None:
            principal.variables = self._variables(principal, client_id)
        if principal is None or principal.certificate_status != "ACTIVE" or not self.allowed(
                conn, "iot:Connect", self._arn(client_arn, client_id)):
            why = ("no client certificate" if principal is None else
                      "unknown certificate" if principal.certificate_status is None else
                      f"certificate is {principal.certificate_status}"
                      if principal.certificate_status != "ACTIVE" else "policy does not allow iot:Connect")
            self._refuse_unauthorized(conn, why)
            return
        previous = self.by_client_id.get(client_id)
        if previous is not None and previous is not conn:
            log.info("client id %s taken over; closing the older connection %s", client_id, previous.peer)
            self.emit("takeover", client_id=client_id, old_peer=previous.peer, new_peer=conn.peer)
            self._forget(previous)
            previous.session.disconnect(ReasonCode.SESSION_TAKEN_OVER, "another connection took the client id")
            previous.flush()
        conn.session.accept_connect(session_present=False)
        conn.will = Publish(packet.will.topic, packet.will.payload, packet.will.qos, packet.will.retain) \
            if packet.will else None
        self.by_client_id[client_id] = conn
        conn.registered = True
        self.emit("connack", client_id=client_id, reason="SUCCESS", keepalive=conn.session.effective_keepalive)

    def _refuse_unauthorized(self, conn: MqttConnection, reason: str) -> None:
        log.warning("refusing CONNECT of %s from %s: %s", conn.client_id, conn.peer, reason)
        mode = self.config.unauthorized_connect
        self.emit("connect_refused", client_id=conn.client_id, reason=reason, answer=mode)
        if mode == "connack5":
            conn.session.refuse_connect(ReasonCode.NOT_AUTHORIZED, 5)
        elif mode == "connack7":
            conn.session.refuse_connect(ReasonCode.BAD_USER_NAME_OR_PASSWORD, 7)
        else:
            conn.drop()

    def _on_publish(self, conn: MqttConnection, packet: Publish) -> None:
        topic = packet.topic
        if len(packet.payload) > self.config.max_payload:
            log.warning("%s published %d bytes on %s, over the %d byte limit; disconnecting",
                        conn.client_id, len(packet.payload), topic, self.config.max_payload)
            self.emit("publish_refused", client_id=conn.client_id, topic=topic, reason="payload too large",
                      size=len(packet.payload))
            conn.session.disconnect(ReasonCode.PACKET_TOO_LARGE, "payload larger than 128 KB")
            return
        if packet.qos == 2:
            log.info("%s published with QoS 2 on %s; AWS IoT neither acknowledges nor delivers it",
                     conn.client_id, topic)
            self.emit("publish_ignored", client_id=conn.client_id, topic=topic, reason="QoS 2")
            return
        reserved = fleet_topics.is_reserved(topic)
        if reserved and packet.retain:
            log.warning("%s published with RETAIN on reserved topic %s; disconnecting", conn.client_id, topic)
            self.emit("publish_refused", client_id=conn.client_id, topic=topic, reason="retain on $aws topic")
            conn.session.disconnect(ReasonCode.RETAIN_NOT_SUPPORTED, "RETAIN is not allowed on reserved topics")
            return
        if topic.count("/") > MAX_TOPIC_SLASHES and not reserved:
            self.emit("publish_refused", client_id=conn.client_id, topic=topic, reason="topic too deep")
            conn.session.disconnect(ReasonCode.TOPIC_NAME_INVALID, "more than 7 forward slashes in the topic")
            return
        if not self.allowed(conn, "iot:Publish", self._arn(topic_arn, topic)):
            log.warning("%s may not publish to %s", conn.client_id, topic)
            self.emit("publish_refused", client_id=conn.client_id, topic=topic, reason="not authorized")
            if conn.session.is_v5 and packet.qos == 1 and packet.packet_id is not None:
                conn.session.ack_publish(packet.packet_id, ReasonCode.NOT_AUTHORIZED)
            else:
                conn.session.disconnect(ReasonCode.NOT_AUTHORIZED, f"not authorized to publish to {topic}")
            return
        if packet.qos == 1 and packet.packet_id is not None:
            conn.session.ack_publish(packet.packet_id)
        request = fleet_topics.classify(topic)
        if request is not None and self.provisioning is not None:
            self.emit("provisioning_request", client_id=conn.client_id, topic=topic, bytes=len(packet.payload))
            self.provisioning.submit(conn, request, packet)
            return
        self.emit("publish", client_id=conn.client_id, topic=topic, qos=packet.qos, bytes=len(packet.payload))
        if packet.retain and not reserved:
            if packet.payload:
                self.retained[topic] = Publish(topic, packet.payload, packet.qos, True)
            else:
                self.retained.pop(topic, None)
        self.route(topic, packet.payload, packet.qos)

    def route(self, topic: str, payload: bytes, qos: int) -> int:
        delivered = 0
        for target in self.tree.match(topic):
            allowed = target.receive_cache.get(topic)
            if allowed is None or target.principal is None or \
                    target.principal.generation != self.registry.generation:
                allowed = self.allowed(target, "iot:Receive", self._arn(topic_arn, topic))
                if len(target.receive_cache) > 4096:
                    target.receive_cache.clear()
                target.receive_cache[topic] = allowed
            if not allowed:
                continue
            granted = max((q for f, q in target.subscriptions.items() if topic_matches(f, topic)), default=0)
            if target.session.send_publish(topic, payload, min(qos, granted)):
                target.flush()
                delivered += 1
        return delivered

    def deliver_response(self, conn: MqttConnection, topic: str, payload: bytes, request_qos: int) -> bool:
        """Send a provisioning response to the requesting connection only, if it subscribed (spec §4.3)."""
        if conn.session.closed or self.by_client_id.get(conn.client_id) is not conn:
            log.info("response on %s lost: the requesting connection is gone", topic)
            self.emit("response_lost", client_id=conn.client_id, topic=topic, reason="connection gone")
            return False
        granted = [q for f, q in conn.subscriptions.items() if topic_matches(f, topic)]
        if not granted and not self.config.deliver_unsubscribed:
            log.info("response on %s dropped: %s holds no matching subscription", topic, conn.client_id)
            self.emit("response_lost", client_id=conn.client_id, topic=topic, reason="not subscribed")
            return False
        if not self.allowed(conn, "iot:Receive", self._arn(topic_arn, topic)):
            self.emit("response_lost", client_id=conn.client_id, topic=topic, reason="iot:Receive denied")
            return False
        qos = min(request_qos, max(granted, default=1))
        sent = conn.session.send_publish(topic, payload, qos)
        conn.flush()
        return sent

    def _on_subscribe(self, conn: MqttConnection, packet: Subscribe) -> None:
        filters = [s.topic_filter for s in packet.subscriptions]
        if any(s.qos == 2 for s in packet.subscriptions):
            log.info("%s subscribed with QoS 2 to %s; AWS IoT sends no SUBACK", conn.client_id, filters)
            self.emit("subscribe_ignored", client_id=conn.client_id, filters=filters, reason="QoS 2")
            return
        codes: list[ReasonCode] = []
        if len(filters) > MAX_FILTERS_PER_SUBSCRIBE:
            log.warning("%s sent %d filters in one SUBSCRIBE (limit 8)", conn.client_id, len(filters))
            codes = [ReasonCode.QUOTA_EXCEEDED] * len(filters)
        else:
            for sub in packet.subscriptions:
                codes.append(self._subscribe_one(conn, sub.topic_filter, sub.qos))
        conn.session.suback(packet.packet_id, codes)
        self.emit("subscribe", client_id=conn.client_id, filters=filters, codes=[int(c) for c in codes])
        for sub, code in zip(packet.subscriptions, codes, strict=True):
            if not code.is_error:
                self._send_retained(conn, sub.topic_filter, int(code))

    def _subscribe_one(self, conn: MqttConnection, topic_filter: str, qos: int) -> ReasonCode:
        if topic_filter.startswith("$share/"):
            return ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
        try:
            validate_topic_filter(topic_filter)
        except ValueError:
            return ReasonCode.TOPIC_FILTER_INVALID
        if not self.allowed(conn, "iot:Subscribe", self._arn(topicfilter_arn, topic_filter)):
            log.warning("%s may not subscribe to %s", conn.client_id, topic_filter)
            return ReasonCode.NOT_AUTHORIZED
        if topic_filter not in conn.subscriptions:
            self.tree.add(topic_filter, conn)
        conn.subscriptions[topic_filter] = min(qos, 1)
        return ReasonCode.GRANTED_QOS_1 if qos >= 1 else ReasonCode.GRANTED_QOS_0

    def _send_retained(self, conn: MqttConnection, topic_filter: str, qos: int) -> None:
        for topic, message in list(self.retained.items()):
            if topic_matches(topic_filter, topic) and \
                    self.allowed(conn, "iot:Receive", self._arn(topic_arn, topic)):
                conn.session.send_publish(topic, message.payload, min(qos, message.qos))

    def _on_unsubscribe(self, conn: MqttConnection, packet: Unsubscribe) -> None:
        codes = []
        for topic_filter in packet.topic_filters:
            if conn.subscriptions.pop(topic_filter, None) is None:
                codes.append(ReasonCode.NO_SUBSCRIPTION_EXISTED)
            else:
                self.tree.remove(topic_filter, conn)
                codes.append(ReasonCode.SUCCESS)
        conn.session.unsuback(packet.packet_id, codes)
        self.emit("unsubscribe", client_id=conn.client_id, filters=list(packet.topic_filters))

    # lifecycle
    def _forget(self, conn: MqttConnection) -> None:
        for topic_filter in conn.subscriptions:
            self.tree.remove(topic_filter, conn)
        conn.subscriptions.clear()
        if conn.registered and self.by_client_id.get(conn.client_id) is conn:
            del self.by_client_id[conn.client_id]
        conn.registered = False

    def connection_closed(self, conn: MqttConnection, clean: bool) -> None:
        was_registered = conn.registered
        self._forget(conn)
        if was_registered:
            self.emit("connection_closed", client_id=conn.client_id, clean=clean)
            if conn.will is not None:
                self._publish_will(conn, conn.will)

    def _publish_will(self, conn: MqttConnection, will: Publish) -> None:
        if fleet_topics.is_reserved(will.topic) or not self.allowed(
                conn, "iot:Publish", self._arn(topic_arn, will.topic)):
            return
        self.emit("will", client_id=conn.client_id, topic=will.topic)
        self.route(will.topic, will.payload, will.qos)

    def connections(self) -> list[dict[str, Any]]:
        return [{"clientId": c.client_id, "peer": c.peer, "protocolLevel": c.session.protocol_level,
                 "certificateId": c.principal.certificate_id if c.principal else None,
                 "subscriptions": dict(c.subscriptions), "sni": c.sni, "alpn": c.alpn}
                for c in self.by_client_id.values()]

    def abort_all(self) -> None:
        for conn in list(self.by_client_id.values()):
            conn.drop()

    def close_all(self) -> None:
        for conn in list(self.by_client_id.values()):
            conn.session.disconnect(ReasonCode.SERVER_SHUTTING_DOWN, "server shutting down")
            conn.flush()
