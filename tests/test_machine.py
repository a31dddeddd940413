"""The table stepper moves along the table and refuses anything else with the chosen error type."""

import enum

import pytest

from protocols.errors import LocalProtocolError, RemoteProtocolError
from protocols.machine import InvalidTransition, step


class S(enum.Enum):
    IDLE = "idle"
    BUSY = "busy"


class In(enum.Enum):
    GO = "go"
    STOP = "stop"


TABLE = {(S.IDLE, In.GO): S.BUSY, (S.BUSY, In.STOP): S.IDLE}


def test_step_follows_the_table() -> None:
    assert step(TABLE, S.IDLE, In.GO) is S.BUSY
    assert step(TABLE, S.BUSY, In.STOP) is S.IDLE


def test_missing_entry_raises_local_error_by_default() -> None:
    with pytest.raises(InvalidTransition, match="m: stop is not allowed in state idle"):
        step(TABLE, S.IDLE, In.STOP, machine="m")
    assert issubclass(InvalidTransition, LocalProtocolError)


def test_the_error_type_is_the_cores_choice() -> None:
    with pytest.raises(RemoteProtocolError):
        step(TABLE, S.BUSY, In.GO, error=RemoteProtocolError)
