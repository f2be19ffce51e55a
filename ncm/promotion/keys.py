"""Partners and their API keys.

A key is ``ncmpk_`` followed by 32 random bytes (URL-safe base64): shown once when created,
stored as its SHA-256 (the secret has 256 bits of entropy, so a plain hash is enough: there is
nothing to brute-force). It acts for its partner only, as ``Authorization: Bearer ncmpk_...``
on ``/graphql``, until it is revoked.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.promotion.access import Actor, require_operator
from ncm.promotion.errors import PromotionErrorCode
from ncm.promotion.models import Partner, PartnerApiKey

PREFIX = "ncmpk_"
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
LAST_USED_EVERY = timedelta(minutes=5)  # last_used_at is written at most this often


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def add_partner(actor: Actor, code: str, name: str) -> Partner:
    require_operator(actor)
    code = code.strip().upper()
    name = name.strip()
    if not CODE_RE.match(code):
        raise InvalidInput(
            "A partner code is 2-32 letters, digits, '_' or '-' (e.g. KKBOX).", field="code"
        )
    if not 1 <= len(name) <= 100:
        raise InvalidInput("A partner name is 1-100 characters.", field="name")
    try:
        return await Partner.create(code=code, name=name)
    except IntegrityError:
        raise Conflict(
            f"A partner {code} exists already.",
            field="code",
            code=PromotionErrorCode.PARTNER_CODE_TAKEN,
        ) from None


async def list_partners(actor: Actor) -> list[Partner]:
    query = Partner.all().order_by("code")
    if not actor.is_operator:
        query = query.filter(id=actor.partner_id)
    return list(await query)


async def get_partner(actor: Actor, partner_id: int) -> Partner:
    found = await Partner.get_or_none(id=partner_id)
    if found is None or not actor.sees(found.id):
        raise NotFound(
            "No such partner.", field="partnerId", code=PromotionErrorCode.PARTNER_NOT_FOUND
        )
    return found


async def partner_by_code(actor: Actor, code: str) -> Partner:
    found = await Partner.get_or_none(code=code.strip().upper())
    if found is None or not actor.sees(found.id):
        raise NotFound(
            f"No partner {code}.", field="partner", code=PromotionErrorCode.PARTNER_NOT_FOUND
        )
    return found


@dataclass(frozen=True)
class NewKey:
    key: PartnerApiKey
    secret: str  # shown once, never stored


async def create_key(actor: Actor, partner_id: int, name: str) -> NewKey:
    require_operator(actor)
    partner = await get_partner(actor, partner_id)
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidInput("A key name is 1-100 characters.", field="name")
    secret = PREFIX + secrets.token_urlsafe(32)
    key = await PartnerApiKey.create(
        partner_id=partner.id,
        name=name,
        prefix=secret[: len(PREFIX) + 6],
        key_hash=hash_key(secret),
        created_by_id=actor.user_id,
    )
    return NewKey(key, secret)


async def list_keys(actor: Actor, partner_id: int) -> list[PartnerApiKey]:
    require_operator(actor)
    partner = await get_partner(actor, partner_id)
    return list(await PartnerApiKey.filter(partner_id=partner.id).order_by("id"))


async def revoke_key(actor: Actor, key_id: int) -> PartnerApiKey:
    require_operator(actor)
    key = await PartnerApiKey.get_or_none(id=key_id)
    if key is None:
        raise NotFound("No such key.", field="keyId", code=PromotionErrorCode.KEY_NOT_FOUND)
    if key.revoked_at is None:
        key.revoked_at = datetime.now(UTC)
        await key.save(update_fields=["revoked_at"])
    return key


async def actor_for_key(secret: str) -> Actor | None:
    """The partner a bearer key acts for, or ``None`` for an unknown or revoked key."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return None
    key = await PartnerApiKey.get_or_none(key_hash=hash_key(secret), revoked_at=None)
    if key is None:
        return None
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_EVERY:
        await PartnerApiKey.filter(id=key.id).update(last_used_at=now)
    return Actor(user_id=None, partner_id=key.partner_id, key_id=key.id)
