"""SmartConfig receiver core: payload lengths in, decoded messages out (recipe and choices in docs/simplelink.md).

Feed every received length with :meth:`SmartConfigDecoder.receive_length` and drain :meth:`next_event`.

How loss, reordering and unrelated traffic are survived. A data symbol at field position ``q`` carries its own
nibble and, through its check bits, the previous one (``chk = nib[q-1] ^ (q % 16)``). The symbols of one
repetition of a field (between its header and the next marker) are split into runs that are adjacent on the
air; inside a run ``chk_i ^ nib_(i-1)`` grows by one per symbol, which gives the run's position modulo 16. A run
of four or more is placed at the one start that fits its residue, the count of symbols received before and
after it in the repetition, and the nibbles already voted for; shorter runs only reinforce positions that are
all known. Every placed symbol votes for its nibble and its predecessor's, across repetitions of the
continuously re-sent message, except where a lost neighbour can hide at the edge of a run. A field's
repetition ends at the next marker, at a header inside it, or when more sync datagrams were seen since its
header than the field has symbols (the marker and header that follow were lost). A field is complete when a
repetition arrives whole and verified, or when every position has a winner voted for by ``min_votes``
repetitions and with twice the runner-up's votes; a field still open after ``STALEMATE_REPETITIONS`` starts
over.

Invariants: a marker or header never changes the votes of another field; a header value that differs from the
established one must be seen twice among the last four headers of that field (v2 doubles headers) before it
(re)sets that field; the same message is reported once until :meth:`SmartConfigDecoder.reset`; received
lengths never raise.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from dataclasses import dataclass, field

from . import smartconfig as sc
from .errors import LocalProtocolError


class Slot(enum.IntEnum):
    SSID = 0
    KEY1 = 1
    KEY2 = 2
    FREE_DATA = 3


_MARKER_SLOT = {
    sc.MARKER_START: Slot.SSID,
    sc.MARKER_PLAIN: Slot.KEY1,
    sc.MARKER_ENCRYPTED: Slot.KEY1,
    sc.MARKER_KEY_PART2: Slot.KEY2,
    sc.MARKER_FREE_DATA: Slot.FREE_DATA,
}
_LEGACY_MARKER_SLOT = {sc.LEGACY_MARKER_START: Slot.SSID, sc.LEGACY_MARKER_MID: Slot.KEY1}
HEADER_WINDOW = 3  # sync datagrams from the first marker copy to the second header copy
STALEMATE_REPETITIONS = 64  # a field still open after this many repetitions forgets its votes
_MAX_BYTES = {Slot.SSID: sc.MAX_SSID, Slot.KEY1: 32, Slot.KEY2: 32, Slot.FREE_DATA: sc.MAX_FREE_DATA}


class _Phase(enum.Enum):
    IDLE = "idle"  # no marker seen yet, or the current repetition was abandoned
    AWAIT_HEADER = "await_header"
    DATA = "data"


@dataclass(frozen=True)
class TransmissionDetected:
    """The first start marker since the last reset: a transmitter is on the air."""


@dataclass(frozen=True)
class MessageDecoded:
    """A complete message assembled from the repetitions."""

    message: sc.SmartConfigMessage


DecoderEvent = TransmissionDetected | MessageDecoded


@dataclass
class _FieldVotes:
    nibbles: int
    votes: list[Counter[int]] = field(default_factory=list)
    # per position and value, the repetitions that voted for it: votes of one repetition are correlated
    support: list[dict[int, set[int]]] = field(default_factory=list)
    clean: bytes | None = None  # set by one repetition received whole and verified end to end
    repetitions: int = 0

    def __post_init__(self) -> None:
        self.votes = [Counter() for _ in range(self.nibbles)]
        self.support = [{} for _ in range(self.nibbles)]

    def vote(self, pos: int, value: int, repetition: int) -> None:
        self.votes[pos][value] += 1
        self.support[pos].setdefault(value, set()).add(repetition)

    def winner(self, pos: int) -> int | None:
        if pos < 0:
            return 0  # prev is reset to 0 at the start of every field
        ranked = self.votes[pos].most_common(2)
        if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
            return None
        return ranked[0][0]

    def value(self, min_votes: int) -> bytes | None:
        if self.clean is not None:
            return self.clean
        nibs: list[int] = []
        for pos in range(self.nibbles):
            ranked = self.votes[pos].most_common(2)
            if not ranked or len(self.support[pos][ranked[0][0]]) < min_votes:
                return None
            if len(ranked) == 2 and ranked[0][1] < 2 * ranked[1][1]:
                return None  # not yet a clear majority
            win = ranked[0][0]
            nibs.append(win)
        return bytes((nibs[i] << 4) | nibs[i + 1] for i in range(0, len(nibs), 2))


@dataclass
class DecoderStats:
    received: int = 0
    sync: int = 0
    ignored: int = 0
    placed: int = 0
    dropped: int = 0
    messages: int = 0


def _chains(symbols: list[tuple[int, int]]) -> list[tuple[list[tuple[int, int]], int | None, bool]]:
    """Split one repetition into runs of symbols that are adjacent on the air.

    Inside a run, ``chk_i ^ nib_(i-1)`` is the position (mod 16) of symbol i and grows by one per symbol. A run
    of four or more has a verified residue (a false run needs three coincidences); shorter runs need support from
    nibbles already known.
    """
    out: list[tuple[list[tuple[int, int]], int | None, bool]] = []
    chain: list[tuple[int, int]] = []
    positions: list[int] = []
    for chk, nib in symbols:
        if chain:
            r = chk ^ chain[-1][1]
            if len(chain) == 1 or r == (positions[-1] + 1) % 16:
                if len(chain) == 1:
                    positions = [(r - 1) % 16]
                positions.append(r)
                chain.append((chk, nib))
                continue
            out.append(_finish(chain, positions))
        chain, positions = [(chk, nib)], []
    if chain:
        out.append(_finish(chain, positions))
    return out


def _locate(
    votes: _FieldVotes, chain: list[tuple[int, int]], residue: int | None, verified: bool, low: int, high: int
) -> int | None:
    """The one start in [low, high] that fits ``chain`` best, or None when the evidence does not single one out.

    A verified run may land where nothing is known yet (if only one start fits its residue) and outweighs a few
    contradicting votes; a short run only reinforces positions that are all known already.
    """
    scored: list[tuple[int, int, int]] = []
    for start in range(max(low, 0), high + 1):
        if residue is not None and start % 16 != residue:
            continue
        matches = conflicts = unknown = 0
        for offset, (chk, nib) in enumerate(chain):
            q = start + offset
            for pos, value in ((q, nib), (q - 1, chk ^ (q % 16))):
                known = votes.winner(pos)
                if known is None:
                    unknown += 1
                elif known == value:
                    matches += 1
                else:
                    conflicts += 1
        if verified and conflicts <= matches:
            scored.append((matches - 2 * conflicts, matches, start))
        elif not verified and not conflicts and not unknown and matches >= 2:
            scored.append((matches, matches, start))
    if not scored:
        return None
    scored.sort(reverse=True)
    if len(scored) > 1 and scored[0][0] - scored[1][0] < 2:
        return None  # ambiguous, or decided by a single nibble that may itself be wrong: wait for more knowledge
    return scored[0][2]


def _expected(symbols: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (chk, nib) pairs a loss-free repetition with these nibbles would carry."""
    out: list[tuple[int, int]] = []
    prev = 0
    for q, (_, nib) in enumerate(symbols):
        out.append((prev ^ (q % 16), nib))
        prev = nib
    return out


