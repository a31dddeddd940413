"""Provisioning template parsing, evaluation and OverrideSettings planning
(AWS IoT developer guide, Provisioning templates)."""

import contextlib
import copy
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.aws.fleet_messages import RejectionCase
from protocols.aws.template_functions import Evaluator, Scope
from protocols.aws.templates import (
    TEMPLATE_BODY_MAX_CHARS,
    CertificateSpec,
    CertificateStatus,
    Override,
    TemplateEvaluationError,
    TemplateValidationError,
    ThingAction,
    ThingOverrides,
    ThingRecord,
    ThingSpec,
    certificate_subject_fields,
    parse_template,
    plan_certificate_status,
    plan_thing_change,
)

CERT_ID = "c" * 64

# aws-iot-device-sdk-python-v2 samples/service_clients/fleet_provisioning_basic.md, single-line form.
PYTHON_SDK_TEMPLATE = (
    '{"Parameters": {"DeviceLocation": {"Type": "String"},"AWS::IoT::Certificate::Id": {"Type": "String"},'
    '"SerialNumber": {"Type": "String"}},"Mappings": {"LocationTable": {"Seattle": {"LocationUrl": '
    '"https://example.aws"}}},"Resources": {"thing": {"Type": "AWS::IoT::Thing","Properties": {"ThingName": '
    '{"Fn::Join": ["",["ThingPrefix_",{"Ref": "SerialNumber"}]]},"AttributePayload": {"version": "v1",'
    '"serialNumber": "serialNumber"}},"OverrideSettings": {"AttributePayload": "MERGE","ThingTypeName": '
    '"REPLACE","ThingGroups": "DO_NOTHING"}},"certificate": {"Type": "AWS::IoT::Certificate","Properties": '
    '{"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"},"Status": "Active"},"OverrideSettings": '
    '{"Status": "REPLACE"}},"policy": {"Type": "AWS::IoT::Policy","Properties": {"PolicyDocument": '
    '{"Version": "2012-10-17","Statement": [{"Effect": "Allow","Action": ["iot:Connect","iot:Subscribe",'
    '"iot:Publish","iot:Receive"],"Resource": "*"}]}}}},"DeviceConfiguration": {"FallbackUrl": '
    '"https://www.example.com/test-site","LocationUrl": {"Fn::FindInMap": ["LocationTable",{"Ref": '
    '"DeviceLocation"},"LocationUrl"]}}}'
)

# aws-iot-device-sdk-embedded-C demos/fleet_provisioning/*/example_demo_template.json.
C_DEMO_TEMPLATE = {
    "Parameters": {"SerialNumber": {"Type": "String"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
    "Resources": {
        "certificate": {
            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"},
            "Type": "AWS::IoT::Certificate",
        },
        "policy": {"Properties": {"PolicyName": "demo_thing_policy"}, "Type": "AWS::IoT::Policy"},
        "thing": {
            "OverrideSettings": {"AttributePayload": "MERGE", "ThingGroups": "DO_NOTHING", "ThingTypeName": "REPLACE"},
            "Properties": {
                "AttributePayload": {},
                "ThingGroups": [],
                "ThingName": {"Fn::Join": ["", ["fp_demo_", {"Ref": "SerialNumber"}]]},
                "ThingTypeName": "fp_demo_things",
            },
            "Type": "AWS::IoT::Thing",
        },
    },
    "DeviceConfiguration": {},
}

# provision-template.md "Fleet Provisioning Template Example", as printed (it has one `}` too many).
DOCS_FLEET_EXAMPLE_AS_PRINTED = """{
    "Parameters" : {
        "SerialNumber": {"Type": "String"},
        "DeviceLocation": {"Type": "String"}
    },
    "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
    "Resources" : {
        "thing" : {
            "Type" : "AWS::IoT::Thing",
            "Properties" : {
                "AttributePayload" : {"version" : "v1", "serialNumber" : "serialNumber"},
                "ThingTypeName" : {"Fn::Join":["",["ThingPrefix_",{"Ref":"SerialNumber"}]]},
                "ThingGroups" : ["v1-lightbulbs", "WA"],
                "BillingGroup": "LightBulbBillingGroup"
            },
            "OverrideSettings" : {"AttributePayload" : "MERGE", "ThingTypeName" : "REPLACE",
                                  "ThingGroups" : "DO_NOTHING"}
        },
        "certificate" : {
            "Type" : "AWS::IoT::Certificate",
            "Properties" : {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status" : "Active"}
        },
        "policy" : {
            "Type" : "AWS::IoT::Policy",
            "Properties" : {
                "PolicyDocument" : {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action":["iot:Publish"],
                                   "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"]}]
                }
            }
        }
    },
    "DeviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": {
            "Fn::FindInMap": ["LocationTable",{"Ref": "DeviceLocation"}, "LocationUrl"]}
        }
    }
}"""
DOCS_FLEET_EXAMPLE = DOCS_FLEET_EXAMPLE_AS_PRINTED.rstrip().removesuffix("}").rstrip()

# provision-template.md example "existing certificate with a certificate ID" (escaped PolicyDocument).
DOCS_CERT_ID_TEMPLATE = {
    "Parameters": {
        "SerialNumber": {"Type": "String"},
        "Location": {"Type": "String", "Default": "WA"},
        "CertificateId": {"Type": "String"},
    },
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
                "ThingTypeName": "lightBulb-versionA",
                "ThingGroups": ["v1-lightbulbs", {"Ref": "Location"}],
            },
        },
        "certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "CertificateId"}}},
        "policy": {
            "Type": "AWS::IoT::Policy",
            "Properties": {
                "PolicyDocument": '{ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", '
                '"Action":["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"] }] }'
            },
        },
    },
}

