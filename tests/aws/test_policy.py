"""AWS IoT policy parsing and evaluation: claim policies as in AWS IoT developer guide, Provisioning devices that
don't have device certificates using fleet provisioning (provision-wo-cert), with IAM policy semantics."""

import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.aws.policy import (
    Decision,
    Pattern,
    PolicyEngine,
    PolicyError,
    certificate_subject_variables,
    client_arn,
    parse_policy,
    policy_variables,
    topic_arn,
    topicfilter_arn,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
ENGINE = PolicyEngine()


def allowed(policy, action, arn, **variables):
    policies = policy if isinstance(policy, list) else [policy]
    return ENGINE.is_allowed(policies, action, arn, variables)


def topic(t):
    return topic_arn(REGION, ACCOUNT, t)


def tfilter(t):
    return topicfilter_arn(REGION, ACCOUNT, t)


# provision-wo-cert.md claim policy with its placeholders filled in.
CLAIM_POLICY = parse_policy(
    """{
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"},
        {"Effect": "Allow", "Action": ["iot:Publish","iot:Receive"],
         "Resource": [
            "arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create/*",
            "arn:aws:iot:us-east-1:123456789012:topic/$aws/provisioning-templates/templateName/provision/*"]},
        {"Effect": "Allow", "Action": "iot:Subscribe",
         "Resource": [
            "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/certificates/create/*",
            "arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/provisioning-templates/templateName/provision/*"]}
    ]}"""
)


@pytest.mark.parametrize("fmt", ["json", "cbor"])
def test_claim_policy_covers_both_formats(fmt):
    assert allowed(CLAIM_POLICY, "iot:Connect", client_arn(REGION, ACCOUNT, "any-client"))
    for suffix in ("", "/accepted", "/rejected"):
        assert allowed(CLAIM_POLICY, "iot:Publish", topic(f"$aws/certificates/create/{fmt}{suffix}"))
        assert allowed(CLAIM_POLICY, "iot:Receive", topic(f"$aws/certificates/create/{fmt}{suffix}"))
        assert allowed(CLAIM_POLICY, "iot:Subscribe", tfilter(f"$aws/certificates/create/{fmt}{suffix}"))
        register = f"$aws/provisioning-templates/templateName/provision/{fmt}{suffix}"
        assert allowed(CLAIM_POLICY, "iot:Publish", topic(register))
        assert allowed(CLAIM_POLICY, "iot:Subscribe", tfilter(register))
    # Subscribing with an MQTT wildcard filter is covered too: the ARN's `*` spans the `+`.
    assert allowed(CLAIM_POLICY, "iot:Subscribe", tfilter(f"$aws/certificates/create/{fmt}/+"))


def test_claim_policy_limits():
    # `create/*` does not cover `create-from-csr/...`: the literal slash differs.
    assert not allowed(CLAIM_POLICY, "iot:Publish", topic("$aws/certificates/create-from-csr/json"))
    assert not allowed(CLAIM_POLICY, "iot:Publish", topic("$aws/provisioning-templates/other/provision/json"))
    assert not allowed(CLAIM_POLICY, "iot:Subscribe", topic("$aws/certificates/create/json/accepted"))
    assert not allowed(CLAIM_POLICY, "iot:Publish", tfilter("$aws/certificates/create/json"))
    assert not allowed(CLAIM_POLICY, "iot:Publish", topic("$aws/things/t/shadow/update"))
    assert not allowed(CLAIM_POLICY, "iot:UpdateThingShadow", topic("$aws/certificates/create/json"))
    assert not allowed(CLAIM_POLICY, "iot:Publish", topic_arn("eu-west-1", ACCOUNT, "$aws/certificates/create/json"))


def test_c_demo_claim_policy_with_literal_placeholders():
    # The C demo's example_claim_policy.json as shipped, placeholders and all.
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["iot:Connect"], "Resource": "*"},
                {
                    "Effect": "Allow",
                    "Action": ["iot:Publish", "iot:Receive"],
                    "Resource": [
                        "arn:aws:iot:<aws-region>:<aws-account-id>:topic/$aws/certificates/create/*",
                        "arn:aws:iot:<aws-region>:<aws-account-id>:topic/$aws/provisioning-templates/<template-name>/provision/*",
                    ],
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": [
                        "arn:aws:iot:<aws-region>:<aws-account-id>:topicfilter/$aws/certificates/create/*",
                        "arn:aws:iot:<aws-region>:<aws-account-id>:topicfilter/$aws/provisioning-templates/<template-name>/provision/*",
                    ],
                },
            ],
        }
    )
    literal = "arn:aws:iot:<aws-region>:<aws-account-id>:topic/$aws/certificates/create/cbor"
    assert allowed(policy, "iot:Publish", literal)
    assert not allowed(policy, "iot:Publish", topic("$aws/certificates/create/cbor"))


