"""Per-device command queue semantics of the provisioning service (sdk-nrf
nrf_provisioning docs: commands, `after` and responses; where the service is undocumented, the emulator's
choice as stated below).

Pure functions over the pending list of one device (insertion order, never sorted by id):
`select_batch` answers a GET (cursor `after`, `limit`, size budgets, optional batch cap); `settle` applies
a POSTed response list. Invariants: a command leaves the queue only when a response names it; an error
response removes the failing command and every pending command queued after it; responses naming unknown
ids change nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from protocols.nrf.codec import (
    MAX_ID_LENGTH,
    AtCommand,
    Command,
    ErrorResponse,
    Response,
    encode_commands,
)

# Bytes the device needs to answer each kind of command: a %KEYGEN answer carries a DER CSR or public key
# plus a COSE signature (several hundred bytes); other AT answers are short status lines.
KEYGEN_REPLY_BYTES = 900
SHORT_REPLY_BYTES = 64
HTTP_HEADER_ALLOWANCE = 96


@dataclass(frozen=True)
class QueuedCommand:
    command: Command
    command_id: str  # the management API command this device command belongs to

    @property
    def corr_id(self) -> str:
        return self.command.corr_id


def correlation_id(prefix: str, sequence: int, suffix: str = "") -> str:
    """`<uuid>.<lower-hex sequence>[.<suffix>]`, at most 45 characters."""
    corr_id = f"{prefix}.{sequence:x}" + (f".{suffix}" if suffix else "")
    if len(corr_id) > MAX_ID_LENGTH:
        raise ValueError(f"correlation id {corr_id!r} longer than {MAX_ID_LENGTH} characters")
    return corr_id


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng` (ids of devices' correlation prefixes, commands, rules, bulk runs)."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def expected_reply_size(command: Command) -> int:
    base = len(command.corr_id) + 8
    if isinstance(command, AtCommand):
        return base + (KEYGEN_REPLY_BYTES if command.set_command.upper() == "%KEYGEN" else SHORT_REPLY_BYTES)
    return base


def select_batch(pending: Sequence[QueuedCommand], after: str, limit: int, rx_max_size: int | None = None,
                 tx_max_size: int | None = None, max_batch: int | None = None,
                 header_allowance: int = HTTP_HEADER_ALLOWANCE) -> list[QueuedCommand]:
    """The commands to deliver: those after `after` (all if unknown/empty), capped and sized to fit."""
    ids = [q.corr_id for q in pending]
    start = ids.index(after) + 1 if after in ids else 0
    cap = max(1, min(limit, max_batch) if max_batch else limit)
    batch: list[QueuedCommand] = []
    reply_total = 3
    for queued in pending[start:start + cap]:
        reply_total += expected_reply_size(queued.command)
        candidate = [*batch, queued]
        too_big = rx_max_size is not None and \
            len(encode_commands([q.command for q in candidate])) + header_allowance >= rx_max_size
        too_long = tx_max_size is not None and reply_total > tx_max_size
        if batch and (too_big or too_long):
            break
        batch = candidate
    return batch


@dataclass
class Settlement:
    completed: list[tuple[QueuedCommand, Response]] = field(default_factory=list)
    failed: tuple[QueuedCommand, ErrorResponse] | None = None
    flushed: list[QueuedCommand] = field(default_factory=list)
    unknown: list[Response] = field(default_factory=list)

    @property
    def removed(self) -> list[str]:
        out = [q.corr_id for q, _ in self.completed]
        if self.failed:
            out.append(self.failed[0].corr_id)
        return out + [q.corr_id for q in self.flushed]


def settle(pending: Sequence[QueuedCommand], responses: Sequence[Response]) -> Settlement:
    """What a response list does to the queue (see the module invariants)."""
    by_id = {q.corr_id: q for q in pending}
    result = Settlement()
    for response in responses:
        queued = by_id.pop(response.corr_id, None)
        if queued is None:
            result.unknown.append(response)
            continue
        if isinstance(response, ErrorResponse):
            result.failed = (queued, response)
            position = pending.index(queued)
            result.flushed = [q for q in pending[position + 1:] if q.corr_id in by_id]
            break
        result.completed.append((queued, response))
    return result
