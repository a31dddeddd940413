"""The device's stored profiles and settings as the cores see them: the store interface (the emulator's SQLite
store implements it) and the full-table rule (7 profiles, ``SL_WLAN_MAX_PROFILES`` in the SDK's ``wlan.h``).
"""

from __future__ import annotations

from typing import Protocol

from .notes import Note
from .provisioning import MAX_PROFILES, Profile


class DeviceStore(Protocol):
    def setting(self, name: str, default: str) -> str: ...

    def set_setting(self, name: str, value: str) -> None: ...

    def add(self, profile: Profile, source: str, now: float) -> bool:
        """Store ``profile`` (replacing one with the same SSID); False when the table is full."""
        ...


def ssid_text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


def store_profile(store: DeviceStore, profile: Profile, source: str, now: float) -> Note | None:
    """Store a profile a configuration channel delivered; the rejection to report when the table is full."""
    if store.add(profile, source, now):
        return None
    return Note(
        "profile_rejected",
        {"ssid": ssid_text(profile.ssid), "reason": "profile list full"},
        warning=f"profile table full ({MAX_PROFILES} profiles); {profile.ssid!r} not stored",
    )
