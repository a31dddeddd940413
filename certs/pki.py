"""X.509 building blocks on `cryptography`: CAs, server and client leaves, CSR signing, certificate ids."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
KeyType = Literal["rsa", "ec"]

_DAY = datetime.timedelta(days=1)


class CsrError(ValueError):
    """A certificate signing request could not be parsed or is not acceptable (remote input)."""


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate with its private key (the key is None for certificates issued from a CSR)."""

    cert: x509.Certificate
    key: PrivateKey | None

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, traditional: bool = False) -> bytes:
        if self.key is None:
            raise ValueError("no private key for this certificate")
        fmt = (serialization.PrivateFormat.TraditionalOpenSSL if traditional
               else serialization.PrivateFormat.PKCS8)
        return self.key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())

    @property
    def certificate_id(self) -> str:
        return certificate_id(self.cert)


def generate_key(key_type: KeyType = "rsa", rsa_bits: int = 2048) -> PrivateKey:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    return ec.generate_private_key(ec.SECP256R1())


def certificate_id(cert: x509.Certificate) -> str:
    """AWS IoT's certificate id: hex SHA-256 of the DER encoding."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _name(common_name: str, organization: str | None = "provemu") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: PublicKey, now: datetime.datetime,
             days: int) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
            .not_valid_before(now - _DAY)
            .not_valid_after(now + days * _DAY))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def create_ca(common_name: str, key_type: KeyType = "rsa", days: int = 3650) -> CertifiedKey:
    key = generate_key(key_type)
    name = _name(common_name)
    cert = (_builder(name, name, key.public_key(), _now(), days)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return CertifiedKey(cert, key)


def _sign_leaf(ca: CertifiedKey, subject: x509.Name, public_key: PublicKey, eku: x509.ObjectIdentifier,
               days: int, san: list[x509.GeneralName] | None = None) -> x509.Certificate:
    if ca.key is None:
        raise ValueError("the CA has no private key")
    builder = (_builder(subject, ca.cert.subject, public_key, _now(), days)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def issue_server_cert(ca: CertifiedKey, names: Iterable[str], days: int = 365) -> CertifiedKey:
    """A TLS server leaf (RSA 2048, ServerAuth) whose SAN holds every DNS name and IP literal in `names`."""
    names = list(dict.fromkeys(names))
    san: list[x509.GeneralName] = []
    for name in names:
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            san.append(x509.DNSName(name))
    key = generate_key("rsa")
    cert = _sign_leaf(ca, _name(names[0] if names else "localhost"), key.public_key(),
                      ExtendedKeyUsageOID.SERVER_AUTH, days, san)
    return CertifiedKey(cert, key)


def issue_client_cert(ca: CertifiedKey, common_name: str, public_key: PublicKey | None = None,
                      key_type: KeyType = "rsa", days: int = 3650,
                      subject: x509.Name | None = None) -> CertifiedKey:
    """A TLS client leaf (ClientAuth). With `public_key` given, no private key is generated or returned."""
    key = None if public_key is not None else generate_key(key_type)
    pub = public_key if public_key is not None else key.public_key()  # type: ignore[union-attr]
    cert = _sign_leaf(ca, subject or _name(common_name, None), pub, ExtendedKeyUsageOID.CLIENT_AUTH, days)
    return CertifiedKey(cert, key)


def load_csr(csr_pem: bytes | str) -> x509.CertificateSigningRequest:
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        csr = x509.load_pem_x509_csr(data) if b"-----BEGIN" in data else x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise CsrError(f"not a certificate signing request: {exc}") from exc
    if not csr.is_signature_valid:
        raise CsrError("the CSR's signature does not verify")
    public_key = csr.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise CsrError("only RSA and EC keys are accepted")
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size < 2048:
        raise CsrError("RSA keys must have at least 2048 bits")
    return csr


def sign_csr(ca: CertifiedKey, csr_pem: bytes | str, days: int = 3650,
             subject: x509.Name | None = None) -> x509.Certificate:
    """Issue a client certificate for the CSR's key; the subject is the CSR's unless one is given."""
    csr = load_csr(csr_pem)
    public_key = csr.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return _sign_leaf(ca, subject or csr.subject, public_key, ExtendedKeyUsageOID.CLIENT_AUTH, days)


def make_csr(key: PrivateKey, common_name: str) -> bytes:
    """A PEM CSR for `key` (used by the reference clients and tests)."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(_name(common_name, None))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def load_certificate(pem: bytes | str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("unsupported private key type")
    return key
