"""An emulated nRF91 modem's AT interface: functional modes, `%KEYGEN`, the `%CMNG` credential store,
`%JWT`, `%ATTESTTOKEN`, `%CCLK`, `+CMEE` and the identity queries (nRF91 AT
Commands reference: `%KEYGEN`, `%CMNG`, `%JWT`, `%ATTESTTOKEN`, `%CCLK`, `+CMEE`).

Sans-I/O: `handle(command, now)` returns the full response text (information lines, then `OK`, `ERROR` or
`+CME ERROR: <n>`). Invariants: credential writes, deletions and key generation are refused with CME 518
while LTE or GNSS is active (`+CFUN=1`, `21`, `31`) until both are deactivated (`+CFUN=4` or `0`, or `20`
and `30`; sdk-nrf's note on NRF_PROVISIONING_EVENT_NEED_LTE_DEACTIVATED); CME errors read as plain `ERROR`
unless `+CMEE=1`; the modem's clock is valid only after the network gave it time (`nitz_offset` applied
when LTE is activated) or `set_time` was called.
"""

from __future__ import annotations

import datetime
import hashlib
import random
import re
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from protocols.errors import RemoteProtocolError
from protocols.nrf import cose
from protocols.nrf.jwt import build_jwt

CME_NOT_FOUND, CME_NOT_ALLOWED, CME_MEMORY_FULL = 513, 514, 515
CME_ACTIVE_STATE, CME_EXISTS, CME_KEYGEN_FAILED = 518, 519, 523
# What each +CFUN value does to the two radios: (LTE, GNSS) afterwards, None where it leaves one alone.
CFUN_RADIOS: dict[int, tuple[bool | None, bool | None]] = {
    0: (False, False), 1: (True, True), 2: (False, False), 4: (False, False), 44: (False, False),
    20: (False, None), 21: (True, None), 30: (None, False), 31: (None, True), 40: (None, None), 41: (None, None),
}
CRED_CA, CRED_CERT, CRED_KEY, CRED_PSK, CRED_PSK_ID = 0, 1, 2, 3, 4
KEY_CLIENT, KEY_ENDORSEMENT = 2, 8
MAX_SEC_TAG = 2147483647
_NAME_OIDS = {"C": NameOID.COUNTRY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME, "L": NameOID.LOCALITY_NAME,
              "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
              "CN": NameOID.COMMON_NAME}


