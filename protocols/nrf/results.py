"""The device library's result vocabulary: events, errno values and the status → errno → event tables.

Tables, not branches (sdk-nrf nrf_provisioning_http.c `status_code_to_error`, nrf_provisioning_coap.c
`response_code_to_error`, nrf_provisioning.c `check_return_code_and_notify`). `Mapping` selects the 401/403
behaviour: `baseline` (NCS up to mid-2025: HTTP 401/403 and CoAP 4.01/4.03 all mean "not claimed") or
`newer` (sdk-nrf PR #24907: CoAP 4.03 is -EPERM, so FAILED).
"""

from __future__ import annotations

import enum


class Event(enum.IntEnum):
    START = 1
    STOP = 2
    DONE = 3
    FAILED = 4
    NO_COMMANDS = 5
    FAILED_TOO_MANY_COMMANDS = 6
    FAILED_DEVICE_NOT_CLAIMED = 7
    FAILED_WRONG_ROOT_CA = 8
    FAILED_NO_VALID_DATETIME = 9
    NEED_LTE_DEACTIVATED = 10
    NEED_LTE_ACTIVATED = 11
    SCHEDULED_PROVISIONING = 12
    FATAL_ERROR = 13


class Errno(enum.IntEnum):
    """Zephyr errno values the library produces (minimal libc numbering)."""

    EPERM = 1
    ENOENT = 2
    EAGAIN = 11
    ENOMEM = 12
    EACCES = 13
    EFAULT = 14
    EBUSY = 16
    EINVAL = 22
    ENOMSG = 35
    ENODATA = 61
    ETIME = 62
    ENOBUFS = 105
    ECONNREFUSED = 111
    ESHUTDOWN = 112
    ETIMEDOUT = 116
    ENOTSUP = 134


class Mapping(enum.StrEnum):
    BASELINE = "baseline"
    NEWER = "newer"


_HTTP_GET: dict[int, Errno] = {
    204: Errno.ENODATA, 400: Errno.EINVAL, 401: Errno.EACCES, 403: Errno.EACCES, 415: Errno.ENOMSG,
    500: Errno.EBUSY,
}

_COAP: dict[str, Errno] = {
    "4.00": Errno.EINVAL, "4.01": Errno.EACCES, "4.03": Errno.EACCES, "4.04": Errno.ENOENT,
    "4.06": Errno.EINVAL, "5.00": Errno.EBUSY, "5.03": Errno.EBUSY,
}

_EVENT: dict[Errno, Event] = {
    Errno.ENODATA: Event.NO_COMMANDS,
    Errno.EACCES: Event.FAILED_DEVICE_NOT_CLAIMED,
    Errno.ENOMEM: Event.FAILED_TOO_MANY_COMMANDS,
    Errno.ECONNREFUSED: Event.FAILED_WRONG_ROOT_CA,
}

BACKOFF_ERRORS = frozenset({Errno.EBUSY, Errno.ETIMEDOUT})


def http_status_errno(status: int) -> Errno:
    """Errno for a non-200 answer to GET /v1/provisioning/commands."""
    return _HTTP_GET.get(status, Errno.ENOTSUP)


def coap_code_errno(code: str, mapping: Mapping = Mapping.BASELINE) -> Errno:
    """Errno for an unexpected CoAP response code written "c.dd"."""
    if code == "4.03" and mapping is Mapping.NEWER:
        return Errno.EPERM
    return _COAP.get(code, Errno.ENOTSUP)


def event_for(result: Errno) -> Event:
    """The event a failed exchange reports (every unlisted errno is plain FAILED)."""
    return _EVENT.get(result, Event.FAILED)
