"""Fleet provisioning topic names: classify and build the reserved `$aws/...` topics
(AWS IoT developer guide, Device provisioning MQTT API (fleet-provision-api)).

Owns the topic grammar only; payloads live in `fleet_messages`. Classification mirrors the C library's
`FleetProvisioning_MatchTopic`: a topic either names exactly one (operation, format, template, kind) or is
not a fleet provisioning topic (None). Invariants: `classify(request_topic(...))` returns the same
request; a RegisterThing topic whose template segment is not a valid template name never matches.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

RESERVED_PREFIX = "$aws/"
TEMPLATE_NAME_MAX_LENGTH = 36
_TEMPLATE_NAME = re.compile(r"[0-9A-Za-z_-]{1,36}")

_CREATE_KEYS_PREFIX = "$aws/certificates/create/"
_CREATE_FROM_CSR_PREFIX = "$aws/certificates/create-from-csr/"
_REGISTER_PREFIX = "$aws/provisioning-templates/"
_REGISTER_BRIDGE = "/provision/"


class Operation(enum.Enum):
    """The three device-side fleet provisioning operations."""

    CREATE_KEYS_AND_CERTIFICATE = "CreateKeysAndCertificate"
    CREATE_CERTIFICATE_FROM_CSR = "CreateCertificateFromCsr"
    REGISTER_THING = "RegisterThing"


class PayloadFormat(enum.Enum):
    """Payload encoding, named by the last request-topic segment."""

    JSON = "json"
    CBOR = "cbor"


class TopicKind(enum.Enum):
    """Which of the three topics of an operation: the request or one of its two responses."""

    REQUEST = ""
    ACCEPTED = "/accepted"
    REJECTED = "/rejected"


def is_valid_template_name(name: str) -> bool:
    """True for 1-36 characters of `[0-9A-Za-z_-]` (API_CreateProvisioningTemplate)."""
    return _TEMPLATE_NAME.fullmatch(name) is not None


def is_reserved(topic: str) -> bool:
    """True for AWS reserved topics (`$aws/...`), on which RETAIN is refused.

    AWS IoT developer guide, MQTT, Using MQTT retained messages: "You can't publish to a reserved topic
    with the RETAIN flag set".
    """
    return topic.startswith(RESERVED_PREFIX)


@dataclass(frozen=True, slots=True)
class FleetRequest:
    """One fleet provisioning API: operation, payload format and (RegisterThing only) template name."""

    operation: Operation
    fmt: PayloadFormat
    template_name: str | None = None

    def __post_init__(self) -> None:
        if self.operation is Operation.REGISTER_THING:
            if self.template_name is None or not is_valid_template_name(self.template_name):
                raise ValueError(f"RegisterThing needs a valid template name, got {self.template_name!r}")
        elif self.template_name is not None:
            raise ValueError(f"{self.operation.value} takes no template name")

    def topic(self, kind: TopicKind = TopicKind.REQUEST) -> str:
        """The request topic, or its `/accepted` or `/rejected` response topic."""
        if self.operation is Operation.CREATE_KEYS_AND_CERTIFICATE:
            base = _CREATE_KEYS_PREFIX + self.fmt.value
        elif self.operation is Operation.CREATE_CERTIFICATE_FROM_CSR:
            base = _CREATE_FROM_CSR_PREFIX + self.fmt.value
        else:
            base = f"{_REGISTER_PREFIX}{self.template_name}{_REGISTER_BRIDGE}{self.fmt.value}"
        return base + kind.value

    @property
    def request_topic(self) -> str:
        return self.topic(TopicKind.REQUEST)

    @property
    def accepted_topic(self) -> str:
        return self.topic(TopicKind.ACCEPTED)

    @property
    def rejected_topic(self) -> str:
        return self.topic(TopicKind.REJECTED)


@dataclass(frozen=True, slots=True)
class FleetTopic:
    """A classified fleet provisioning topic: which API and which of its three topics."""

    request: FleetRequest
    kind: TopicKind


def _split_format_and_kind(rest: str) -> tuple[PayloadFormat, TopicKind] | None:
    fmt_text, slash, kind_text = rest.partition("/")
    try:
        fmt = PayloadFormat(fmt_text)
    except ValueError:
        return None
    if not slash:
        return fmt, TopicKind.REQUEST
    if kind_text == "accepted":
        return fmt, TopicKind.ACCEPTED
    if kind_text == "rejected":
        return fmt, TopicKind.REJECTED
    return None


def match_topic(topic: str) -> FleetTopic | None:
    """Classify any fleet provisioning topic (request, accepted or rejected); None if it is none of them."""
    if not topic.startswith(RESERVED_PREFIX):
        return None
    if topic.startswith(_CREATE_FROM_CSR_PREFIX):
        operation, template, rest = (
            Operation.CREATE_CERTIFICATE_FROM_CSR,
            None,
            topic[len(_CREATE_FROM_CSR_PREFIX) :],
        )
    elif topic.startswith(_CREATE_KEYS_PREFIX):
        operation, template, rest = (
            Operation.CREATE_KEYS_AND_CERTIFICATE,
            None,
            topic[len(_CREATE_KEYS_PREFIX) :],
        )
    elif topic.startswith(_REGISTER_PREFIX):
        template, bridge, rest = topic[len(_REGISTER_PREFIX) :].partition(_REGISTER_BRIDGE)
        if not bridge or not is_valid_template_name(template):
            return None
        operation = Operation.REGISTER_THING
    else:
        return None
    parts = _split_format_and_kind(rest)
    if parts is None:
        return None
    fmt, kind = parts
    return FleetTopic(FleetRequest(operation, fmt, template), kind)


def classify(topic: str) -> FleetRequest | None:
    """Classify a PUBLISH topic: the fleet provisioning request it names, or None."""
    matched = match_topic(topic)
    if matched is None or matched.kind is not TopicKind.REQUEST:
        return None
    return matched.request


def request_topic(operation: Operation, fmt: PayloadFormat, template_name: str | None = None) -> str:
    """Request topic for an operation; raises ValueError for a missing/invalid template name."""
    return FleetRequest(operation, fmt, template_name).request_topic


def accepted_topic(operation: Operation, fmt: PayloadFormat, template_name: str | None = None) -> str:
    return FleetRequest(operation, fmt, template_name).accepted_topic


def rejected_topic(operation: Operation, fmt: PayloadFormat, template_name: str | None = None) -> str:
    return FleetRequest(operation, fmt, template_name).rejected_topic