# provision-wo-cert.md pre-provisioning hook example: refers to SerialNumber without declaring it.
HOOK_EXAMPLE_TEMPLATE = {
    "Parameters": {"DeviceLocation": {"Type": "String"}},
    "Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
    "Resources": {
        "thing": {
            "Type": "AWS::IoT::Thing",
            "Properties": {
                "AttributePayload": {"version": "v1", "serialNumber": "serialNumber"},
                "ThingName": {"Fn::Join": ["", ["ThingPrefix_", {"Ref": "SerialNumber"}]]},
                "ThingTypeName": {"Fn::Join": ["", ["ThingTypePrefix_", {"Ref": "SerialNumber"}]]},
                "ThingGroups": ["widgets", "WA"],
                "BillingGroup": "BillingGroup",
            },
            "OverrideSettings": {"AttributePayload": "MERGE", "ThingTypeName": "REPLACE", "ThingGroups": "DO_NOTHING"},
        },
        "certificate": {
            "Type": "AWS::IoT::Certificate",
            "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"},
        },
    },
    "DeviceConfiguration": {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "DeviceLocation"}, "LocationUrl"]},
    },
}


DEEP: object = ["a"]
for _ in range(40):
    DEEP = [DEEP]


def minimal(**extra):
    """A certificate-only template plus `extra` top-level sections."""
    body = {
        "Resources": {
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}},
            }
        }
    }
    body.update(extra)
    return body


def config_value(expression, parameters=None, lenient=False, **sections):
    """Evaluate one expression through DeviceConfiguration."""
    template = parse_template(minimal(DeviceConfiguration={"v": expression}, **sections), lenient=lenient)
    return template.evaluate(parameters or {}, certificate_id=CERT_ID, **_aws(lenient)).device_configuration["v"]


def _aws(lenient):
    return {"aws_pseudo_parameters": {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}} if lenient else {}


# ------------------------------------------------------------------------------------------ doc examples


def test_python_sdk_basic_template():
    template = parse_template(PYTHON_SDK_TEMPLATE)
    assert template.warnings == ()
    plan = template.evaluate({"SerialNumber": "1", "DeviceLocation": "Seattle"}, certificate_id=CERT_ID)
    assert plan.thing_name == "ThingPrefix_1"
    assert plan.thing == ThingSpec(
        "thing",
        "ThingPrefix_1",
        {"version": "v1", "serialNumber": "serialNumber"},
        overrides=ThingOverrides(Override.MERGE, Override.REPLACE, Override.DO_NOTHING),
    )
    assert plan.certificate == CertificateSpec("certificate", CERT_ID, CertificateStatus.ACTIVE, Override.REPLACE)
    (policy,) = plan.policies
    assert not policy.by_name and len(policy.policy_name) == 40
    assert policy.policy_name == policy.policy.default_name
    assert plan.device_configuration == {
        "FallbackUrl": "https://www.example.com/test-site",
        "LocationUrl": "https://example.aws",
    }
    # The multi-line form of the same document is the same template.
    pretty = parse_template(json.dumps(json.loads(PYTHON_SDK_TEMPLATE), indent=2))
    assert pretty.evaluate({"SerialNumber": "1", "DeviceLocation": "Seattle"}, certificate_id=CERT_ID) == plan


def test_python_sdk_template_unknown_location_fails_findinmap():
    template = parse_template(PYTHON_SDK_TEMPLATE)
    with pytest.raises(TemplateEvaluationError) as info:
        template.evaluate({"SerialNumber": "1", "DeviceLocation": "Paris"}, certificate_id=CERT_ID)
    assert info.value.case is RejectionCase.TEMPLATE_EVALUATION_ERROR


def test_c_demo_template_with_empty_groups():
    plan = parse_template(C_DEMO_TEMPLATE).evaluate({"SerialNumber": "0123"}, certificate_id=CERT_ID)
    assert plan.thing is not None
    assert (plan.thing.thing_name, plan.thing.thing_type_name) == ("fp_demo_0123", "fp_demo_things")
    assert plan.thing.thing_groups == () and dict(plan.thing.attributes) == {}
    assert plan.certificate is not None and plan.certificate.status is CertificateStatus.ACTIVE
    (policy,) = plan.policies
    assert policy.by_name and policy.policy_name == "demo_thing_policy"
    assert plan.device_configuration == {}


def test_c_demo_template_ignores_spoofed_certificate_id():
    plan = parse_template(C_DEMO_TEMPLATE).evaluate(
        {"SerialNumber": "1", "AWS::IoT::Certificate::Id": "f" * 64}, certificate_id=CERT_ID
    )
    assert plan.certificate is not None and plan.certificate.certificate_id == CERT_ID


def test_docs_fleet_example_as_printed_is_invalid_json():
    with pytest.raises(TemplateValidationError, match="not valid JSON"):
        parse_template(DOCS_FLEET_EXAMPLE_AS_PRINTED)


def test_docs_fleet_example_parses_but_has_no_thing_name():
    template = parse_template(DOCS_FLEET_EXAMPLE)
    with pytest.raises(TemplateEvaluationError, match="ThingName is required"):
        template.evaluate({"SerialNumber": "1", "DeviceLocation": "Seattle"}, certificate_id=CERT_ID)
    body = json.loads(DOCS_FLEET_EXAMPLE)
    body["Resources"]["thing"]["Properties"]["ThingName"] = {"Ref": "SerialNumber"}
    plan = parse_template(body).evaluate({"SerialNumber": "1", "DeviceLocation": "Seattle"}, certificate_id=CERT_ID)
    assert plan.thing is not None
    assert plan.thing.thing_type_name == "ThingPrefix_1"
    assert plan.thing.thing_groups == ("v1-lightbulbs", "WA")
    assert plan.thing.billing_group == "LightBulbBillingGroup"
    assert plan.device_configuration["LocationUrl"] == "https://example.aws"