def test_python_sdk_sample_policy_client_wildcard():
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": "arn:aws:iot:us-east-1:123456789012:client/mqtt5-sample-*",
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/$aws/certificates/create/json"],
                },
            ],
        }
    )
    assert allowed(policy, "iot:Connect", client_arn(REGION, ACCOUNT, "mqtt5-sample-" + "0" * 32))
    assert not allowed(policy, "iot:Connect", client_arn(REGION, ACCOUNT, "other"))
    assert allowed(policy, "iot:Publish", topic("$aws/certificates/create/json"))
    assert not allowed(policy, "iot:Publish", topic("$aws/certificates/create/cbor"))


def test_explicit_deny_wins_and_default_deny():
    allow_all = parse_policy(
        {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
    )
    deny = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "iot:Publish", "Resource": "arn:aws:iot:*:*:topic/secret/*"}],
        }
    )
    assert ENGINE.evaluate([], "iot:Publish", topic("a"), {}) is Decision.IMPLICIT_DENY
    assert ENGINE.evaluate([allow_all, deny], "iot:Publish", topic("secret/x"), {}) is Decision.EXPLICIT_DENY
    assert ENGINE.evaluate([deny, allow_all], "iot:Publish", topic("public"), {}) is Decision.ALLOW
    assert ENGINE.evaluate([deny], "iot:Publish", topic("public"), {}) is Decision.IMPLICIT_DENY


def test_actions_are_case_insensitive_with_wildcards():
    policy = parse_policy({"Statement": [{"Effect": "Allow", "Action": ["iot:Pub*", "IOT:receive"], "Resource": "*"}]})
    assert allowed(policy, "iot:Publish", topic("x"))
    assert allowed(policy, "iot:publish", topic("x"))
    assert allowed(policy, "iot:Receive", topic("x"))
    assert not allowed(policy, "iot:Subscribe", tfilter("x"))
    star = parse_policy({"Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]})
    assert allowed(star, "iot:Connect", client_arn(REGION, ACCOUNT, "c"))
    assert not allowed(star, "greengrass:Discover", "*")


def test_mqtt_wildcards_inside_arns_are_literal():
    policy = parse_policy(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/a/+/c",
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": "arn:aws:iot:us-east-1:123456789012:topicfilter/d/#",
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": "arn:aws:iot:us-east-1:123456789012:topic/e/?",
                },
            ]
        }
    )
    assert allowed(policy, "iot:Subscribe", tfilter("a/+/c"))
    assert not allowed(policy, "iot:Subscribe", tfilter("a/b/c"))
    assert allowed(policy, "iot:Subscribe", tfilter("d/#"))
    assert not allowed(policy, "iot:Subscribe", tfilter("d/x"))
    assert allowed(policy, "iot:Publish", topic("e/1"))
    assert not allowed(policy, "iot:Publish", topic("e/12"))


def test_not_action_and_not_resource():
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "NotAction": "iot:Connect", "Resource": "*"},
                {"Effect": "Deny", "Action": "iot:Publish", "NotResource": "arn:aws:iot:*:*:topic/ok/*"},
            ],
        }
    )
    assert allowed(policy, "iot:Publish", topic("ok/1"))
    assert not allowed(policy, "iot:Publish", topic("bad"))
    assert allowed(policy, "iot:Receive", topic("bad"))
    assert not allowed(policy, "iot:Connect", client_arn(REGION, ACCOUNT, "c"))


