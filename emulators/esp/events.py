"""The event catalogue of the ESP emulator: the shared kinds plus what only an ESP node reports.

Shared kinds carry the ESP detail in their data: ``started``/``stopped`` name ``what`` (``node``, ``softap``,
``ble_advertising``, ``provisioning``), ``bad_request`` is a request the node fails (HTTP error status or a
protocomm transport failure), ``state_changed`` is the wifi_prov state (``started``, ``cred_recv``, ``fail``,
``success``), ``fault_applied`` names the fault and its action.
"""

from __future__ import annotations

from emulators.events import catalogue

EVENT_KINDS: dict[str, str] = catalogue(
    {
        "credentials_mismatch": "a Security 1 PoP or Security 2 SRP proof did not match (data: transport, reason)",
        "wifi_attempt": "the station started an association attempt (data: ssid)",
        "wifi_connected": "the station got an IP address (data: ssid, ip4_addr)",
        "wifi_disconnected": "an attempt failed and the station retries (data: reason, attempts_remaining)",
        "wifi_failed": "an attempt failed for good (data: reason, fail_reason)",
        "rainmaker_user_mapping": "the node stored a RainMaker user-node mapping (data: node_id, user_id)",
        "rainmaker_chal_resp_disabled": "the app disabled RainMaker challenge-response until a factory reset",
        "factory_reset": "the node forgot its Wi-Fi credentials and mapping and provisions again",
        "access_points_changed": "the simulated access points were changed through the control API (data: count)",
        "softap_lru_purge": "a new SoftAP connection closed the least recently used one (data: fd)",
    }
)