def test_docs_certificate_id_example_with_default_and_escaped_policy():
    # As printed, the docs' thing has no ThingName, which no registry can create.
    with pytest.raises(TemplateEvaluationError, match="ThingName is required"):
        parse_template(DOCS_CERT_ID_TEMPLATE).evaluate(
            {"SerialNumber": "SN1", "CertificateId": CERT_ID}, certificate_id=CERT_ID
        )
    body = copy.deepcopy(DOCS_CERT_ID_TEMPLATE)
    body["Resources"]["thing"]["Properties"]["ThingName"] = {"Ref": "SerialNumber"}
    template = parse_template(body)
    plan = template.evaluate({"SerialNumber": "SN1", "CertificateId": CERT_ID}, certificate_id=CERT_ID)
    assert plan.thing is not None
    assert plan.thing.thing_groups == ("v1-lightbulbs", "WA")
    assert dict(plan.thing.attributes) == {"version": "v1", "serialNumber": "SN1"}
    (policy,) = plan.policies
    assert policy.policy is not None
    assert policy.policy.document()["Statement"][0]["Action"] == ["iot:Publish"]
    located = template.evaluate(
        {"SerialNumber": "SN1", "CertificateId": CERT_ID, "Location": "OR"}, certificate_id=CERT_ID
    )
    assert located.thing is not None and located.thing.thing_groups == ("v1-lightbulbs", "OR")
    # The same document in object form gets the same hash-derived name.
    as_object = copy.deepcopy(body)
    policy_props = as_object["Resources"]["policy"]["Properties"]
    policy_props["PolicyDocument"] = json.loads(policy_props["PolicyDocument"])
    plan2 = parse_template(as_object).evaluate(
        {"SerialNumber": "SN1", "CertificateId": CERT_ID}, certificate_id=CERT_ID
    )
    assert plan2.policies[0].policy_name == policy.policy_name


def test_docs_certificate_id_example_must_name_registered_certificate():
    template = parse_template(
        {**DOCS_CERT_ID_TEMPLATE, "Resources": {"certificate": DOCS_CERT_ID_TEMPLATE["Resources"]["certificate"]}}
    )
    with pytest.raises(TemplateEvaluationError, match="certificate being registered"):
        template.evaluate({"SerialNumber": "1", "CertificateId": "d" * 64}, certificate_id=CERT_ID)


@pytest.mark.parametrize(
    "properties",
    [
        {"CertificateSigningRequest": {"Ref": "CSR"}, "Status": "ACTIVE"},
        {"CACertificatePem": {"Ref": "CACertificatePem"}, "CertificatePem": {"Ref": "CertificatePem"}},
        {"CertificateId": "x", "CertificateSigningRequest": "y"},
        {"Status": "ACTIVE"},
    ],
)
def test_jitp_certificate_forms_are_rejected_for_fleet(properties):
    with pytest.raises(TemplateValidationError, match="CertificateId"):
        parse_template({"Resources": {"certificate": {"Type": "AWS::IoT::Certificate", "Properties": properties}}})


def test_hook_example_references_undeclared_parameter():
    template = parse_template(HOOK_EXAMPLE_TEMPLATE)
    assert any("undeclared parameter SerialNumber" in w for w in template.warnings)
    plan = template.evaluate({"SerialNumber": "7", "DeviceLocation": "Seattle"}, certificate_id=CERT_ID)
    assert plan.thing is not None
    assert (plan.thing.thing_name, plan.thing.thing_type_name) == ("ThingPrefix_7", "ThingTypePrefix_7")
    with pytest.raises(TemplateEvaluationError) as info:
        template.evaluate({"DeviceLocation": "Seattle"}, certificate_id=CERT_ID)
    assert info.value.case is RejectionCase.MISSING_PARAMETER
    assert info.value.context == {"parameter": "SerialNumber"}


def test_certificate_id_alternative_spelling():
    body = minimal()
    body["Resources"]["certificate"]["Properties"] = {"CertificateID": {"Ref": "AWS::IoT::Certificate::Id"}}
    plan = parse_template(body).evaluate({}, certificate_id=CERT_ID)
    assert plan.certificate is not None and plan.certificate.certificate_id == CERT_ID


# -------------------------------------------------------------------------------------------- functions


def test_join_select_split():
    assert config_value({"Fn::Join": [",", ["a", "b", "c"]]}) == "a,b,c"
    assert config_value({"Fn::Join": ["", []]}) == ""
    assert config_value({"Fn::Select": [1, ["a", "b", "c"]]}) == "b"
    assert config_value({"Fn::Select": ["2", {"Fn::Split": [",", "x,y,z"]}]}) == "z"
    assert config_value({"Fn::Select": [{"Ref": "I"}, ["a", "b"]]}, {"I": "1"}) == "b"
    assert config_value({"Fn::Join": ["-", {"Fn::Split": ["/", {"Ref": "P"}]}]}, {"P": "a/b//c"}) == "a-b--c"


@pytest.mark.parametrize(
    "expression",
    [
        {"Fn::Select": [3, ["a", "b", "c"]]},
        {"Fn::Select": [-1, ["a", "b"]]},
        {"Fn::Select": [0, [None]]},
        {"Fn::Select": ["x", ["a"]]},
        {"Fn::Select": [0, "abc"]},
        {"Fn::Join": [",", ["a", 1]]},
        {"Fn::Join": [",", "ab"]},
        {"Fn::Split": [",", ["a"]]},
        {"Fn::Split": [",", "a,b"]},  # a list is not a DeviceConfiguration string
        {"Fn::FindInMap": ["M", "k", "missing"]},
        {"Fn::FindInMap": ["M", "k", "list"]},
    ],
)
def test_select_and_type_errors_are_provisioning_errors(expression):
    with pytest.raises(TemplateEvaluationError) as info:
        config_value(expression, Mappings={"M": {"k": {"v": "1", "list": ["a", "b"]}}})
    assert info.value.case is RejectionCase.TEMPLATE_EVALUATION_ERROR


