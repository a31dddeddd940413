"""802.11 frame-length arithmetic for SmartConfig seen in monitor mode (derived; docs/simplelink.md).

frame length = UDP payload + C, where C sums the MAC header (24, 26 with QoS), the security header and trailer,
LLC/SNAP, IPv4 and UDP headers and the FCS when it is counted. A receiver that cannot decrypt the traffic locks
onto one (SA, DA) pair whose every other frame alternates between two lengths 20 - group apart (the 3/23 sync
pair) and derives C from them. Invariant: before the lock no length is reported; after it only the locked pair's
frames are, minus C.
"""

from __future__ import annotations

import enum
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass

from . import smartconfig as sc
from .errors import FrameError, LocalProtocolError

MAC_HEADER = 24
QOS_FIELD = 2
LLC_SNAP = 8
IPV4_HEADER = 20
UDP_HEADER = 8
FCS = 4
CCMP_CIPHERTEXT_EXTRA = 36  # what scapy's Dot11CCMP data holds beyond the UDP payload, plus an 8-byte MIC
MIC = 8


class Security(enum.Enum):
    OPEN = 0
    WEP = 8
    TKIP = 20
    CCMP = 16


def overhead(qos: bool = True, security: Security = Security.CCMP, fcs: bool = True) -> int:
    """The constant C added to every UDP payload on the air (QoS + CCMP + FCS gives 82)."""
    return (
        MAC_HEADER
        + (QOS_FIELD if qos else 0)
        + security.value
        + LLC_SNAP
        + IPV4_HEADER
        + UDP_HEADER
        + (FCS if fcs else 0)
    )


def frame_length(payload_length: int, qos: bool = True, security: Security = Security.CCMP, fcs: bool = True) -> int:
    return payload_length + overhead(qos, security, fcs)


@dataclass(frozen=True)
class Lock:
    """The (SA, DA) pair the receiver follows and the overhead it subtracts."""

    source: str
    destination: str
    overhead: int


class FrameCalibrator:
    """Finds the SmartConfig sender among captured frames and turns its frame lengths into payload lengths.

    Feed ``(source, destination, frame_length)`` per data frame with :meth:`receive_frame`; it returns the
    payload length once locked, or None. ``confirmations`` sync alternations must be seen before locking.
    """

    def __init__(self, group: int = 0, confirmations: int = 4, max_overhead: int = 200) -> None:
        if confirmations < 2:
            raise LocalProtocolError("confirmations must be at least 2")
        self.step = sc.SYNC_HIGH - group - sc.SYNC_LOW
        self.confirmations = confirmations
        self.max_overhead = max_overhead
        self.lock: Lock | None = None
        self._history: dict[tuple[str, str], deque[int]] = defaultdict(lambda: deque(maxlen=2 * confirmations + 2))

    def receive_frame(self, source: str, destination: str, length: int) -> int | None:
        if length < 0:
            raise FrameError(f"negative frame length {length}")
        if self.lock is not None:
            if (source, destination) != (self.lock.source, self.lock.destination):
                return None
            payload = length - self.lock.overhead
            return payload if payload >= 0 else None
        history = self._history[(source, destination)]
        history.append(length)
        c = self._calibrate(list(history))
        if c is not None:
            self.lock = Lock(source, destination, c)
        return None

    def _calibrate(self, lengths: list[int]) -> int | None:
        # sync frames sit at every other position: try both phases of the most recent window
        need = self.confirmations
        for phase in (0, 1):
            syncs = lengths[len(lengths) - 1 - phase :: -2][:need]
            if len(syncs) < need:
                continue
            diffs = [abs(a - b) for a, b in itertools.pairwise(syncs)]
            if all(d == self.step for d in diffs):
                c = min(syncs) - sc.SYNC_LOW
                if 0 <= c <= self.max_overhead:
                    return c
        return None
