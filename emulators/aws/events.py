"""The aws emulator's event catalogue: the shared kinds plus what only an MQTT broker and fleet provisioning
service report. Every kind the emulator or its broker core emits is listed here."""

from __future__ import annotations

from emulators.events import catalogue

EVENT_KINDS = catalogue({
    "tls_refused": "a TLS connection refused before MQTT (data: peer, reason, e.g. no SNI)",
    "connect": "a CONNECT arrived (data: client_id, protocol_level, keepalive, clean_start, certificate_id)",
    "connack": "a CONNECT was accepted (data: client_id, effective keepalive)",
    "connect_refused": "a CONNECT was refused (data: client_id, reason, answer: close | connack5 | connack7)",
    "takeover": "a new connection took a client id; the older one was closed (data: client_id, old and new peer)",
    "disconnect": "the client sent DISCONNECT (data: client_id, reason)",
    "keepalive_timeout": "nothing arrived for 1.5 keep-alive periods; the connection was closed",
    "connect_timeout": "no complete CONNECT arrived within connect_timeout seconds of the TLS handshake; the "
                       "connection was closed (data: peer, listener, seconds)",
    "publish": "a PUBLISH was routed to subscribers (data: client_id, topic, qos, bytes)",
    "publish_refused": "a PUBLISH was refused, the connection closed or PUBACK'd with an error (data: reason)",
    "publish_ignored": "a PUBLISH was neither acknowledged nor delivered, as AWS does with QoS 2",
    "subscribe": "a SUBSCRIBE was answered (data: client_id, filters, SUBACK codes)",
    "subscribe_ignored": "a SUBSCRIBE got no SUBACK, as AWS does with QoS 2",
    "unsubscribe": "an UNSUBSCRIBE was answered (data: client_id, filters)",
    "will": "a connection's will message was published: on its unexpected close or DISCONNECT 0x04, after its "
            "Will Delay Interval if it has one (data: client_id, topic)",
    "policy_ignored": "a stored policy does not parse and is ignored in authorization (data: policy, error)",
    "response_lost": "a provisioning answer was not delivered (data: reason: connection gone, not subscribed, "
                     "iot:Receive denied)",
    "provisioning_accepted": "a provisioning request was answered on /accepted (data: operation, client_id)",
    "provisioning_rejected": "a provisioning request was answered on /rejected (data: statusCode, errorCode)",
    "certificate_created": "CreateKeysAndCertificate or CreateCertificateFromCsr issued a certificate",
    "thing_registered": "RegisterThing registered a thing and attached the certificate (data: thing_name)",
    "hook_called": "the template's pre-provisioning hook answered (data: allowed, outcome, reason)",
    "certificate_purged": "an unregistered certificate's ownership token expired and it was deleted",
    "certificate_status": "the control API changed a certificate's status",
    "claim_created": "the control API created a claim certificate",
    "template_saved": "the control API created or replaced a provisioning template",
    "template_deleted": "the control API deleted a provisioning template",
})