def test_find_in_map_with_refs():
    mappings = {"Regions": {"us": {"Url": "https://us.example"}, "eu": {"Url": "https://eu.example"}}}
    expression = {"Fn::FindInMap": ["Regions", {"Ref": "R"}, "Url"]}
    assert config_value(expression, {"R": "eu"}, Mappings=mappings) == "https://eu.example"
    assert config_value({"Fn::FindInMap": [{"Ref": "M"}, "us", "Url"]}, {"M": "Regions"}, Mappings=mappings) == (
        "https://us.example"
    )


def test_sub_both_forms_and_escape():
    params = {"Parameters": {"Name": {"Type": "String"}}}
    assert config_value({"Fn::Sub": "id-${Name}-x"}, {"Name": "n1"}, **params) == "id-n1-x"
    assert config_value({"Fn::Sub": "${!Literal} and ${Name}"}, {"Name": "n"}, **params) == "${Literal} and n"
    assert config_value(
        {"Fn::Sub": ["${A}/${Name}", {"A": {"Fn::Join": ["", ["x", "y"]]}}]}, {"Name": "n"}, **params
    ) == ("xy/n")
    assert config_value({"Fn::Sub": "cert ${AWS::IoT::Certificate::Id}"}) == f"cert {CERT_ID}"
    assert config_value({"Fn::Sub": "no vars, unterminated ${"}) == "no vars, unterminated ${"


@pytest.mark.parametrize(
    "expression",
    [
        {"Fn::Sub": "${AWS::Region}"},
        {"Ref": "AWS::AccountId"},
        {"Fn::If": ["C", "a", "b"]},
        {"Fn::Equals": ["a", "b"]},
        {"Fn::Base64": "x"},
        {"Fn::GetAtt": ["certificate", "Arn"]},
        {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]},
        {"Ref": "certificate"},
        {"Fn::Sub": "${certificate.Arn}"},
    ],
)
def test_undocumented_functions_rejected_unless_lenient(expression):
    with pytest.raises(TemplateValidationError, match="lenient"):
        parse_template(minimal(DeviceConfiguration={"v": expression}))


@pytest.mark.parametrize(
    "expression",
    [
        {"Fn::ImportValue": "x"},
        {"Fn::Join": ["a"]},
        {"Fn::Join": [1, ["a"]]},
        {"Fn::Select": [True, ["a"]]},
        {"Fn::Split": ["", "abc"]},
        {"Fn::FindInMap": ["Nope", "a", "b"]},
        {"Fn::FindInMap": ["a", "b"]},
        {"Fn::Sub": ["x", "not a map"]},
        {"Fn::Sub": 5},
        {"Fn::Sub": "${}"},
        {"Ref": 5},
        {"Fn::Join": [",", [{"Fn::Bogus": 1}]]},
    ],
)
def test_malformed_intrinsics_are_validation_errors(expression):
    with pytest.raises(TemplateValidationError):
        parse_template(minimal(DeviceConfiguration={"v": expression}), lenient=True)


def test_conditions_section_needs_lenient():
    with pytest.raises(TemplateValidationError, match="lenient"):
        parse_template(minimal(Conditions={"C": {"Fn::Equals": ["a", "a"]}}))


def test_lenient_cloudformation_superset():
    conditions = {
        "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
        "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "NotProd"}]}]},
    }
    body = {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Conditions": conditions,
        "Resources": {
            "thing": {
                "Type": "AWS::IoT::Thing",
                "Properties": {
                    "ThingName": {"Fn::If": ["IsProd", "prod-thing", "dev-thing"]},
                    "ThingTypeName": {"Fn::If": ["IsProd", "prodType", {"Ref": "AWS::NoValue"}]},
                    "ThingGroups": ["g1", {"Fn::If": ["NotProd", "dev-group", {"Ref": "AWS::NoValue"}]}],
                },
            },
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}},
            },
            "prodPolicy": {"Type": "AWS::IoT::Policy", "Condition": "IsProd", "Properties": {"PolicyName": "prod"}},
        },
        "DeviceConfiguration": {
            "Region": {"Fn::Sub": "${AWS::Region}/${AWS::AccountId}"},
            "ThingArn": {"Fn::GetAtt": ["thing", "Arn"]},
            "CertArn": {"Fn::Sub": "${certificate.Arn}"},
            "Name": {"Ref": "thing"},
            "B64": {"Fn::Base64": "hi"},
            "Both": {"Fn::If": ["Both", "yes", "no"]},
        },
    }
    template = parse_template(body, lenient=True)
    dev = template.evaluate({}, certificate_id=CERT_ID, **_aws(True))
    assert dev.thing is not None
    assert (dev.thing.thing_name, dev.thing.thing_type_name, dev.thing.thing_groups) == (
        "dev-thing",
        None,
        ("g1", "dev-group"),
    )
    assert dev.policies == ()
    assert dev.device_configuration == {
        "Region": "us-east-1/123456789012",
        "ThingArn": "arn:aws:iot:us-east-1:123456789012:thing/dev-thing",
        "CertArn": f"arn:aws:iot:us-east-1:123456789012:cert/{CERT_ID}",
        "Name": "dev-thing",
        "B64": "aGk=",
        "Both": "no",
    }
    prod = template.evaluate({"Stage": "prod"}, certificate_id=CERT_ID, **_aws(True))
    assert prod.thing is not None and prod.thing.thing_type_name == "prodType"
    assert [p.policy_name for p in prod.policies] == ["prod"]
    assert prod.device_configuration["Both"] == "yes"
    with pytest.raises(TemplateEvaluationError, match="AWS::Region"):
        template.evaluate({}, certificate_id=CERT_ID)


