"""The SimpleLink emulator's event catalogue: the shared kinds plus its own, each with what it reports.

Host-visible events carry the SDK's event id, opcode and the wire body (``hostwire``), so a test can compare
them with what a real NWP sends the host (SWRA513 §7, the ``SL_WLAN_EVENT_PROVISIONING_*`` events).
"""

from __future__ import annotations

from emulators.events import catalogue

EVENT_KINDS = catalogue(
    {
        "provisioning_status": "NWP -> host SL_WLAN_EVENT_PROVISIONING_STATUS (status 0-17, role, SSID, wire)",
        "profile_added": "NWP -> host SL_WLAN_EVENT_PROVISIONING_PROFILE_ADDED (SSID, wire)",
        "reset_request": "NWP -> host SL_DEVICE_EVENT_RESET_REQUEST (caller, wire)",
        "init_complete": "the NWP finished sl_Start (role)",
        "role_changed": "the NWP switched role (STA, AP, P2P)",
        "discovery": "advertising on the joined network turned on or off (mDNS and the UDP 1501 broadcast)",
        "input_ignored": "an input the provisioning machine does not take in its phase",
        "host_command": "a host API call (sl_WlanProvisioning with its wire body, sl_Stop+sl_Start, others) and its "
        "return code",
        "async_event": "whether a normal async event would reach the host now",
        "join": "the simulated radio joined (or failed to join) a profile's network",
        "smartconfig_detected": "a SmartConfig transmission's start was seen",
        "smartconfig_message": "a SmartConfig message was decoded (SSID, marker, device name, decoder statistics)",
        "smartconfig_rejected": "a decoded SmartConfig message could not be turned into a profile",
        "profile_rejected": "a profile was not stored (the table holds 7)",
        "profile_stored": "a profile was stored through the control API",
        "http_profile_add": "the AP API's profile_add was accepted (SSID, security, priority)",
        "http_confirm_req": "the AP API's confirmation request",
        "http_post": "an accepted AP API POST with nothing emulated behind it (station_action, ap_aclist)",
        "result_read": "the confirmation result was served (path, value)",
        "device_name_set": "the device name (URN) was set over the AP API",
        "scan": "the AP API's en_ap_scan request (interval, cycles, networks found)",
        "policy_set": "the AP API's connection policy flags",
        "time_set": "the AP API's set_time",
        "iot_uuid": "the AP API's iotlink uuid",
        "access_points_set": "the simulated Wi-Fi environment was replaced through the control API",
        "mdns_registered": "the mDNS record was published",
        "mdns_unregistered": "the mDNS record was withdrawn",
        "udp_broadcast": "one '<ip>,<name>' discovery broadcast to UDP 1501 was sent",
    }
)
