"""The nrf emulator's event catalogue: the shared kinds plus the ones only the provisioning service has."""

from __future__ import annotations

from emulators.events import catalogue

EVENT_KINDS = catalogue({
    "authenticated": "a CoAP session signed in with a device's JWT (data: transport, device, peer, mver, cver)",
    "auth_rejected": "a device's JWT or session was refused (data: transport, device, reason: not_claimed, "
                     "expired, bad_signature, no_session, ...)",
    "commands": "a command fetch was answered (data: transport, device, after, count, ids)",
    "responses": "posted responses settled the queue (data: transport, device, removed, failed, flushed, unknown)",
    "dtls_failed": "a DTLS session failed after the cookie exchange (data: peer, error)",
    "dtls_suspend": "a device suspended its DTLS session (POST /.dtls/suspend; data: peer)",
    "claimed": "the management API claimed a device (data: device, tags)",
    "unclaimed": "the management API unclaimed a device (data: device)",
    "bulk_claim": "a CSV bulk claim ran (data: request_id, claimedIds, failed)",
    "command_created": "a provisioning command was queued for a device (data: device, command, type, ids)",
})
