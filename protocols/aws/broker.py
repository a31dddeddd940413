"""AWS IoT Core's message broker as a sans-I/O core: every decision the broker makes about its connections.

The driver opens a `Connection` per transport connection and feeds it bytes with `receive_data(conn, data,
now)`; every call returns `Effects`: bytes to write per connection (and whether to close it after them),
connections to abort without a word, fleet provisioning requests to serve, and events. The core decides who
may connect (certificate status, iot:Connect, client-id rules, AWS's unauthorized answers), client-id
takeover, publish (payload size, QoS 2, reserved topics, iot:Publish), subscribe/unsubscribe (limits, options,
shared subscriptions, iot:Subscribe), routing through the topic tree with iot:Receive (cached per connection
until the registry changes) with the publisher's MQTT 5 properties, retained messages (and their expiry), wills
(and their delay), keep-alive expiry and the CONNECT deadline (AWS IoT developer guide, "MQTT", "MQTT 5 supported
features", "MQTT 5 properties" and "AWS IoT Core message broker and protocol limits and quotas"; docs/aws.md has
the table of every MQTT feature). Provisioning answers come back
through `deliver_response`, which sends them to the requesting connection only ("Device provisioning MQTT API").

Invariants: a connection is in `by_client_id` exactly while it is registered (accepted and not taken over
or closed); a connection's subscriptions and the topic tree agree (one `Subscribed` per filter, a shared one filed
under its inner filter); a client id has a pending delayed will only while no connection holds it; each public
call handles one input completely (every event its bytes complete, in order) before returning; time comes in as
`now`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from cryptography import x509

from protocols.aws import fleet_topics
from protocols.aws.authorizer import Authorizer, BrokerStore, Principal
from protocols.aws.broker_session import (
    BrokerSession,
    ClientDisconnected,
    ConnectReceived,
    ConnectTimedOut,
    KeepAliveExpired,
    ProtocolViolation,
    PublishReceived,
    SessionEvent,
    SubscribeReceived,
    UnsubscribeReceived,
)
from protocols.aws.fleet_topics import FleetRequest
from protocols.aws.policy import client_arn, topic_arn, topicfilter_arn
from protocols.faults import FaultPlan
from protocols.mqtt.enums import RetainHandling
from protocols.mqtt.packets import Connect, Publish, ReasonCode, Subscribe, Subscription, Unsubscribe
from protocols.mqtt.topics import SHARED_PREFIX, TopicTree, split_shared_filter, topic_matches, validate_topic_filter

MAX_FILTERS_PER_SUBSCRIBE = 8
MAX_TOPIC_SLASHES = 7
MAX_CLIENT_ID_BYTES = 128
MQTT_PACKET_OVERHEAD = 65_536 + 1024  # topic, properties and headers on top of the payload limit
RECEIVE_CACHE_LIMIT = 4096
CONNECT_FAULTS = ("drop", "never_answer", "reject")
UNAUTHORIZED_ANSWERS = ("close", "connack5", "connack7")
TRANSPORT = "mqtts"

H = TypeVar("H")


class BrokerSettings(Protocol):
    """The broker's settings, read at each decision so a change applies to the next one."""

    @property
    def region(self) -> str: ...

    @property
    def account_id(self) -> str: ...

    @property
    def max_payload(self) -> int: ...

    @property
    def keepalive_min(self) -> int: ...

    @property
    def connect_timeout(self) -> float: ...

    @property
    def unauthorized_connect(self) -> str: ...

    @property
    def deliver_unsubscribed(self) -> bool: ...

    @property
    def require_sni(self) -> bool: ...


class Subscribed(Generic[H]):
    """One subscription of one connection: the topic tree holds these, so a message matching several filters of a
    connection goes out once per filter, each copy at that subscription's granted QoS and with its options."""

    __slots__ = ("connection", "no_local", "qos", "retain_as_published", "share", "topic_filter")

    def __init__(self, connection: Connection[H], topic_filter: str, qos: int, no_local: bool,
                 retain_as_published: bool) -> None:
        self.connection = connection
        self.topic_filter = topic_filter
        # a shared subscription's whole `$share/<group>/<filter>`: the members of one group share this key
        self.share = topic_filter if topic_filter.startswith(SHARED_PREFIX) else None
        self.qos = qos
        self.no_local = no_local
        self.retain_as_published = retain_as_published


