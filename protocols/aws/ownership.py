"""Certificate ownership tokens: which RegisterThing calls may redeem which token.

Rules: a token is valid for its TTL from creation (AWS IoT developer guide, Provisioning devices that don't
have device certificates using fleet provisioning (provision-wo-cert): the token "expires after one hour").
AWS does not document whether a token is single-use or tied to the claim that created it; provemu answers:
by default it is consumed by a successful RegisterThing and stays valid after a rejected one; optionally it
is bound to the claim certificate that created it. Time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.aws.fleet_messages import RejectionCase


@dataclass(frozen=True)
class TokenPolicy:
    single_use: bool = True
    bind_to_claim: bool = False


@dataclass(frozen=True)
class TokenState:
    certificate_id: str
    claim_certificate_id: str | None
    expires_at: float
    used_at: float | None


def check_token(
    token: str, state: TokenState | None, now: float, claim_certificate_id: str | None, policy: TokenPolicy
) -> RejectionCase | None:
    """None when `token` may be redeemed now by a connection authenticated with `claim_certificate_id`."""
    if not token:
        return RejectionCase.EMPTY_OWNERSHIP_TOKEN
    if state is None:
        return RejectionCase.INVALID_OWNERSHIP_TOKEN
    if now >= state.expires_at:
        return RejectionCase.EXPIRED_OWNERSHIP_TOKEN
    if policy.single_use and state.used_at is not None:
        return RejectionCase.REUSED_OWNERSHIP_TOKEN
    if policy.bind_to_claim and state.claim_certificate_id != claim_certificate_id:
        return RejectionCase.TOKEN_BOUND_TO_OTHER_CLAIM
    return None