def test_lenient_condition_cycle_is_evaluation_error():
    body = minimal(
        Conditions={"A": {"Fn::Not": [{"Condition": "B"}]}, "B": {"Fn::Not": [{"Condition": "A"}]}},
        DeviceConfiguration={"v": {"Fn::If": ["A", "x", "y"]}},
    )
    with pytest.raises(TemplateEvaluationError, match="itself"):
        parse_template(body, lenient=True).evaluate({}, certificate_id=CERT_ID)


def test_lenient_getatt_cycle_is_evaluation_error():
    body = {
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Fn::GetAtt": ["thing", "Arn"]}}},
        }
    }
    with pytest.raises(TemplateEvaluationError, match="itself"):
        parse_template(body, lenient=True).evaluate({}, certificate_id=CERT_ID, **_aws(True))


# ----------------------------------------------------------------------------------- pseudo-parameters


def _certificate(*attributes):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(99)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_certificate_subject_pseudo_parameters():
    cert = _certificate(
        (NameOID.COMMON_NAME, "device-1"),
        (NameOID.COUNTRY_NAME, "US"),
        (NameOID.ORGANIZATION_NAME, "Org"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "Unit"),
        (NameOID.DN_QUALIFIER, "q"),
        (NameOID.STATE_OR_PROVINCE_NAME, "WA"),
        (NameOID.SERIAL_NUMBER, "SN-9"),
    )
    subject = certificate_subject_fields(cert)
    assert subject == {
        "CommonName": "device-1",
        "Country": "US",
        "Organization": "Org",
        "OrganizationalUnit": "Unit",
        "DistinguishedNameQualifier": "q",
        "StateName": "WA",
        "SerialNumber": "SN-9",
    }
    names = list(subject)
    body = minimal(DeviceConfiguration={n: {"Ref": f"AWS::IoT::Certificate::{n}"} for n in names})
    plan = parse_template(body).evaluate(
        {"AWS::IoT::Certificate::CommonName": "spoof"}, certificate_id=CERT_ID, certificate_subject=subject
    )
    assert plan.device_configuration == subject


def test_missing_subject_field_uses_default_or_fails():
    subject = certificate_subject_fields(_certificate((NameOID.COMMON_NAME, "only-cn")))
    with_default = minimal(
        Parameters={"AWS::IoT::Certificate::Country": {"Type": "String", "Default": "ZZ"}},
        DeviceConfiguration={"c": {"Ref": "AWS::IoT::Certificate::Country"}},
    )
    plan = parse_template(with_default).evaluate({}, certificate_id=CERT_ID, certificate_subject=subject)
    assert plan.device_configuration == {"c": "ZZ"}
    without = minimal(DeviceConfiguration={"c": {"Ref": "AWS::IoT::Certificate::Country"}})
    with pytest.raises(TemplateEvaluationError) as info:
        parse_template(without).evaluate({}, certificate_id=CERT_ID, certificate_subject=subject)
    assert info.value.case is RejectionCase.MISSING_PARAMETER


# ------------------------------------------------------------------------------------------- validation


def _thing(properties, overrides=None):
    resource = {"Type": "AWS::IoT::Thing", "Properties": properties}
    if overrides is not None:
        resource["OverrideSettings"] = overrides
    return {"Resources": {"thing": resource}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "JSON object"),
        (b"\xff", "UTF-8"),
        ({"Resources": {}, "Outputs": {}}, "unknown top-level section"),
        ({"Parameters": {}}, "Resources section is required"),
        ({"Resources": []}, "JSON object"),
        ({"Parameters": {"P": {"Type": "Number"}}, "Resources": {}}, "Type must be 'String'"),
        ({"Parameters": {"P": {"Type": "String", "Default": 1}}, "Resources": {}}, "Default must be a string"),
        ({"Parameters": {"P": {"Type": "String", "AllowedValues": ["a"]}}, "Resources": {}}, "unsupported parameter"),
        ({"Mappings": {"M": {"k": {"Ref": "P"}}}, "Resources": {}}, "Mappings cannot contain intrinsic"),
        (
            {"Mappings": {"M": {"k": {"v": {"Fn::Join": ["", ["a"]]}}}}, "Resources": {}},
            "Mappings cannot contain intrinsic",
        ),
        ({"Mappings": {"M": {"k": {"v": 5}}}, "Resources": {}}, "Mappings cannot contain anything but strings"),
        ({"Resources": {"r": {"Type": "AWS::IoT::Role"}}}, "Type must be one of"),
        (
            {"Resources": {"r": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p"}, "DependsOn": "x"}}},
            "unsupported resource",
        ),
        (_thing({"ThingName": "a", "Color": "red"}), "unknown AWS::IoT::Thing property"),
        (_thing({"ThingName": "a", "ThingGroups": "g"}), "ThingGroups must be a list"),
        (_thing({"ThingName": "a", "AttributePayload": {"n": 5}}), "attribute values must be strings"),
        (_thing({"ThingName": "a"}, {"ThingTypeName": "MERGE"}), "MERGE is valid only"),
        (_thing({"ThingName": "a"}, {"ThingGroups": "UPSERT"}), "unknown override"),
        (_thing({"ThingName": "a"}, {"BillingGroup": "REPLACE"}), "no override setting"),
        (_thing({"ThingName": "a"}, {"AttributePayload": "MERGE", "ATTRIBUTE_PAYLOAD": "REPLACE"}), "conflicting"),
        (
            {
                "Resources": {
                    "t1": _thing({"ThingName": "a"})["Resources"]["thing"],
                    "t2": _thing({"ThingName": "b"})["Resources"]["thing"],
                }
            },
            "at most one AWS::IoT::Thing",
        ),
        ({"Resources": {"p": {"Type": "AWS::IoT::Policy", "Properties": {}}}}, "exactly one of PolicyName"),
        (
            {
                "Resources": {
                    "p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "a", "PolicyDocument": "{}"}}
                }
            },
            "exactly one of PolicyName",
        ),
        (
            {
                "Resources": {
                    "p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "a"}, "OverrideSettings": {}}
                }
            },
            "not available for policies",
        ),
        (
            {"Resources": {"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{bad"}}}},
            "invalid policy document",
        ),
        (
            {"Resources": {"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": {"Statement": []}}}}},
            "invalid policy document",
        ),
        (
            {"Resources": {"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": 7}}}},
            "JSON object or an escaped",
        ),
        (minimal(DeviceConfiguration={"nested": {"a": "b"}}), "no nesting"),
        (minimal(DeviceConfiguration={"n": 5}), "values must be strings"),
        (minimal(DeviceConfiguration=["x"]), "JSON object"),
        (
            {
                "Resources": {
                    "c": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "x", "Status": "PENDING"}}
                }
            },
            "Status must be ACTIVE or INACTIVE",
        ),
        (
            {"Resources": {"c": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": "x", "Status": 1}}}},
            "Status must be a string",
        ),
        (minimal(DeviceConfiguration={"v": {"Fn::Join": ["", DEEP]}}), "nested deeper"),
        (minimal(DeviceConfiguration={"v": "x" * TEMPLATE_BODY_MAX_CHARS}), "longer than 10240"),
    ],
)
def test_validation_errors(body, message):
    with pytest.raises(TemplateValidationError, match=message):
        parse_template(body)


