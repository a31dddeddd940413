"""Stepping a state machine that is written as a table: (state, input) -> next state.

Cores keep their tables next to the enums they use (`TRANSITIONS: dict[tuple[State, Input], State]`) and move
with `step()`, so an input the table does not list is always refused the same way: with the error type the
core chooses (local for a caller's misuse, remote when the peer's input drove it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from protocols.errors import LocalProtocolError, ProtocolError

S = TypeVar("S", bound=enum.Enum)
I = TypeVar("I", bound=enum.Enum)  # noqa: E741 - the input alphabet, as in the tables


class InvalidTransition(LocalProtocolError):
    """The table has no entry for this input in this state."""


def step(table: Mapping[tuple[S, I], S], state: S, event: I, *, machine: str = "",
         error: type[ProtocolError] = InvalidTransition) -> S:
    """The state `table` moves `state` to on `event`; raises `error` when the table has no such entry."""
    try:
        return table[(state, event)]
    except KeyError:
        where = f"{machine}: " if machine else ""
        raise error(f"{where}{event.value} is not allowed in state {state.value}") from None