THING_POLICY = parse_policy(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": "arn:aws:iot:us-east-1:123456789012:topic/dt/${iot:ClientId}/*",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": "arn:aws:iot:us-east-1:123456789012:topic/loc/${iot:Connection.Thing.Attributes[site]}",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": "arn:aws:iot:us-east-1:123456789012:topic/cn/${iot:Certificate.Subject.CommonName}",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": "arn:aws:iot:us-east-1:123456789012:topic/type/${iot:Connection.Thing.ThingTypeName}",
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": "arn:aws:iot:us-east-1:123456789012:topic/lit/${*}${?}${$}",
            },
            {
                "Effect": "Deny",
                "Action": "iot:Publish",
                "Resource": "arn:aws:iot:us-east-1:123456789012:topic/dt/${iot:Connection.Thing.ThingName}/blocked",
            },
        ],
    }
)


def test_policy_variables():
    v = policy_variables(
        client_id="dev-1",
        thing_name="dev-1",
        thing_type_name="bulb",
        is_attached=True,
        thing_attributes={"site": "Seattle"},
        certificate_variables={"iot:Certificate.Subject.CommonName": "cn1"},
    )
    assert v["iot:Connection.Thing.IsAttached"] == "true"
    assert allowed(THING_POLICY, "iot:Connect", client_arn(REGION, ACCOUNT, "dev-1"), **v)
    assert not allowed(THING_POLICY, "iot:Connect", client_arn(REGION, ACCOUNT, "dev-2"), **v)
    assert allowed(THING_POLICY, "iot:Publish", topic("dt/dev-1/x"), **v)
    assert not allowed(THING_POLICY, "iot:Publish", topic("dt/dev-1/blocked"), **v)
    assert not allowed(THING_POLICY, "iot:Publish", topic("dt/dev-2/x"), **v)
    assert allowed(THING_POLICY, "iot:Publish", topic("loc/Seattle"), **v)
    assert allowed(THING_POLICY, "iot:Publish", topic("cn/cn1"), **v)
    assert allowed(THING_POLICY, "iot:Publish", topic("type/bulb"), **v)
    assert allowed(THING_POLICY, "iot:Publish", topic("lit/*?$"), **v)
    assert not allowed(THING_POLICY, "iot:Publish", topic("lit/ab$"), **v)


def test_statement_with_unset_variable_does_not_match():
    # No thing attached to the connection: neither the Allow nor the Deny on ThingName applies.
    v = policy_variables(client_id="dev-1")
    assert not allowed(THING_POLICY, "iot:Connect", client_arn(REGION, ACCOUNT, "dev-1"), **v)
    assert allowed(THING_POLICY, "iot:Publish", topic("dt/dev-1/blocked"), **v)
    assert not allowed(THING_POLICY, "iot:Publish", topic("loc/"), **v)
    assert not allowed(THING_POLICY, "iot:Publish", topic("dt/${iot:Connection.Thing.ThingName}/blocked"), **v)


def test_variable_values_are_literal():
    v = policy_variables(client_id="*")
    assert allowed(THING_POLICY, "iot:Publish", topic("dt/*/x"), **v)
    assert not allowed(THING_POLICY, "iot:Publish", topic("dt/anything/x"), **v)


def test_version_2008_does_not_substitute_variables():
    policy = parse_policy(
        {
            "Version": "2008-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": "arn:aws:iot:us-east-1:123456789012:client/${iot:ClientId}",
                }
            ],
        }
    )
    assert not allowed(policy, "iot:Connect", client_arn(REGION, ACCOUNT, "c"), **{"iot:ClientId": "c"})
    assert allowed(policy, "iot:Connect", client_arn(REGION, ACCOUNT, "${iot:ClientId}"), **{"iot:ClientId": "c"})


def test_topic_variable_and_conditions():
    policy = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "iot:Connect",
                    "Resource": "*",
                    "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Publish",
                    "Resource": "*",
                    "Condition": {
                        "StringLike": {"iot:Topic": ["dev/${iot:ClientId}/*"]},
                        "StringEqualsIgnoreCase": {"iot:ClientId": ["DEV-1", "dev-2"]},
                    },
                },
                {
                    "Effect": "Deny",
                    "Action": "iot:Publish",
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"iot:Connection.Thing.ThingTypeName": "bulb"}},
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Receive",
                    "Resource": "*",
                    "Condition": {"StringEqualsIfExists": {"iot:Connection.Thing.ThingTypeName": "bulb"}},
                },
                {
                    "Effect": "Allow",
                    "Action": "iot:Subscribe",
                    "Resource": "*",
                    "Condition": {"Null": {"iot:Connection.Thing.ThingName": "true"}},
                },
            ],
        }
    )
    attached = policy_variables(client_id="dev-1", thing_name="t", is_attached=True, thing_type_name="bulb")
    detached = policy_variables(client_id="dev-1", is_attached=False)
    assert allowed(policy, "iot:Connect", "*", **attached)
    assert not allowed(policy, "iot:Connect", "*", **detached)
    assert allowed(policy, "iot:Publish", topic("dev/dev-1/x"), **{**attached, "iot:Topic": "dev/dev-1/x"})
    assert not allowed(policy, "iot:Publish", topic("dev/dev-2/x"), **{**attached, "iot:Topic": "dev/dev-2/x"})
    # StringNotEquals on a missing key is true, so the Deny applies to a connection without a thing type.
    assert not allowed(policy, "iot:Publish", topic("dev/dev-1/x"), **{**detached, "iot:Topic": "dev/dev-1/x"})
    assert allowed(policy, "iot:Receive", topic("x"), **detached)
    assert allowed(policy, "iot:Receive", topic("x"), **attached)
    assert not allowed(policy, "iot:Receive", topic("x"), **{**attached, "iot:Connection.Thing.ThingTypeName": "lamp"})
    assert allowed(policy, "iot:Subscribe", tfilter("x"), **detached)
    assert not allowed(policy, "iot:Subscribe", tfilter("x"), **attached)