def test_upper_case_override_keys_are_accepted():
    template = parse_template(
        _thing(
            {"ThingName": "a"},
            {
                "ATTRIBUTE_PAYLOAD": "MERGE",
                "THING_TYPE_NAME": "FAIL",
                "THING_GROUPS": "REPLACE",
                "AttributePayload": "MERGE",
            },
        )
    )
    plan = template.evaluate({}, certificate_id=CERT_ID)
    assert plan.thing is not None
    assert plan.thing.overrides == ThingOverrides(Override.MERGE, Override.FAIL, Override.REPLACE)
    assert plan.certificate is None


@pytest.mark.parametrize(
    ("status", "expected"), [("ACTIVE", "ACTIVE"), ("Active", "ACTIVE"), ("inactive", "INACTIVE"), (None, "ACTIVE")]
)
def test_certificate_status_case_insensitive_default_active(status, expected):
    body = minimal()
    if status is not None:
        body["Resources"]["certificate"]["Properties"]["Status"] = {"Ref": "S"}
    plan = parse_template(body).evaluate({"S": status} if status else {}, certificate_id=CERT_ID)
    assert plan.certificate is not None and plan.certificate.status is CertificateStatus(expected)


def test_status_from_parameter_is_checked_at_evaluation():
    body = minimal()
    body["Resources"]["certificate"]["Properties"]["Status"] = {"Ref": "S"}
    with pytest.raises(TemplateEvaluationError, match="Status"):
        parse_template(body).evaluate({"S": "REVOKED"}, certificate_id=CERT_ID)


@pytest.mark.parametrize(
    ("properties", "parameters"),
    [
        ({"ThingName": {"Ref": "N"}}, {"N": "has space"}),
        ({"ThingName": {"Ref": "N"}}, {"N": ""}),
        ({"ThingName": "ok", "AttributePayload": {"a": {"Ref": "N"}}}, {"N": "bad value"}),
        ({"ThingName": "ok", "ThingGroups": [{"Ref": "N"}]}, {"N": "bad/group"}),
        ({"ThingName": "ok", "ThingGroups": {"Fn::Split": [",", {"Ref": "N"}]}}, {"N": "a,"}),
        ({"ThingName": "ok", "ThingTypeName": {"Ref": "N"}}, {"N": "x" * 129}),
        ({"ThingName": {"Fn::Split": [",", "a,b"]}}, {}),
    ],
)
def test_evaluated_names_must_satisfy_aws_patterns(properties, parameters):
    with pytest.raises(TemplateEvaluationError):
        parse_template(_thing(properties)).evaluate(parameters, certificate_id=CERT_ID)


def test_thing_groups_from_split_are_deduplicated():
    plan = parse_template(_thing({"ThingName": "t", "ThingGroups": {"Fn::Split": [",", {"Ref": "G"}]}})).evaluate(
        {"G": "a,b,a"}, certificate_id=CERT_ID
    )
    assert plan.thing is not None and plan.thing.thing_groups == ("a", "b")


def test_policy_document_with_intrinsics():
    body = {
        "Parameters": {"ThingName": {"Type": "String"}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "ThingName"}}},
            "policy": {
                "Type": "AWS::IoT::Policy",
                "Properties": {
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": "iot:Connect",
                                "Resource": {
                                    "Fn::Join": [
                                        "",
                                        ["arn:aws:iot:us-east-1:123456789012:client/", {"Ref": "ThingName"}],
                                    ]
                                },
                            }
                        ],
                    }
                },
            },
            "named": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": {"Fn::Sub": "${ThingName}-policy"}}},
        },
    }
    template = parse_template(body)
    plan_a = template.evaluate({"ThingName": "a"}, certificate_id=CERT_ID)
    plan_b = template.evaluate({"ThingName": "b"}, certificate_id=CERT_ID)
    created, named = plan_a.policies
    assert created.policy is not None
    assert created.policy.document()["Statement"][0]["Resource"] == "arn:aws:iot:us-east-1:123456789012:client/a"
    assert named.by_name and named.policy_name == "a-policy"
    assert plan_b.policies[0].policy_name != created.policy_name
    # An evaluated document that is not a valid policy is a provisioning error.
    bad = copy.deepcopy(body)
    bad["Resources"]["policy"]["Properties"]["PolicyDocument"] = {"Fn::Sub": '{"Statement": "${ThingName}"}'}
    with pytest.raises(TemplateEvaluationError, match="PolicyDocument"):
        parse_template(bad).evaluate({"ThingName": "a"}, certificate_id=CERT_ID)