class Connection(Generic[H]):
    """One client connection as the broker sees it; `handle` is the driver's object for it."""

    __slots__ = ("alpn", "handle", "listener", "peer", "principal", "receive_cache", "registered", "session",
                 "session_expiry", "sni", "subscriptions", "will")

    def __init__(self, handle: H, session: BrokerSession, principal: Principal | None, peer: str,
                 listener: str, sni: str | None, alpn: str | None) -> None:
        self.handle = handle
        self.session = session
        self.principal = principal
        self.peer = peer
        self.listener = listener
        self.sni = sni
        self.alpn = alpn
        self.subscriptions: dict[str, Subscribed[H]] = {}
        self.will: Publish | None = None
        self.session_expiry = 0
        self.receive_cache: dict[str, bool] = {}
        self.registered = False

    @property
    def client_id(self) -> str:
        return self.session.client_id


@dataclass(frozen=True)
class ProvisioningRequest(Generic[H]):
    """A fleet provisioning request the broker accepted from `connection`, to be answered with
    `Broker.deliver_response`."""

    connection: Connection[H]
    request: FleetRequest
    payload: bytes
    qos: int

    @property
    def client_id(self) -> str:
        return self.connection.client_id

    @property
    def claim_certificate_id(self) -> str | None:
        principal = self.connection.principal
        return principal.certificate_id if principal else None