def _finish(chain: list[tuple[int, int]], positions: list[int]) -> tuple[list[tuple[int, int]], int | None, bool]:
    if len(chain) == 1:
        return chain, None, False
    return chain, positions[0], len(chain) >= 4


class SmartConfigDecoder:
    """Assembles SmartConfig messages from payload lengths; never raises on received lengths."""

    def __init__(self, group: int = 0, min_votes: int = 2, accept_legacy: bool = False) -> None:
        if min_votes < 1:
            raise LocalProtocolError("min_votes must be at least 1")
        self.group = group
        self.min_votes = min_votes
        self.accept_legacy = accept_legacy
        self.stats = DecoderStats()
        self._events: list[DecoderEvent] = []
        self._last_emitted: sc.SmartConfigMessage | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every partial field and the last emitted message (a new configuration stage begins)."""
        self._fields: dict[Slot, _FieldVotes] = {}
        self._header_seen: dict[Slot, deque[int]] = {}
        self._slot = Slot.SSID
        self._phase = _Phase.IDLE
        self._last_marker: int | None = None
        self._last_header: int | None = None
        self._buffer: list[tuple[int, int]] = []
        self._repetition = 0
        self._rep_syncs = 0
        self._marker_syncs = 0
        self._mid_markers: Counter[int] = Counter()  # 1199 vs 1200: one stray datagram must not flip it
        self._seen_part2 = False
        self._seen_free = False
        self._detected = False
        self._last_emitted = None

    def next_event(self) -> DecoderEvent | None:
        return self._events.pop(0) if self._events else None

    def receive_lengths(self, lengths: list[int]) -> None:
        for length in lengths:
            self.receive_length(length)

    def receive_length(self, length: int) -> None:
        self.stats.received += 1
        kind = sc.classify(length, self.group)
        if kind is sc.SymbolClass.SYNC:
            self.stats.sync += 1
            self._rep_syncs += 1
            self._marker_syncs += 1
        elif kind is sc.SymbolClass.MARKER:
            self._on_marker(length, _MARKER_SLOT[length])
        elif self.accept_legacy and length in _LEGACY_MARKER_SLOT:
            self._on_marker(length, _LEGACY_MARKER_SLOT[length])
        elif kind is sc.SymbolClass.HEADER:
            self._on_header(length)
        elif kind is sc.SymbolClass.DATA:
            self._on_data(length - sc.DATA_BASE)
        else:
            self.stats.ignored += 1

    def _on_marker(self, marker: int, slot: Slot) -> None:
        if marker == self._last_marker and self._phase is _Phase.AWAIT_HEADER:
            return  # the v2 double
        self._end_repetition()
        self._marker_syncs = 0
        self._last_marker = marker
        self._last_header = None
        if slot is Slot.SSID:
            if not self._detected:
                self._detected = True
                self._events.append(TransmissionDetected())
            if not self._seen_free:
                self._check_complete()  # v1 transmitters without free data end a message here
        elif slot is Slot.KEY1:
            self._mid_markers[marker] += 1
        elif slot is Slot.KEY2:
            self._seen_part2 = True
        else:
            self._seen_free = True
        self._slot = slot
        self._phase = _Phase.AWAIT_HEADER

    def _on_header(self, header: int) -> None:
        size = header - sc.HEADER_OFFSET
        if self._phase is _Phase.DATA:
            if self._fields[self._slot].nibbles == 2 * size and len(self._buffer) <= 1:
                self._start_repetition()  # the v2 double (or noise came first): the field starts here
                return
            following = Slot(self._slot + 1) if self._slot < Slot.FREE_DATA else None
            known = self._fields.get(following) if following is not None else None
            if following is None or known is None or known.nibbles != 2 * size:
                self.stats.ignored += 1  # noise inside a field
                return
            self._end_repetition()  # both copies of the next marker were lost
            self._on_marker_lost(following)
        if self._phase is not _Phase.AWAIT_HEADER or size > _MAX_BYTES[self._slot]:
            self.stats.ignored += 1
            return
        if self._marker_syncs > HEADER_WINDOW:
            # marker, marker, header, header: a header this far behind its marker is another field's (the next
            # marker pair was lost), and must not set this field's length
            self._phase = _Phase.IDLE
            self.stats.ignored += 1
            return
        current = self._fields.get(self._slot)
        if current is None or current.nibbles != 2 * size:
            # a new length needs two sightings (the v2 double, or two v1 rounds): one noise datagram must not
            # reset a field
            seen = self._header_seen.setdefault(self._slot, deque(maxlen=4))
            seen.append(header)
            if seen.count(header) < 2:
                return
            seen.clear()
            self._fields[self._slot] = _FieldVotes(2 * size)
        self._last_header = header
        self._start_repetition()
        if size == 0:
            self._field_done()

    def _on_marker_lost(self, slot: Slot) -> None:
        self._marker_syncs = 0
        self._slot = slot
        self._phase = _Phase.AWAIT_HEADER
        if slot is Slot.KEY2:
            self._seen_part2 = True
        elif slot is Slot.FREE_DATA:
            self._seen_free = True

    def _start_repetition(self) -> None:
        self._repetition += 1
        self._rep_syncs = 0
        self._marker_syncs = 0
        self._phase = _Phase.DATA
        self._buffer = []

    def _end_repetition(self) -> None:
        if self._phase is _Phase.DATA and self._buffer:
            votes = self._fields[self._slot]
            self._place(votes, self._buffer)
            self._buffer = []
            if votes.value(self.min_votes) is not None:
                self._field_done()
                return
            votes.repetitions += 1
            if votes.repetitions >= STALEMATE_REPETITIONS:
                # two placements that reinforce themselves can split the votes for good: start the field over
                self._fields[self._slot] = _FieldVotes(votes.nibbles)
        self._phase = _Phase.IDLE

    def _on_data(self, code: int) -> None:
        if self._phase is _Phase.AWAIT_HEADER and self._slot in self._fields:
            self._start_repetition()  # both header copies lost; the length is known from before
            self._rep_syncs = max(0, self._marker_syncs - 2)
        if self._phase is not _Phase.DATA:
            self.stats.ignored += 1
            return
        votes = self._fields[self._slot]
        if self._rep_syncs > votes.nibbles + 1:
            # every symbol follows its own sync datagram: this many syncs since the header (one more for a lost
            # header copy) means the field is over and its marker and the next header were all lost
            self._end_repetition()
            self.stats.ignored += 1
            return
        self._buffer.append((code >> 4, code & 0x0F))
        if len(self._buffer) >= votes.nibbles:
            self._end_repetition()  # nothing lost (or the field overflows): no need to wait for the marker

    def _place(self, votes: _FieldVotes, symbols: list[tuple[int, int]]) -> None:
        if len(symbols) == votes.nibbles and symbols == _expected(symbols):
            votes.clean = bytes((symbols[i][1] << 4) | symbols[i + 1][1] for i in range(0, len(symbols), 2))
        placed_end = 0
        index = 0
        for chain, residue, verified in _chains(symbols):
            # every received symbol holds its own position: those before bound the start from below,
            # those after from above
            low = max(placed_end, index)
            high = votes.nibbles - (len(symbols) - index)
            index += len(chain)
            start = _locate(votes, chain, residue, verified, low, high)
            if start is None:
                self.stats.dropped += len(chain)
                continue
            last = start + len(chain) - 1
            for offset, (chk, nib) in enumerate(chain):
                q = start + offset
                # A lost symbol goes unnoticed at the edge of a run when a check happens to match: the last
                # symbol then sits one place early (its check still names the right predecessor, its nibble is
                # suspect), or the first one sits one place late (its nibble equals the lost one, the
                # predecessor its check names is suspect). Inside a run the next check would have broken it.
                if q != last or q == votes.nibbles - 1:
                    votes.vote(q, nib, self._repetition)
                if q > 0 and offset > 0:
                    votes.vote(q - 1, chk ^ (q % 16), self._repetition)
            self.stats.placed += len(chain)
            placed_end = start + len(chain)

    def _field_done(self) -> None:
        self._phase = _Phase.IDLE
        if self._seen_free:
            self._check_complete()

    def _value(self, slot: Slot) -> bytes | None:
        votes = self._fields.get(slot)
        return None if votes is None else votes.value(self.min_votes)

    def _check_complete(self) -> None:
        ssid, key1 = self._value(Slot.SSID), self._value(Slot.KEY1)
        if ssid is None or key1 is None:
            return
        key2 = b""
        if self._seen_part2 and len(key1) == 32:
            part2 = self._value(Slot.KEY2)
            if part2 is None:
                return
            key2 = part2
        free = b""
        if self._seen_free:
            free_value = self._value(Slot.FREE_DATA)
            if free_value is None:
                return
            free = free_value
        encrypted = self._mid_markers[sc.MARKER_ENCRYPTED] > self._mid_markers[sc.MARKER_PLAIN]
        message = sc.SmartConfigMessage(ssid, key1 + key2, encrypted, free)
        self._fields.clear()
        self._header_seen.clear()
        self._mid_markers.clear()
        if message == self._last_emitted:
            return
        self._last_emitted = message
        self.stats.messages += 1
        self._events.append(MessageDecoded(message))