def test_policy_variables_in_template_policy_stay_literal():
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}",
            }
        ],
    }
    body = minimal(Resources={"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": document}}})
    (policy,) = parse_template(body).evaluate({}, certificate_id=CERT_ID).policies
    assert policy.policy is not None and policy.policy.document() == document


def test_template_without_resources_of_any_kind():
    plan = parse_template({"Resources": {}, "DeviceConfiguration": {"a": "b"}}).evaluate({}, certificate_id=CERT_ID)
    assert (plan.thing, plan.certificate, plan.policies, plan.thing_name) == (None, None, (), "")
    assert plan.device_configuration == {"a": "b"}


def test_body_json_round_trip():
    template = parse_template(C_DEMO_TEMPLATE)
    assert json.loads(template.body_json()) == C_DEMO_TEMPLATE
    assert not template.lenient


# --------------------------------------------------------------------------------- OverrideSettings plan


def spec(**kw):
    base = {
        "logical_id": "thing",
        "thing_name": "t1",
        "attributes": {"a": "new", "b": "2"},
        "thing_type_name": "typeB",
        "thing_groups": ("g2", "g3"),
        "billing_group": "bill2",
    }
    base.update(kw)
    return ThingSpec(**base)


EXISTING = ThingRecord("t1", {"a": "old", "c": "3"}, "typeA", ("g1", "g2"), "bill1")


def test_create_when_thing_is_new():
    change = plan_thing_change(None, spec())
    assert change.action is ThingAction.CREATE
    assert change.record == ThingRecord("t1", {"a": "new", "b": "2"}, "typeB", ("g2", "g3"), "bill2")
    assert change.groups_added == ("g2", "g3") and change.groups_removed == ()


def test_do_nothing_keeps_everything():
    change = plan_thing_change(EXISTING, spec())
    assert change.action is ThingAction.UNCHANGED
    assert change.record == EXISTING and change.previous == EXISTING


def test_replace():
    change = plan_thing_change(
        EXISTING, spec(overrides=ThingOverrides(Override.REPLACE, Override.REPLACE, Override.REPLACE))
    )
    assert change.action is ThingAction.UPDATE
    assert change.record == ThingRecord("t1", {"a": "new", "b": "2"}, "typeB", ("g2", "g3"), "bill1")
    assert change.groups_added == ("g3",) and change.groups_removed == ("g1",)


def test_replace_removes_unset_thing_type():
    change = plan_thing_change(
        EXISTING, spec(thing_type_name=None, overrides=ThingOverrides(thing_type_name=Override.REPLACE))
    )
    assert change.record.thing_type is None


def test_merge_attributes_and_groups():
    change = plan_thing_change(
        EXISTING, spec(overrides=ThingOverrides(Override.MERGE, Override.DO_NOTHING, Override.MERGE))
    )
    assert dict(change.record.attributes) == {"a": "new", "c": "3", "b": "2"}
    assert change.record.groups == ("g1", "g2", "g3")
    assert change.record.thing_type == "typeA"
    assert change.groups_removed == ()


@pytest.mark.parametrize(
    "overrides",
    [
        ThingOverrides(attribute_payload=Override.FAIL),
        ThingOverrides(thing_type_name=Override.FAIL),
        ThingOverrides(thing_groups=Override.FAIL),
    ],
)
def test_fail_on_change_is_resource_conflict(overrides):
    with pytest.raises(TemplateEvaluationError) as info:
        plan_thing_change(EXISTING, spec(overrides=overrides))
    assert info.value.case is RejectionCase.RESOURCE_CONFLICT
    assert info.value.context == {"thing_name": "t1"}


def test_fail_without_change_passes():
    same = spec(attributes={"a": "old", "c": "3"}, thing_type_name="typeA", thing_groups=("g2", "g1"))
    change = plan_thing_change(
        EXISTING,
        same.__class__(**{**_fields(same), "overrides": ThingOverrides(Override.FAIL, Override.FAIL, Override.FAIL)}),
    )
    assert change.action is ThingAction.UNCHANGED


def _fields(thing_spec):
    return {name: getattr(thing_spec, name) for name in ThingSpec.__dataclass_fields__}


def test_plan_certificate_status():
    active = CertificateSpec("c", CERT_ID, CertificateStatus.ACTIVE, Override.DO_NOTHING)
    assert plan_certificate_status("PENDING_ACTIVATION", active) == "ACTIVE"
    assert plan_certificate_status("INACTIVE", active) == "INACTIVE"
    assert plan_certificate_status("INACTIVE", CertificateSpec("c", CERT_ID, CertificateStatus.ACTIVE)) == "ACTIVE"
    failing = CertificateSpec("c", CERT_ID, CertificateStatus.ACTIVE, Override.FAIL)
    assert plan_certificate_status("ACTIVE", failing) == "ACTIVE"
    with pytest.raises(TemplateEvaluationError) as info:
        plan_certificate_status("INACTIVE", failing)
    assert info.value.case is RejectionCase.RESOURCE_CONFLICT


# ---------------------------------------------------------------------------------------- properties

SCOPE = Scope(parameter_defaults={}, mappings={}, resources={})
pieces = st.text(alphabet=st.characters(blacklist_characters=","), max_size=8)


@given(st.lists(pieces, min_size=1, max_size=8))
def test_split_inverts_join(items):
    evaluator = Evaluator(SCOPE, {}, certificate_id=CERT_ID)
    joined = evaluator.evaluate({"Fn::Join": [",", items]})
    assert evaluator.evaluate({"Fn::Split": [",", joined]}) == items


@given(st.text(max_size=30), st.sampled_from([",", "/", "::", "a"]))
def test_join_inverts_split(text, delimiter):
    evaluator = Evaluator(SCOPE, {"P": text}, certificate_id=CERT_ID)
    split = {"Fn::Split": [delimiter, {"Ref": "P"}]}
    assert evaluator.evaluate({"Fn::Join": [delimiter, split]}) == text
    index = len(text.split(delimiter)) - 1
    assert evaluator.evaluate({"Fn::Select": [index, split]}) == text.split(delimiter)[-1]


