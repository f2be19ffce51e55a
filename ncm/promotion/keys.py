"""Partners and their API keys.

A key is ``ncmpk_`` followed by 32 random bytes (URL-safe base64): shown once when created,
stored as its SHA-256 (the secret has 256 bits of entropy, so a plain hash is enough: there is
nothing to brute-force). It acts for its partner only, as ``Authorization: Bearer ncmpk_...``
on ``/graphql``, until it is revoked.

A request whose bearer is a partner key that is unknown or revoked is refused before it runs,
public fields included, exactly like a forged or revoked access token (``docs/security.md``).
The view decides that without awaiting anything, so every process holds the hashes of the
active keys in memory (:func:`is_active`): loaded by a watcher that the first request of the
process starts (:func:`watch`), changed at once in the process that creates or revokes a key,
and reloaded in the others within :data:`REFRESH_SECONDS` (a version key in Redis, polled).
Without Redis (the embedded default: one server process) a key the CLI made or revoked
reaches the running server when it restarts, as for the live campaigns. Until its first load
a process refuses every key it did not create itself: fail closed, for its first moments.
The promotion fields still check the key in the database (:func:`actor_for_key`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.exceptions import IntegrityError

from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.kit import poll
from ncm.kit.redis import get_redis, namespaced
from ncm.promotion.access import Actor, require_operator
from ncm.promotion.errors import PromotionErrorCode
from ncm.promotion.models import Partner, PartnerApiKey

PREFIX = "ncmpk_"
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
LAST_USED_EVERY = timedelta(minutes=5)  # last_used_at is written at most this often
REFRESH_SECONDS = 2.0  # other processes' creations and revocations arrive within this
log = logging.getLogger("ncm.promotion")


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
    await _changed(key.key_hash, key)
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
    await _changed(key.key_hash, None)
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


@dataclass
class _Registry:
    active: dict[str, int] = field(default_factory=dict)  # key hash -> partner id
    loaded: bool = False
    version: str | None = None
    loads: int = 0  # loads started
    applied: int = 0  # the number of the load whose result is in ``active``
    inflight: int = 0
    # This process's creations and revocations made while loads run, replayed after them.
    log: list[tuple[str, int | None]] = field(default_factory=list)
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[None] | None = None


_registry = _Registry()


def _version_key() -> str:
    return namespaced("promo", "keys")


def is_active(secret: str) -> bool:
    """Whether ``secret`` is an active partner key, from memory (see the module's doc)."""
    if not secret.startswith(PREFIX) or len(secret) > 100:
        return False
    return hash_key(secret) in _registry.active


def watch() -> None:
    """Start this process's watcher of the active keys, once per event loop (cheap to call
    on every request; outside an event loop it does nothing)."""
    registry = _registry
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if registry.loop is loop and registry.task is not None and not registry.task.done():
        return
    registry.loop = loop
    registry.task = loop.create_task(_watch())


async def _watch() -> None:
    await poll.every(REFRESH_SECONDS, refresh, failing="read the partner API keys", log=log)


async def refresh(force: bool = False) -> None:
    """Read the active keys again when another process changed them (or on ``force``)."""
    registry = _registry
    redis = await get_redis()
    raw = await redis.get(_version_key()) if redis is not None else None
    version = raw.decode() if isinstance(raw, bytes) else raw
    if registry.loaded and not force:
        # No version (Redis emptied or restarted): no change since that we know of.
        if redis is not None and (version is None or version == registry.version):
            return
        if redis is None:
            return  # the embedded default: one process, whose own changes are applied
    # Loads may overlap (the watcher's and an awaited one): the last started wins, and the
    # changes this process made meanwhile are replayed on top of what the query saw.
    registry.loads += 1
    number, mark = registry.loads, len(registry.log)
    registry.inflight += 1
    try:
        rows = await PartnerApiKey.filter(revoked_at=None).values_list("key_hash", "partner_id")
    finally:
        registry.inflight -= 1
    active = {str(h): int(p) for h, p in rows}
    for key_hash, partner_id in registry.log[mark:]:
        if partner_id is None:
            active.pop(key_hash, None)
        else:
            active[key_hash] = partner_id
    if registry.inflight == 0:
        registry.log.clear()
    if number > registry.applied:
        registry.active = active
        registry.version = version
        registry.loaded = True
        registry.applied = number


async def _changed(key_hash: str, key: PartnerApiKey | None) -> None:
    """A key was created (``key``) or revoked (``None``): here at once, elsewhere within
    :data:`REFRESH_SECONDS`."""
    registry = _registry
    partner_id = key.partner_id if key is not None else None
    if partner_id is None:
        registry.active.pop(key_hash, None)
    else:
        registry.active[key_hash] = partner_id
    if registry.inflight:
        registry.log.append((key_hash, partner_id))
    redis = await get_redis()
    if redis is not None:
        # A new random version; when the one it replaces is what this process loaded (or
        # none, after Redis was emptied), no other process changed anything since: the
        # change is applied here already, nothing to read again.
        version = secrets.token_hex(8)
        pipe = redis.pipeline(transaction=True)
        pipe.get(_version_key())
        pipe.set(_version_key(), version)
        raw, _ = await pipe.execute()
        previous = raw.decode() if isinstance(raw, bytes) else raw
        if (previous is None or previous == registry.version) and not registry.inflight:
            registry.version = version


def forget() -> None:
    """For tests: this process knows no keys (and loads them again)."""
    global _registry
    if _registry.task is not None:
        _registry.task.cancel()
    _registry = _Registry()