def test_default_name_is_40_hex_and_canonical():
    text = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":["iot:Publish"], '
        '"Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"]}]}'
    )
    a = parse_policy(text)
    b = parse_policy(json.loads(text))
    c = parse_policy(json.dumps(json.loads(text), indent=4, sort_keys=True))
    assert len(a.default_name) == 40 and all(ch in "0123456789ABCDEF" for ch in a.default_name)
    assert a.default_name == b.default_name == c.default_name
    assert parse_policy(text.replace("foo", "baz")).default_name != a.default_name
    assert a.document() == json.loads(text)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        {},
        {"Statement": []},
        {"Statement": "x"},
        {"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}},
        {"Statement": {"Effect": "allow", "Action": "*", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "*", "NotAction": "*", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "*"}},
        {"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "publish", "Resource": "*"}},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "topic/x"}},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": [1]}},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}},
        {
            "Statement": {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}},
            }
        },
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {}}}},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}, "Extra": 1},
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": ["arn:" + "x" * 2100]}},
    ],
)
def test_invalid_policies(document):
    with pytest.raises(PolicyError):
        parse_policy(document)


def test_certificate_subject_variables():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "device-1"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "SN42"),
        ]
    )
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert certificate_subject_variables(cert) == {
        "iot:Certificate.Subject.CommonName": "device-1",
        "iot:Certificate.Subject.Country": "US",
        "iot:Certificate.Subject.State": "WA",
        "iot:Certificate.Subject.SerialNumber": "SN42",
    }


def test_arn_builders():
    assert client_arn("eu-west-1", "1", "c") == "arn:aws:iot:eu-west-1:1:client/c"
    assert topic_arn("r", "a", "$aws/x/+") == "arn:aws:iot:r:a:topic/$aws/x/+"
    assert topicfilter_arn("r", "a", "a/#", partition="aws-cn") == "arn:aws-cn:iot:r:a:topicfilter/a/#"


# ------------------------------------------------------------------------------------------- properties


def reference_glob(pattern: str, text: str) -> bool:
    """Independent IAM-glob matcher: `*` any run, `?` one character, everything else literal."""
    dp = [[False] * (len(text) + 1) for _ in range(len(pattern) + 1)]
    dp[0][0] = True
    for i, p in enumerate(pattern, 1):
        dp[i][0] = dp[i - 1][0] and p == "*"
        for j in range(1, len(text) + 1):
            if p == "*":
                dp[i][j] = dp[i - 1][j] or dp[i][j - 1]
            else:
                dp[i][j] = dp[i - 1][j - 1] and (p == "?" or p == text[j - 1])
    return dp[len(pattern)][len(text)]


glob_chars = st.text(alphabet="ab/*?+#.[]$\\\n", max_size=12)


@settings(max_examples=400)
@given(glob_chars, st.text(alphabet="ab/+#.[]$*?\\\n", max_size=12))
def test_wildcards_match_reference(pattern, text):
    assert Pattern.parse(pattern, variables=True).matches(text, {}) == reference_glob(pattern, text)


@given(
    st.text(alphabet="ab/", max_size=4), st.text(alphabet="ab/*?", max_size=6), st.text(alphabet="ab/*?", max_size=6)
)
def test_variable_values_never_act_as_wildcards(prefix, value, other):
    pattern = Pattern.parse(prefix + "${iot:ClientId}", variables=True)
    assert pattern.matches(prefix + other, {"iot:ClientId": value}) == (other == value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "Version",
                    "Statement",
                    "Effect",
                    "Action",
                    "Resource",
                    "NotResource",
                    "Condition",
                    "StringLike",
                    "Bool",
                    "Null",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=15,
)


@settings(max_examples=300)
@given(json_values | st.text(max_size=40))
def test_garbage_policies_only_raise_policy_error(document):
    try:
        policy = parse_policy(document if isinstance(document, str) else json.dumps(document))
    except PolicyError:
        return
    ENGINE.is_allowed([policy], "iot:Publish", topic("x"), {"iot:ClientId": "c"})
