"""Fleet provisioning topic classification and construction.

Topics: AWS IoT developer guide, Device provisioning MQTT API (fleet-provision-api).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.aws.fleet_topics import (
    FleetRequest,
    Operation,
    PayloadFormat,
    TopicKind,
    accepted_topic,
    classify,
    is_reserved,
    is_valid_template_name,
    match_topic,
    rejected_topic,
    request_topic,
)

KEYS, CSR, REGISTER = (
    Operation.CREATE_KEYS_AND_CERTIFICATE,
    Operation.CREATE_CERTIFICATE_FROM_CSR,
    Operation.REGISTER_THING,
)
JSON, CBOR = PayloadFormat.JSON, PayloadFormat.CBOR

# The topic names of the AWS IoT developer guide, Device provisioning MQTT API (fleet-provision-api), verbatim.
DOCUMENTED_TOPICS = [
    (KEYS, None, "$aws/certificates/create/{fmt}"),
    (CSR, None, "$aws/certificates/create-from-csr/{fmt}"),
    (REGISTER, "MyTemplate", "$aws/provisioning-templates/MyTemplate/provision/{fmt}"),
]


@pytest.mark.parametrize("fmt", [JSON, CBOR])
@pytest.mark.parametrize(("operation", "template", "pattern"), DOCUMENTED_TOPICS)
def test_documented_topic_table(operation, template, pattern, fmt):
    base = pattern.format(fmt=fmt.value)
    assert request_topic(operation, fmt, template) == base
    assert accepted_topic(operation, fmt, template) == base + "/accepted"
    assert rejected_topic(operation, fmt, template) == base + "/rejected"
    assert classify(base) == FleetRequest(operation, fmt, template)
    assert classify(base + "/accepted") is None
    accepted = match_topic(base + "/accepted")
    assert accepted is not None and accepted.kind is TopicKind.ACCEPTED
    matched = match_topic(base + "/rejected")
    assert matched is not None and matched.kind is TopicKind.REJECTED
    assert matched.request == FleetRequest(operation, fmt, template)


def test_c_library_macro_prefixes():
    # fleet_provisioning.h: FP_CREATE_CERT_API_PREFIX, FP_CREATE_KEYS_API_PREFIX, FP_REGISTER_API_*.
    assert request_topic(CSR, JSON).startswith("$aws/certificates/create-from-csr/")
    assert request_topic(KEYS, CBOR).startswith("$aws/certificates/create/")
    topic = request_topic(REGISTER, CBOR, "t")
    assert topic.startswith("$aws/provisioning-templates/") and "/provision/" in topic


@pytest.mark.parametrize(
    "topic",
    [
        "$aws/certificates/create",
        "$aws/certificates/create/",
        "$aws/certificates/create/xml",
        "$aws/certificates/create/JSON",
        "$aws/certificates/create/json/",
        "$aws/certificates/create/json/accepted/x",
        "$aws/certificates/create/json/other",
        "$aws/certificates/create-from-csr",
        "$aws/provisioning-templates//provision/json",
        "$aws/provisioning-templates/a/b/provision/json",
        "$aws/provisioning-templates/a+/provision/json",
        "$aws/provisioning-templates/#/provision/json",
        "$aws/provisioning-templates/+/provision/json",
        "$aws/provisioning-templates/" + "a" * 37 + "/provision/json",
        "$aws/provisioning-templates/name/provisioning/json",
        "$aws/provisioning-templates/name/provision/",
        "$aws/things/x/shadow/update",
        "aws/certificates/create/json",
        "$AWS/certificates/create/json",
        "",
    ],
)
def test_non_matching_topics(topic):
    assert classify(topic) is None
    assert match_topic(topic) is None


def test_template_name_rules():
    assert is_valid_template_name("a")
    assert is_valid_template_name("A-b_9" + "x" * 31)
    assert not is_valid_template_name("")
    assert not is_valid_template_name("x" * 37)
    for bad in ("a/b", "a+b", "a#b", "a b", "é"):
        assert not is_valid_template_name(bad)
    assert classify(f"$aws/provisioning-templates/{'x' * 36}/provision/json") is not None


def test_request_construction_misuse_is_local_error():
    with pytest.raises(ValueError):
        request_topic(REGISTER, JSON)
    with pytest.raises(ValueError):
        request_topic(REGISTER, JSON, "bad/name")
    with pytest.raises(ValueError):
        request_topic(KEYS, JSON, "template")


def test_request_properties():
    request = FleetRequest(REGISTER, JSON, "tmpl")
    assert request.accepted_topic == request.topic(TopicKind.ACCEPTED)
    assert request.rejected_topic.endswith("/provision/json/rejected")


def test_is_reserved():
    assert is_reserved("$aws/certificates/create/json")
    assert is_reserved("$aws/anything")
    assert not is_reserved("$SYS/broker")
    assert not is_reserved("aws/x")
    assert not is_reserved("$awsx/y")


templates = st.from_regex(r"[0-9A-Za-z_-]{1,36}", fullmatch=True)


@given(
    st.sampled_from([KEYS, CSR, REGISTER]), st.sampled_from([JSON, CBOR]), templates, st.sampled_from(list(TopicKind))
)
def test_build_then_match_round_trip(operation, fmt, template, kind):
    request = FleetRequest(operation, fmt, template if operation is REGISTER else None)
    matched = match_topic(request.topic(kind))
    assert matched is not None
    assert matched.request == request and matched.kind is kind


@given(st.text(max_size=80))
def test_garbage_topics_never_raise(topic):
    matched = match_topic(topic)
    if matched is not None:
        assert matched.request.topic(matched.kind) == topic