@given(st.text(max_size=30).filter(lambda s: "${" not in s))
def test_sub_without_references_is_identity(text):
    assert Evaluator(SCOPE, {}, certificate_id=CERT_ID).evaluate({"Fn::Sub": text}) == text


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8}", fullmatch=True), st.text(max_size=12))
def test_sub_escape_and_substitution(name, value):
    evaluator = Evaluator(SCOPE, {name: value}, certificate_id=CERT_ID)
    assert evaluator.evaluate({"Fn::Sub": f"<${{{name}}}|${{!{name}}}>"}) == f"<{value}|${{{name}}}>"


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["", "x", "Active", "AWS::IoT::Certificate::Id", "${P}", "M"])
)
keys = st.sampled_from(
    [
        "Parameters",
        "Mappings",
        "Resources",
        "DeviceConfiguration",
        "Conditions",
        "Type",
        "Properties",
        "OverrideSettings",
        "Default",
        "ThingName",
        "ThingGroups",
        "AttributePayload",
        "CertificateId",
        "Status",
        "PolicyName",
        "PolicyDocument",
        "Ref",
        "Fn::Join",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::Sub",
        "Fn::If",
        "Fn::GetAtt",
        "Condition",
        "String",
        "AWS::IoT::Thing",
        "AWS::IoT::Certificate",
        "AWS::IoT::Policy",
        "P",
        "M",
    ]
)
json_values = st.recursive(
    json_leaf | keys,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=5), st.booleans())
def test_garbage_templates_only_raise_module_errors(body, lenient):
    try:
        template = parse_template(body, lenient=lenient)
    except TemplateValidationError:
        return
    with contextlib.suppress(TemplateEvaluationError):
        template.evaluate({"P": "x", "M": "M"}, certificate_id=CERT_ID, **_aws(lenient))


@settings(max_examples=200)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_garbage_text_only_raises_validation_error(body):
    with contextlib.suppress(TemplateValidationError):
        parse_template(body)


names = st.sampled_from(
    [
        "P",
        "Q",
        "Undeclared",
        "AWS::IoT::Certificate::Id",
        "AWS::IoT::Certificate::CommonName",
        "AWS::Region",
        "AWS::NoValue",
        "thing",
    ]
)
strings = st.sampled_from(["", "x", "a,b", "1", "Active", "M", "k", "v", "${P}", "${!P}", "${thing.Arn}", "a b"])
expressions = st.recursive(
    strings | st.integers(-2, 3) | st.builds(lambda n: {"Ref": n}, names),
    lambda e: st.one_of(
        st.lists(e, max_size=3),
        st.builds(lambda d, xs: {"Fn::Join": [d, xs]}, st.sampled_from([",", ""]), st.lists(e, max_size=3) | e),
        st.builds(lambda i, xs: {"Fn::Select": [i, xs]}, e, st.lists(e, max_size=3) | e),
        st.builds(lambda s: {"Fn::Split": [",", s]}, e),
        st.builds(lambda a, b, c: {"Fn::FindInMap": [a, b, c]}, e, e, e),
        st.builds(lambda s: {"Fn::Sub": s}, strings),
        st.builds(lambda s, v: {"Fn::Sub": [s, {"V": v}]}, strings, e),
        st.builds(lambda a, b: {"Fn::If": ["C", a, b]}, e, e),
        st.builds(lambda a, b: {"Fn::Equals": [a, b]}, e, e),
        st.builds(lambda a: {"Fn::Base64": a}, e),
        st.just({"Fn::GetAtt": ["thing", "Arn"]}),
    ),
    max_leaves=8,
)


@st.composite
def structured_templates(draw):
    thing = {"ThingName": draw(expressions)}
    for key in ("AttributePayload", "ThingGroups", "ThingTypeName", "BillingGroup"):
        if draw(st.booleans()):
            thing[key] = draw(st.dictionaries(strings, expressions, max_size=2) | expressions)
    policy = draw(
        st.builds(lambda n: {"PolicyName": n}, expressions)
        | st.builds(
            lambda r: {"PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": r}}},
            expressions,
        )
    )
    body = {
        "Parameters": {"P": {"Type": "String"}, "Q": {"Type": "String", "Default": "d"}},
        "Mappings": {"M": {"k": {"v": "z", "l": ["a", "b"]}}},
        "Resources": {
            "thing": {"Type": "AWS::IoT::Thing", "Properties": thing},
            "certificate": {
                "Type": "AWS::IoT::Certificate",
                "Properties": {"CertificateId": draw(st.just({"Ref": "AWS::IoT::Certificate::Id"}) | expressions)},
            },
            "policy": {"Type": "AWS::IoT::Policy", "Properties": policy},
        },
        "DeviceConfiguration": draw(st.dictionaries(strings, expressions, max_size=3)),
    }
    lenient = draw(st.booleans())
    if lenient:
        body["Conditions"] = {"C": {"Fn::Equals": [draw(expressions), draw(expressions)]}}
    return body, lenient


@settings(max_examples=400, deadline=None)
@given(structured_templates(), st.dictionaries(st.sampled_from(["P", "Q", "Undeclared"]), strings, max_size=3))
def test_structured_templates_only_raise_module_errors(item, parameters):
    body, lenient = item
    try:
        template = parse_template(body, lenient=lenient)
    except TemplateValidationError:
        return
    try:
        plan = template.evaluate(
            parameters, certificate_id=CERT_ID, certificate_subject={"CommonName": "cn"}, **_aws(lenient)
        )
    except TemplateEvaluationError as exc:
        assert isinstance(exc.case, RejectionCase)
        return
    assert all(isinstance(v, str) for v in plan.device_configuration.values())
