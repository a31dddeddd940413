"""The shared event vocabulary and the transport-fault delivery helper."""

import math

import pytest

from emulators.events import SHARED_KINDS, catalogue
from protocols.faults import NORMAL_DELIVERY, Delivery, Fault, seconds_param


def test_catalogue_adds_own_kinds_to_the_shared_ones() -> None:
    kinds = catalogue({"thing_registered": "a thing was registered"})
    assert set(SHARED_KINDS) <= set(kinds) and "thing_registered" in kinds


def test_catalogue_refuses_to_redefine_a_shared_kind() -> None:
    with pytest.raises(ValueError, match="started"):
        catalogue({"started": "again"})


@pytest.mark.parametrize(("action", "params", "expected"), [
    ("drop", {}, Delivery(drop=True)),
    ("never_answer", {}, Delivery(never_answer=True)),
    ("delay", {"seconds": 2.5}, Delivery(delay=2.5)),
    ("delay", {"seconds": "soon"}, Delivery(delay=1.0)),
    ("delay", {"seconds": math.nan}, Delivery(delay=1.0)),
    ("delay", {"seconds": -1}, Delivery(delay=1.0)),
    ("throttle", {}, NORMAL_DELIVERY),
])
def test_delivery_of_a_fault(action: str, params: dict[str, object], expected: Delivery) -> None:
    assert Delivery.of(Fault("f1", action, params=dict(params))) == expected


def test_no_fault_delivers_normally() -> None:
    assert Delivery.of(None).answers and Delivery.of(None).delay == 0.0
    assert not Delivery(drop=True).answers and not Delivery(never_answer=True).answers


def test_seconds_param_bounds() -> None:
    assert seconds_param({"seconds": 86_400}) == 86_400.0
    assert seconds_param({"seconds": 1e999}) == 1.0
    assert seconds_param({}, default=0.5) == 0.5