class CmeError(RemoteProtocolError):
    """An AT command the modem refuses, answered as `+CME ERROR: <code>`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def split_parameters(text: str) -> list[str]:
    """AT parameters: comma-separated, double-quoted strings may hold commas and newlines."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            out.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if quoted:
        raise CmeError(CME_NOT_ALLOWED)
    out.append("".join(current).strip())
    return out


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _int(value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise CmeError(CME_NOT_ALLOWED) from None
    if not low <= number <= high:
        raise CmeError(CME_NOT_ALLOWED)
    return number


@dataclass
class Modem:
    identity_key: ec.EllipticCurvePrivateKey
    device_id: str
    firmware_id: str
    imei: str = "351358811124234"
    firmware_version: str = "mfw_nrf91x1_2.0.2"
    device_type: int = 4
    iss_prefix: str = "nRF9160"
    send_empty_sub_aud: bool = False
    identity_certificate: bytes | None = None  # DER, carried in attestation tokens (see protocols.nrf.cose)
    max_credentials: int = 32
    mode: int = 0  # the last +CFUN value set, as +CFUN? reads it
    cmee: int = 0
    nitz_offset: float | None = 0.0
    time_offset: float | None = None
    credentials: dict[tuple[int, int], str] = field(default_factory=dict)
    keys: dict[tuple[int, int], ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.SystemRandom)  # nonces and JWT ids
    lte_active: bool = field(init=False, default=False)
    gnss_active: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.lte_active, self.gnss_active = (bool(on) for on in CFUN_RADIOS.get(self.mode, (False, False)))

    @property
    def kid(self) -> str:
        der = self.identity_key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()

    @property
    def has_time(self) -> bool:
        return self.time_offset is not None

    def set_time(self, offset: float | None) -> None:
        self.time_offset = offset

    def modem_time(self, now: float) -> float | None:
        return None if self.time_offset is None else now + self.time_offset

    def handle(self, command: str, now: float) -> str:
        try:
            info = self._dispatch(command.strip(), now)
        except CmeError as exc:
            return f"+CME ERROR: {exc.code}\r\n" if self.cmee else "ERROR\r\n"
        if info is None:
            return "ERROR\r\n"
        return f"{info}\r\nOK\r\n" if info else "OK\r\n"

    # Each handler returns the information text ("" for none) or None for a plain ERROR.
    def _dispatch(self, command: str, now: float) -> str | None:
        upper = command.upper()
        if not upper.startswith("AT"):
            return None
        body = command[2:]
        name, _, params = body.partition("=")
        query = name.endswith("?")
        name = name.rstrip("?").upper()
        handlers = {
            "+CFUN": self._cfun, "+CMEE": self._cmee, "%KEYGEN": self._keygen, "%CMNG": self._cmng,
            "%JWT": self._jwt, "%ATTESTTOKEN": self._attest, "%CCLK": self._cclk,
            "%XMODEMUUID": lambda *_: f"%XMODEMUUID: {self.firmware_id}",
            "+CGSN": lambda *_: self.imei if not params else f'+CGSN: "{self.imei}"',
            "+CGMR": lambda *_: self.firmware_version,
        }
        if body == "":
            return ""
        handler = handlers.get(name)
        if handler is None:
            return None
        return handler(params, query, now)

    def _cfun(self, params: str, query: bool, now: float) -> str | None:
        if query:
            return f"+CFUN: {self.mode}"
        mode = _int(params, 0, 99)
        if mode not in CFUN_RADIOS:
            return None
        lte, gnss = CFUN_RADIOS[mode]
        if lte and not self.lte_active and self.nitz_offset is not None:
            self.time_offset = self.nitz_offset
        self.lte_active = self.lte_active if lte is None else lte
        self.gnss_active = self.gnss_active if gnss is None else gnss
        self.mode = mode
        return ""

    def _cmee(self, params: str, query: bool, now: float) -> str | None:
        if query:
            return f"+CMEE: {self.cmee}"
        self.cmee = _int(params, 0, 1)
        return ""

    def _require_offline(self) -> None:
        if self.lte_active or self.gnss_active:
            raise CmeError(CME_ACTIVE_STATE)

    def _stored(self) -> int:
        return len(self.credentials) + len(self.keys)

    def _keygen(self, params: str, query: bool, now: float) -> str | None:
        args = split_parameters(params)
        if query or len(args) < 2 or len(args) > 5:
            return None
        self._require_offline()
        tag, key_type = _int(args[0], 0, MAX_SEC_TAG), _int(args[1], 0, 255)
        content = _int(args[2], 0, 1) if len(args) > 2 and args[2] else 0
        attributes = _unquote(args[3]) if len(args) > 3 else ""
        usage = _unquote(args[4]) if len(args) > 4 else "101010000"
        if key_type not in (KEY_CLIENT, KEY_ENDORSEMENT):
            raise CmeError(CME_NOT_ALLOWED)
        key = self.keys.get((tag, key_type))
        if key is not None and key_type == KEY_CLIENT:
            raise CmeError(CME_EXISTS)
        if key is None:
            if self._stored() >= self.max_credentials:
                raise CmeError(CME_MEMORY_FULL)
            key = ec.generate_private_key(ec.SECP256R1())
        if content == 1:
            der = key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
            message_type = cose.PUBKEY_MSG_V2
        else:
            der = self._csr(key, attributes, usage)
            message_type = cose.CSR_MSG_V1
        self.keys[(tag, key_type)] = key
        blob = cose.keygen_blob(self.identity_key, self.device_id, message_type, tag, der,
                                self.rng.randbytes(16))
        return f'%KEYGEN: "{blob}"'

    def _csr(self, key: ec.EllipticCurvePrivateKey, attributes: str, usage: str) -> bytes:
        names = []
        for part in filter(None, (p.strip() for p in attributes.split(","))):
            label, _, value = part.partition("=")
            oid = _NAME_OIDS.get(label.strip().upper())
            if oid is None or not value:
                raise CmeError(CME_NOT_ALLOWED)
            names.append(x509.NameAttribute(oid, value.strip()))
        if not names:
            names = [x509.NameAttribute(NameOID.COMMON_NAME, self.device_id)]
        if not re.fullmatch(r"[01]{9}", usage):
            raise CmeError(CME_NOT_ALLOWED)
        bits = [c == "1" for c in usage]
        try:
            key_usage = x509.KeyUsage(*bits)
            csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
                   .add_extension(key_usage, critical=True).sign(key, hashes.SHA256()))
        except ValueError:
            raise CmeError(CME_KEYGEN_FAILED) from None
        return csr.public_bytes(serialization.Encoding.DER)

    def _cmng(self, params: str, query: bool, now: float) -> str | None:
        args = split_parameters(params)
        if query or not args[0]:
            return None
        opcode = _int(args[0], 0, 3)
        if opcode == 1:
            tag_filter = _int(args[1], 0, MAX_SEC_TAG) if len(args) > 1 and args[1] else None
            type_filter = _int(args[2], 0, 255) if len(args) > 2 and args[2] else None
            lines = []
            for tag, kind in sorted({*self.credentials, *self.keys}):
                if tag_filter in (None, tag) and type_filter in (None, kind):
                    stored = self.credentials.get((tag, kind)) or self._key_pem((tag, kind))
                    lines.append(f'%CMNG: {tag},{kind},"{hashlib.sha256(stored.encode()).hexdigest()}"')
            return "\r\n".join(lines)
        if len(args) < 3:
            raise CmeError(CME_NOT_ALLOWED)
        tag, kind = _int(args[1], 0, MAX_SEC_TAG), _int(args[2], 0, 6)
        slot = (tag, kind)
        if opcode == 2:
            if kind != CRED_CA:
                raise CmeError(CME_NOT_ALLOWED)
            if slot not in self.credentials:
                raise CmeError(CME_NOT_FOUND)
            content = self.credentials[slot]
            return f'%CMNG: {tag},{kind},"{hashlib.sha256(content.encode()).hexdigest()}","{content}"'
        self._require_offline()
        if opcode == 3:
            if slot not in self.credentials and slot not in self.keys:
                raise CmeError(CME_NOT_FOUND)
            self.credentials.pop(slot, None)
            self.keys.pop(slot, None)
            return ""
        if len(args) < 4 or len(args) > 5:
            raise CmeError(CME_NOT_ALLOWED)
        content = _unquote(args[3])
        if kind in (CRED_CA, CRED_CERT) and "-----BEGIN CERTIFICATE-----" not in content:
            raise CmeError(CME_NOT_ALLOWED)
        if kind == CRED_KEY and "PRIVATE KEY-----" not in content:
            raise CmeError(CME_NOT_ALLOWED)
        if slot not in self.credentials and self._stored() >= self.max_credentials:
            raise CmeError(CME_MEMORY_FULL)
        self.keys.pop(slot, None)
        self.credentials[slot] = content
        return ""

    def _key_pem(self, slot: tuple[int, int]) -> str:
        return self.keys[slot].public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def _jwt(self, params: str, query: bool, now: float) -> str | None:
        args = split_parameters(params)
        if query or len(args) not in (4, 6):
            return None
        if _int(args[0], 0, 1) != 0:
            raise CmeError(CME_NOT_ALLOWED)
        exp_delta = _int(args[1], 0, 2**31)
        sub, aud = _unquote(args[2]), _unquote(args[3])
        key = self.identity_key
        if len(args) == 6 and _int(args[4], 0, MAX_SEC_TAG) != 0:
            stored = self.keys.get((int(args[4]), _int(args[5], 0, 255)))
            if stored is None:
                raise CmeError(CME_NOT_FOUND)
            key = stored
        claims: dict[str, object] = {"iss": f"{self.iss_prefix}.{self.device_id}",
                                     "jti": f"{self.iss_prefix}.{self.firmware_id}.{self.rng.randbytes(16).hex()}"}
        if sub or self.send_empty_sub_aud:
            claims["sub"] = sub
        if aud or self.send_empty_sub_aud:
            claims["aud"] = aud
        modem_now = self.modem_time(now)
        if modem_now is not None and exp_delta > 0:
            claims["iat"] = int(modem_now)
            claims["exp"] = int(modem_now) + exp_delta
        return f'%JWT: "{build_jwt(key, claims, kid=self.kid)}"'

    def attestation_token(self) -> cose.AttestationToken:
        return cose.build_attestation_token(self.identity_key, self.device_id, self.device_type,
                                            self.firmware_id, self.rng.randbytes(16), self.identity_certificate)

    def _attest(self, params: str, query: bool, now: float) -> str | None:
        if params:
            return None
        return f'%ATTESTTOKEN: "{self.attestation_token().text}"'

    def _cclk(self, params: str, query: bool, now: float) -> str | None:
        if not query:
            return None
        modem_now = self.modem_time(now)
        if modem_now is None:
            raise CmeError(CME_NOT_ALLOWED)
        stamp = datetime.datetime.fromtimestamp(modem_now, datetime.UTC).strftime("%y/%m/%d,%H:%M:%S")
        return f'%CCLK: "{stamp}+00",0'