@dataclass
class Effects(Generic[H]):
    """What one call asks of the driver, in this order: write (then close), abort, serve, emit."""

    writes: list[tuple[Connection[H], bytes, bool]] = field(default_factory=list)
    aborts: list[Connection[H]] = field(default_factory=list)
    provisioning: list[ProvisioningRequest[H]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Broker(Generic[H]):
    def __init__(self, store: BrokerStore, settings: BrokerSettings, faults: FaultPlan) -> None:
        self.store = store
        self.settings = settings
        self.faults = faults
        self.authorizer = Authorizer(store, self._invalid_policy)
        self.by_client_id: dict[str, Connection[H]] = {}
        self.tree: TopicTree[Subscribed[H]] = TopicTree()
        self.retained: dict[str, tuple[Publish, float]] = {}  # with the time it was received, for its expiry
        self._now = 0.0
        self._touched: dict[Connection[H], None] = {}
        self._share_turns: dict[str, int] = {}
        self.pending_wills: dict[str, tuple[float, Connection[H], Publish]] = {}  # by client id, with when due
        self._effects: Effects[H] = Effects()

    # the driver's inputs
    def open(self, handle: H, *, peer: str, listener: str, now: float, certificate: x509.Certificate | None = None,
             certificate_id: str | None = None, sni: str | None = None,
             alpn: str | None = None) -> tuple[Connection[H], Effects[H]]:
        """A transport connection was established (after the TLS handshake); its CONNECT is due by
        `now + connect_timeout`."""
        settings = self.settings
        session = BrokerSession(settings.max_payload + MQTT_PACKET_OVERHEAD, keepalive_min=settings.keepalive_min,
                                opened_at=now, connect_timeout=settings.connect_timeout)
        principal = self.authorizer.principal(certificate_id, certificate) \
            if certificate is not None and certificate_id is not None else None
        conn = Connection(handle, session, principal, peer, listener, sni, alpn)
        if settings.require_sni and not sni:
            self._event("tls_refused", peer=peer, reason="no SNI")
            self._abort(conn)
        else:
            self._event("session_opened", transport=TRANSPORT, peer=peer, listener=listener, sni=sni, alpn=alpn,
                        certificate_id=principal.certificate_id if principal else None)
        return conn, self._finish()

    def receive_data(self, conn: Connection[H], data: bytes, now: float) -> Effects[H]:
        """Bytes from the client: decide on every event they complete, one at a time."""
        self._now = now
        session = conn.session
        session.receive_data(data, now)
        while (event := session.next_event(now)) is not None:
            self._handle(conn, event)
        self._touched[conn] = None
        return self._finish()

    def check_timeout(self, conn: Connection[H], now: float) -> Effects[H]:
        """Close the connection if its peer has been idle past its deadline (CONNECT, then keep-alive)."""
        self._now = now
        expired = conn.session.check_timeout(now)
        if expired is not None:
            self._handle(conn, expired)
            self._touched[conn] = None
        return self._finish()

    def connection_lost(self, conn: Connection[H], now: float | None = None) -> Effects[H]:
        """The transport closed, for whatever reason; publishes the will of a registered connection."""
        if now is not None:
            self._now = now
        clean = conn.session.closed
        conn.session.connection_lost()
        was_registered = conn.registered
        self._forget(conn)
        if was_registered:
            self._event("session_closed", transport=TRANSPORT, client_id=conn.client_id, clean=clean)
            will = conn.will
            if will is not None:
                # the will waits for its Will Delay Interval, or until the session ends if that is sooner
                # (MQTT 5 §3.1.3.2.2, [MQTT-3.1.3-9]; AWS: "MQTT 5 supported features", will delay)
                delay = min(will.properties.will_delay_interval or 0, conn.session_expiry)
                if delay > 0:
                    self.pending_wills[conn.client_id] = (self._now + delay, conn, will)
                else:
                    self._publish_will(conn, will)
        return self._finish()

    def publish_due_wills(self, now: float) -> Effects[H]:
        """Publish the delayed wills whose time has come."""
        self._now = now
        for client_id, (due, conn, will) in list(self.pending_wills.items()):
            if due <= now:
                del self.pending_wills[client_id]
                self._publish_will(conn, will)
        return self._finish()

    def deliver_response(self, conn: Connection[H], topic: str, payload: bytes, request_qos: int) -> Effects[H]:
        """Send a provisioning answer to the requesting connection only, if it still holds the client id and
        subscribed to the answer's topic (or `deliver_unsubscribed`)."""
        if conn.session.closed or self.by_client_id.get(conn.client_id) is not conn:
            self._event("response_lost", client_id=conn.client_id, topic=topic, reason="connection gone")
            return self._finish()
        granted = [s.qos for f, s in conn.subscriptions.items() if topic_matches(f, topic)]
        if not granted and not self.settings.deliver_unsubscribed:
            self._event("response_lost", client_id=conn.client_id, topic=topic, reason="not subscribed")
            return self._finish()
        if not self._allowed(conn, "iot:Receive", self._arn(topic_arn, topic)):
            self._event("response_lost", client_id=conn.client_id, topic=topic, reason="iot:Receive denied")
            return self._finish()
        conn.session.send_publish(topic, payload, min(request_qos, max(granted, default=1)))
        self._touched[conn] = None
        return self._finish()

    def drop(self, conn: Connection[H]) -> Effects[H]:
        """Close a connection at once without a word (a fault)."""
        self._abort(conn)
        return self._finish()

    def shutdown(self) -> Effects[H]:
        """The server is stopping: MQTT 5 clients get DISCONNECT 0x8B, every connection is closed."""
        for conn in list(self.by_client_id.values()):
            conn.session.disconnect(ReasonCode.SERVER_SHUTTING_DOWN, "server shutting down")
            self._touched[conn] = None
        return self._finish()

    def abort_all(self) -> Effects[H]:
        for conn in list(self.by_client_id.values()):
            self._abort(conn)
        return self._finish()

    def connections(self) -> list[Connection[H]]:
        return list(self.by_client_id.values())

    # effects
    def _event(self, kind: str, **data: Any) -> None:
        self._effects.events.append((kind, data))

    def _abort(self, conn: Connection[H]) -> None:
        conn.session.connection_lost()
        self._effects.aborts.append(conn)

    def _finish(self) -> Effects[H]:
        effects, self._effects = self._effects, Effects()
        aborted = effects.aborts
        for conn in self._touched:
            if conn in aborted:
                continue
            data = conn.session.data_to_send()
            if data or conn.session.closed:
                effects.writes.append((conn, data, conn.session.closed))
        self._touched.clear()
        return effects

    def _invalid_policy(self, name: str, error: str) -> None:
        self._event("policy_ignored", policy=name, error=error)

    # authorization
    def _arn(self, kind: Callable[[str, str, str], str], name: str) -> str:
        return kind(self.settings.region, self.settings.account_id, name)

    def _allowed(self, conn: Connection[H], action: str, resource: str) -> bool:
        principal = conn.principal
        assert principal is not None  # only connections accepted with a certificate act
        if self.authorizer.refresh(principal, conn.client_id):
            conn.receive_cache.clear()
        return self.authorizer.allowed(principal, action, resource)

    # session events
    def _handle(self, conn: Connection[H], event: SessionEvent) -> None:
        if isinstance(event, PublishReceived):
            self._on_publish(conn, event.packet)
        elif isinstance(event, ConnectReceived):
            self._on_connect(conn, event.packet)
        elif isinstance(event, SubscribeReceived):
            self._on_subscribe(conn, event.packet)
        elif isinstance(event, UnsubscribeReceived):
            self._on_unsubscribe(conn, event.packet)
        elif isinstance(event, ClientDisconnected):
            if event.reason_code != ReasonCode.DISCONNECT_WITH_WILL_MESSAGE:  # MQTT 5 §3.14.2.1 [MQTT-3.14.4-3]
                conn.will = None
            self._event("disconnect", client_id=conn.client_id, reason=event.reason_code.name)
        elif isinstance(event, ProtocolViolation):
            self._event("bad_request", transport=TRANSPORT, peer=conn.peer, client_id=conn.client_id,
                        reason=str(event.error), reason_code=int(event.error.reason_code))
        elif isinstance(event, KeepAliveExpired):
            self._event("keepalive_timeout", client_id=conn.client_id, keepalive=event.keepalive)
        elif isinstance(event, ConnectTimedOut):
            self._event("connect_timeout", peer=conn.peer, listener=conn.listener, seconds=event.seconds)
        # PubAckReceived: the session already released the packet id

    def _on_connect(self, conn: Connection[H], packet: Connect) -> None:
        client_id = packet.client_id
        principal = conn.principal
        self._event("connect", client_id=client_id, protocol_level=packet.protocol_level, peer=conn.peer,
                    keepalive=packet.keepalive, clean_start=packet.clean_start,
                    certificate_id=principal.certificate_id if principal else None)
        fault = self.faults.take(actions=CONNECT_FAULTS, operation="connect", client_id=client_id)
        if fault is not None:
            self._event("fault_applied", fault=fault.id, action=fault.action, operation="connect")
            if fault.action == "drop":
                self._abort(conn)
            elif fault.action == "reject":
                conn.session.refuse_connect(*_refusal(fault.params))
            return  # never_answer: the CONNECT stays undecided
        if not client_id or len(client_id.encode()) > MAX_CLIENT_ID_BYTES:
            self._event("connect_refused", client_id=client_id, reason="invalid client id")
            conn.session.refuse_connect(ReasonCode.CLIENT_IDENTIFIER_NOT_VALID)
            return
        if principal is not None:
            self.authorizer.bind(principal, client_id)
        if principal is None or principal.certificate_status != "ACTIVE" or not self._allowed(
                conn, "iot:Connect", self._arn(client_arn, client_id)):
            why = ("no client certificate" if principal is None else
                   "unknown certificate" if principal.certificate_status is None else
                   f"certificate is {principal.certificate_status}"
                   if principal.certificate_status != "ACTIVE" else "policy does not allow iot:Connect")
            self._refuse_unauthorized(conn, why)
            return
        previous = self.by_client_id.get(client_id)
        if previous is not None and previous is not conn:
            self._event("takeover", client_id=client_id, old_peer=previous.peer, new_peer=conn.peer)
            self._forget(previous)
            previous.session.disconnect(ReasonCode.SESSION_TAKEN_OVER, "another connection took the client id")
            self._touched[previous] = None
        pending = self.pending_wills.pop(client_id, None)
        # a new connection to the session before the delay passed: no will [MQTT-3.1.3-9]; with Clean Start the
        # old session ends now, and with it the wait
        if pending is not None and packet.clean_start:
            self._publish_will(pending[1], pending[2])
        conn.session.accept_connect(session_present=False)
        conn.session_expiry = packet.properties.session_expiry_interval or 0
        will = packet.will
        # the will's properties are its message's (MQTT 5 §3.1.3.2, [MQTT-3.1.3-10] for User Properties)
        conn.will = Publish(will.topic, will.payload, will.qos, will.retain, properties=will.properties) \
            if will else None  # the Will Delay Interval is read here and dropped before the will is forwarded
        self.by_client_id[client_id] = conn
        conn.registered = True
        self._event("connack", client_id=client_id, reason="SUCCESS", keepalive=conn.session.effective_keepalive)

    def _refuse_unauthorized(self, conn: Connection[H], reason: str) -> None:
        mode = self.settings.unauthorized_connect
        self._event("connect_refused", client_id=conn.client_id, reason=reason, answer=mode)
        if mode == "connack5":
            conn.session.refuse_connect(ReasonCode.NOT_AUTHORIZED, 5)
        elif mode == "connack7":
            conn.session.refuse_connect(ReasonCode.BAD_USER_NAME_OR_PASSWORD, 7)
        else:
            self._abort(conn)

    def _on_publish(self, conn: Connection[H], packet: Publish) -> None:
        topic = packet.topic
        session = conn.session
        if len(packet.payload) > self.settings.max_payload:
            self._event("publish_refused", client_id=conn.client_id, topic=topic, reason="payload too large",
                        size=len(packet.payload))
            session.disconnect(ReasonCode.PACKET_TOO_LARGE, "payload larger than 128 KB")
            return
        if packet.qos == 2:
            self._event("publish_ignored", client_id=conn.client_id, topic=topic, reason="QoS 2")
            return
        reserved = fleet_topics.is_reserved(topic)
        if reserved and packet.retain:
            self._event("publish_refused", client_id=conn.client_id, topic=topic, reason="retain on $aws topic")
            session.disconnect(ReasonCode.RETAIN_NOT_SUPPORTED, "RETAIN is not allowed on reserved topics")
            return
        if topic.count("/") > MAX_TOPIC_SLASHES and not reserved:
            self._event("publish_refused", client_id=conn.client_id, topic=topic, reason="topic too deep")
            session.disconnect(ReasonCode.TOPIC_NAME_INVALID, "more than 7 forward slashes in the topic")
            return
        if not self._allowed(conn, "iot:Publish", self._arn(topic_arn, topic)):
            self._event("publish_refused", client_id=conn.client_id, topic=topic, reason="not authorized")
            if session.is_v5 and packet.qos == 1 and packet.packet_id is not None:
                session.ack_publish(packet.packet_id, ReasonCode.NOT_AUTHORIZED)
            else:
                session.disconnect(ReasonCode.NOT_AUTHORIZED, f"not authorized to publish to {topic}")
            return
        if packet.qos == 1 and packet.packet_id is not None:
            session.ack_publish(packet.packet_id)
        request = fleet_topics.classify(topic) if reserved else None
        if request is not None:
            self._event("request", transport=TRANSPORT, operation=request.operation.value,
                        client_id=conn.client_id, topic=topic, bytes=len(packet.payload))
            self._effects.provisioning.append(ProvisioningRequest(conn, request, packet.payload, packet.qos))
            return
        self._event("publish", client_id=conn.client_id, topic=topic, qos=packet.qos, bytes=len(packet.payload))
        if packet.retain and not reserved:
            self._retain(packet)
        self._route(conn, packet)

    def _retain(self, packet: Publish) -> None:
        if packet.payload:
            self.retained[packet.topic] = (packet, self._now)
        else:
            self.retained.pop(packet.topic, None)

    def _route(self, publisher: Connection[H], packet: Publish) -> None:
        """Send `packet` to every matching subscription: one copy per matching filter at that filter's granted QoS
        (MQTT 5 §3.3.4, [MQTT-3.3.4-2]; AWS IoT Core says a message may arrive more than once, "AWS IoT differences
        from MQTT specifications"), skipping the publisher's own No Local subscriptions [MQTT-3.8.3-3] and keeping
        RETAIN only for Retain As Published ones [MQTT-3.3.1-12]. A shared subscription group gets one copy, for
        one of its members ("MQTT 5 supported features", shared subscriptions; MQTT 5 §4.8.2)."""
        shared: dict[str, list[Subscribed[H]]] | None = None
        for subscribed in self.tree.match(packet.topic):
            if subscribed.share is None:
                self._deliver(publisher, subscribed, packet)
            else:
                if shared is None:
                    shared = {}
                shared.setdefault(subscribed.share, []).append(subscribed)
        if shared is not None:
            for share, members in shared.items():
                # AWS picks a member at random; provemu takes turns, so tests can tell who gets what
                turn = self._share_turns.get(share, 0)
                self._share_turns[share] = turn + 1
                for offset in range(len(members)):
                    if self._deliver(publisher, members[(turn + offset) % len(members)], packet):
                        break

    def _deliver(self, publisher: Connection[H], subscribed: Subscribed[H], packet: Publish) -> bool:
        """Send one copy to one subscription if iot:Receive allows it; False if it does not."""
        target = subscribed.connection
        if subscribed.no_local and target is publisher:
            return False
        topic = packet.topic
        allowed = target.receive_cache.get(topic)
        principal = target.principal
        if allowed is None or principal is None or principal.generation != self.store.generation:
            allowed = self._allowed(target, "iot:Receive", self._arn(topic_arn, topic))
            if len(target.receive_cache) > RECEIVE_CACHE_LIMIT:
                target.receive_cache.clear()
            target.receive_cache[topic] = allowed
        if not allowed:
            return False
        retain = packet.retain and subscribed.retain_as_published
        if target.session.send_publish(topic, packet.payload, min(packet.qos, subscribed.qos), retain,
                                       packet.properties):
            self._touched[target] = None
        return True

    def _on_subscribe(self, conn: Connection[H], packet: Subscribe) -> None:
        filters = [s.topic_filter for s in packet.subscriptions]
        if any(s.qos == 2 for s in packet.subscriptions):
            self._event("subscribe_ignored", client_id=conn.client_id, filters=filters, reason="QoS 2")
            return
        codes: list[ReasonCode] = []
        retained: list[tuple[str, int]] = []
        if len(filters) > MAX_FILTERS_PER_SUBSCRIBE:
            codes = [ReasonCode.QUOTA_EXCEEDED] * len(filters)
        else:
            for sub in packet.subscriptions:
                existed = sub.topic_filter in conn.subscriptions
                code = self._subscribe_one(conn, sub)
                codes.append(code)
                # Retain Handling (MQTT 5 §3.8.3.1): 0 sends retained messages, 1 only for a new subscription, 2 never
                handling = sub.retain_handling
                # a shared subscription gets no retained messages (MQTT 5 §4.8.2)
                if not code.is_error and not sub.topic_filter.startswith(SHARED_PREFIX) and (
                        handling == RetainHandling.SEND_ON_SUBSCRIBE or
                                          (handling == RetainHandling.SEND_IF_NEW_SUBSCRIPTION and not existed)):
                    retained.append((sub.topic_filter, int(code)))
        conn.session.suback(packet.packet_id, codes)
        self._event("subscribe", client_id=conn.client_id, filters=filters, codes=[int(c) for c in codes])
        for topic_filter, qos in retained:
            self._send_retained(conn, topic_filter, qos)

    def _subscribe_one(self, conn: Connection[H], sub: Subscription) -> ReasonCode:
        topic_filter, qos = sub.topic_filter, sub.qos
        try:
            validate_topic_filter(topic_filter)
        except ValueError:
            return ReasonCode.TOPIC_FILTER_INVALID
        if not self._allowed(conn, "iot:Subscribe", self._arn(topicfilter_arn, topic_filter)):
            return ReasonCode.NOT_AUTHORIZED
        previous = conn.subscriptions.get(topic_filter)
        if previous is not None:  # a SUBSCRIBE for an existing filter replaces it [MQTT-3.8.4-3]
            self.tree.remove(split_shared_filter(topic_filter)[1], previous)
        subscribed = Subscribed(conn, topic_filter, min(qos, 1), sub.no_local, sub.retain_as_published)
        self.tree.add(split_shared_filter(topic_filter)[1], subscribed)
        conn.subscriptions[topic_filter] = subscribed
        return ReasonCode.GRANTED_QOS_1 if qos >= 1 else ReasonCode.GRANTED_QOS_0

    def _send_retained(self, conn: Connection[H], topic_filter: str, qos: int) -> None:
        for topic, (message, received) in list(self.retained.items()):
            properties = message.properties
            expiry = properties.message_expiry_interval
            if expiry is not None:
                # a retained message past its Message Expiry Interval is gone; one still alive is forwarded with
                # the interval that remains (MQTT 5 §3.3.2.3.3, [MQTT-3.3.2-5], [MQTT-3.3.2-6])
                left = expiry - int(self._now - received)
                if left <= 0:
                    del self.retained[topic]
                    continue
                properties = replace(properties, message_expiry_interval=left)
            if topic_matches(topic_filter, topic) and \
                    self._allowed(conn, "iot:Receive", self._arn(topic_arn, topic)):
                conn.session.send_publish(topic, message.payload, min(qos, message.qos), True, properties)

    def _on_unsubscribe(self, conn: Connection[H], packet: Unsubscribe) -> None:
        codes = []
        for topic_filter in packet.topic_filters:
            subscribed = conn.subscriptions.pop(topic_filter, None)
            if subscribed is None:
                codes.append(ReasonCode.NO_SUBSCRIPTION_EXISTED)
            else:
                self.tree.remove(split_shared_filter(topic_filter)[1], subscribed)
                codes.append(ReasonCode.SUCCESS)
        conn.session.unsuback(packet.packet_id, codes)
        self._event("unsubscribe", client_id=conn.client_id, filters=list(packet.topic_filters))

    # lifecycle
    def _forget(self, conn: Connection[H]) -> None:
        for topic_filter, subscribed in conn.subscriptions.items():
            self.tree.remove(split_shared_filter(topic_filter)[1], subscribed)
        conn.subscriptions.clear()
        if conn.registered and self.by_client_id.get(conn.client_id) is conn:
            del self.by_client_id[conn.client_id]
        conn.registered = False

    def _publish_will(self, conn: Connection[H], will: Publish) -> None:
        if fleet_topics.is_reserved(will.topic) or not self._allowed(
                conn, "iot:Publish", self._arn(topic_arn, will.topic)):
            return
        self._event("will", client_id=conn.client_id, topic=will.topic)
        if will.properties.will_delay_interval is not None:
            will = replace(will, properties=replace(will.properties, will_delay_interval=None))
        if will.retain:
            self._retain(will)
        self._route(conn, will)


def _refusal(params: Mapping[str, Any]) -> tuple[ReasonCode, int | None]:
    """The CONNACK a `reject` fault asks for: params.reason_code (MQTT 5) and params.return_code (3.1.1, one byte);
    a value that is not one falls back to "not authorized" rather than failing the connection's decision."""
    try:
        reason = ReasonCode(int(params.get("reason_code", ReasonCode.NOT_AUTHORIZED)))
    except (TypeError, ValueError):
        reason = ReasonCode.NOT_AUTHORIZED
    code = params.get("return_code")
    return reason, code if isinstance(code, int) and not isinstance(code, bool) and 0 <= code <= 255 else None
