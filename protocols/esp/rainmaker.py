"""RainMaker's provisioning-time endpoints: ``cloud_user_assoc`` (legacy user-node mapping) and ``ch_resp``
(challenge-response), and the node identity conventions as esp-rainmaker's
esp_rmaker_user_mapping.c and esp_rmaker_chal_resp.c behave.

The node signs ``SHA-256(challenge)`` with its private key through the ``sign`` callable it is given; the
mapping it receives is reported through ``on_mapping`` so the driver can persist it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from protocols.esp import messages as pb
from protocols.esp.errors import RemoteError
from protocols.esp.provisioning import Reply
from protocols.esp.security import Rng

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def new_node_key(rng: Rng) -> ec.EllipticCurvePrivateKey:
    """A node's P-256 key from 48 bytes of ``rng`` (the extra 128 bits make the reduction's bias negligible,
    as FIPS 186-5 A.2.1 does)."""
    return ec.derive_private_key(int.from_bytes(rng(48), "big") % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def node_id_for(mac: bytes) -> str:
    """A stable 22-character node id in the style of RainMaker's claimed node ids."""
    value = int.from_bytes(hashlib.sha256(b"provemu-node:" + mac).digest()[:17], "big")
    chars = []
    for _ in range(22):
        value, digit = divmod(value, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def service_name_for(mac: bytes, lowercase: bool) -> str:
    """``PROV_`` + the last three MAC bytes (IDF example: uppercase; RainMaker: lowercase)."""
    suffix = mac[-3:].hex()
    return "PROV_" + (suffix if lowercase else suffix.upper())


def rainmaker_pop_for(mac: bytes) -> str:
    """RainMaker's PoP: 8 lowercase hex characters from MAC bytes 2-5."""
    return mac[2:6].hex()


def qr_payload(name: str, pop: str, transport: str, security: int, username: str = "wifiprov") -> dict[str, str]:
    payload = {"ver": "v1", "name": name, "pop": pop, "transport": transport}
    if security == 2:
        payload["username"] = username
    return payload


@dataclass
class MappingRecord:
    user_id: str
    secret_key: str


class RainMakerService:
    """The node-side handlers of one RainMaker node."""

    def __init__(
        self,
        node_id: str,
        sign: Callable[[bytes], bytes],
        on_mapping: Callable[[MappingRecord], None] | None = None,
        chal_resp_disabled: bool = False,
        on_disable: Callable[[], None] | None = None,
    ) -> None:
        self.node_id = node_id
        self.sign = sign
        self.on_mapping = on_mapping
        self.on_disable = on_disable
        self.mapping: MappingRecord | None = None
        self.chal_resp_disabled = chal_resp_disabled
        self.challenges_answered = 0

    def handle_user_assoc(self, data: bytes, now: float) -> Reply:
        req = pb.decode(pb.user_mapping.RMakerConfigPayload, data)
        if req.msg != pb.user_mapping.TypeCmdSetUserMapping:
            return Reply(b"")  # the device's handler returns OK with a 0-byte reply (esp_rmaker_user_mapping.c)
        resp = pb.user_mapping.RMakerConfigPayload(msg=pb.user_mapping.TypeRespSetUserMapping)
        out = resp.resp_set_user_mapping
        out.SetInParent()
        if req.WhichOneof("payload") != "cmd_set_user_mapping":
            out.Status = pb.user_mapping.InvalidParam
        else:
            cmd = req.cmd_set_user_mapping
            self.mapping = MappingRecord(cmd.UserID, cmd.SecretKey)
            if self.on_mapping is not None:
                self.on_mapping(self.mapping)
            out.Status = pb.user_mapping.Success
            out.NodeId = self.node_id
        return Reply(pb.encode(resp))

    def handle_chal_resp(self, data: bytes, now: float) -> Reply:
        """esp_rmaker_chal_resp.c: once disabled every request gets ``Disabled`` unparsed; only
        ChallengeResponse (with a non-empty challenge) and DisableChalResp are served, the rest fail."""
        if self.chal_resp_disabled:
            resp = pb.with_msg(pb.chal_resp.RMakerChRespPayload, pb.chal_resp.TypeRespChallengeResponse)
            resp.status = pb.chal_resp.Disabled
            return Reply(pb.encode(resp))
        req = pb.decode(pb.chal_resp.RMakerChRespPayload, data)
        if req.msg == pb.chal_resp.TypeCmdDisableChalResp:
            self.chal_resp_disabled = True
            if self.on_disable is not None:
                self.on_disable()
            return Reply(pb.encode(pb.with_msg(pb.chal_resp.RMakerChRespPayload, pb.chal_resp.TypeRespDisableChalResp)))
        if req.msg != pb.chal_resp.TypeCmdChallengeResponse:
            raise RemoteError(f"ch_resp: message type {req.msg} is not served")
        challenge = bytes(req.cmdChallengeResponsePayload.payload)
        if req.WhichOneof("payload") != "cmdChallengeResponsePayload" or not challenge:
            raise RemoteError("ch_resp: empty challenge")
        resp = pb.with_msg(pb.chal_resp.RMakerChRespPayload, pb.chal_resp.TypeRespChallengeResponse)
        resp.respChallengeResponsePayload.payload = self.sign(challenge)
        resp.respChallengeResponsePayload.node_id = self.node_id
        self.challenges_answered += 1
        return Reply(pb.encode(resp))
