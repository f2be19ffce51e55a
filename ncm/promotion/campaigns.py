"""Campaigns: creation, the workflow and its audit trail.

Workflow::

    DRAFT --submit--> SUBMITTED --approve (operator)--> APPROVED --> SCHEDULED --> LIVE
      ^                   |                                 (by time)   |   ^
      +----reject---------+                                   pause  v   | resume
                                                                   PAUSED
    any status but ENDED --end--> ENDED  (also by time, when the schedule is over)

Each step is one compare-and-set UPDATE (the status it leaves is part of the WHERE clause, so
two operators racing cannot both apply a step) and one audit row, in one transaction. The live
set of every server process is refreshed after a change (``ncm.promotion.live.changed``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from ncm.catalog.models import Genre
from ncm.errors import Forbidden, InvalidInput, NotFound
from ncm.kit.pagination import Page, cursor_int, make_page, page_size
from ncm.kit.regions import LANGUAGE_RE, REGIONS
from ncm.promotion import live, objects
from ncm.promotion.access import SYSTEM, Actor, require_operator
from ncm.promotion.errors import PromotionErrorCode
from ncm.promotion.keys import get_partner
from ncm.promotion.models import (
    Audience,
    Campaign,
    CampaignAudit,
    CampaignKind,
    CampaignStatus,
    ObjectKind,
    Placement,
)

S = CampaignStatus
MAX_PRIORITY = 100
MAX_WEIGHT = 1000
MAX_BOOKED = 2_000_000_000  # fits GraphQL Int
SERVING = (S.SCHEDULED, S.LIVE)


@dataclass
class CampaignSpec:
    """What a partner (or an operator) fills in; schedule times without an offset are local
    times in ``time_zone``."""

    name: str
    kind: CampaignKind
    object_kind: ObjectKind
    starts_at: datetime
    ends_at: datetime
    placements: Sequence[Placement]
    object_id: int | None = None
    link_url: str | None = None
    title: str | None = None
    image_url: str | None = None
    event_at: datetime | None = None
    venue: str | None = None
    regions: Sequence[str] = ()
    languages: Sequence[str] = ()
    audience: Audience = Audience.ALL
    genre_ids: Sequence[int] = ()
    time_zone: str = "UTC"
    priority: int = 0
    weight: int = 1
    booked_impressions: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"Unknown time zone {name!r} (use an IANA name such as Asia/Taipei).",
            field="timeZone",
            code=PromotionErrorCode.INVALID_TIME_ZONE,
        ) from None


def _aware(value: datetime, zone: ZoneInfo) -> datetime:
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


def _text(value: str | None, name: str, limit: int, *, required: bool = False) -> str | None:
    value = value.strip() if value is not None else None
    if not value:
        if required:
            raise InvalidInput(f"{name} is required.", field=name)
        return None
    if len(value) > limit:
        raise InvalidInput(f"{name} is at most {limit} characters.", field=name)
    return value


def _url(value: str | None, name: str) -> str | None:
    value = _text(value, name, 500)
    if value is not None and not value.startswith(("https://", "http://")):
        raise InvalidInput(f"{name} must be an http(s) URL.", field=name)
    return value


async def _validated(spec: CampaignSpec, now: datetime) -> dict[str, object]:
    name = _text(spec.name, "name", 200, required=True)
    zone = _zone(spec.time_zone)
    starts_at, ends_at = _aware(spec.starts_at, zone), _aware(spec.ends_at, zone)
    if ends_at <= starts_at:
        raise InvalidInput(
            "The schedule must end after it starts.",
            field="endsAt",
            code=PromotionErrorCode.INVALID_SCHEDULE,
        )
    if ends_at <= now:
        raise InvalidInput(
            "The schedule is already over.",
            field="endsAt",
            code=PromotionErrorCode.INVALID_SCHEDULE,
        )
    placements = sorted({Placement(p).value for p in spec.placements})
    if not placements:
        raise InvalidInput(
            "Choose at least one placement.",
            field="placements",
            code=PromotionErrorCode.INVALID_PLACEMENT,
        )
    regions = sorted({r.strip().upper() for r in spec.regions})
    if any(r not in REGIONS for r in regions):
        raise InvalidInput(
            "Regions are ISO 3166 codes such as TW or HK.",
            field="regions",
            code=PromotionErrorCode.INVALID_TARGETING,
        )
    languages = sorted({lang.strip() for lang in spec.languages})
    if any(not LANGUAGE_RE.match(lang) for lang in languages):
        raise InvalidInput(
            "Languages are tags such as zh-Hant or en.",
            field="languages",
            code=PromotionErrorCode.INVALID_TARGETING,
        )
    genre_ids = sorted(set(spec.genre_ids))
    if genre_ids and await Genre.filter(id__in=genre_ids).count() != len(genre_ids):
        raise InvalidInput(
            "Unknown genre.", field="genreIds", code=PromotionErrorCode.INVALID_TARGETING
        )
    if len(regions) > 300 or len(languages) > 50 or len(genre_ids) > 50:
        raise InvalidInput("Too many targeting values.", field="regions")
    if not 0 <= spec.priority <= MAX_PRIORITY:
        raise InvalidInput(f"priority is 0-{MAX_PRIORITY}.", field="priority")
    if not 1 <= spec.weight <= MAX_WEIGHT:
        raise InvalidInput(f"weight is 1-{MAX_WEIGHT}.", field="weight")
    if not 0 <= spec.booked_impressions <= MAX_BOOKED:
        raise InvalidInput("bookedImpressions is out of range.", field="bookedImpressions")
    title = _text(spec.title, "title", 200)
    link_url = _url(spec.link_url, "linkUrl")
    object_id = spec.object_id
    if spec.object_kind == ObjectKind.LINK:
        if link_url is None or title is None:
            raise InvalidInput(
                "An external link needs linkUrl and title.",
                field="linkUrl",
                code=PromotionErrorCode.INVALID_OBJECT,
            )
        object_id = None
    else:
        if object_id is None or (spec.object_kind, object_id) not in await objects.available(
            [(spec.object_kind, object_id)]
        ):
            raise InvalidInput(
                f"No public {spec.object_kind.lower()} with this id.",
                field="objectId",
                code=PromotionErrorCode.OBJECT_NOT_FOUND,
            )
        title = title or await objects.title_of(spec.object_kind, object_id)
        link_url = None  # the app opens the catalog object itself
    event_at = _aware(spec.event_at, zone) if spec.event_at is not None else None
    venue = _text(spec.venue, "venue", 200)
    if spec.kind == CampaignKind.CONCERT_TOUR and (event_at is None or venue is None):
        raise InvalidInput(
            "A concert tour needs its date (eventAt) and venue.",
            field="eventAt",
            code=PromotionErrorCode.INVALID_OBJECT,
        )
    return {
        "name": name,
        "kind": spec.kind,
        "object_kind": spec.object_kind,
        "object_id": object_id,
        "link_url": link_url,
        "title": title,
        "image_url": _url(spec.image_url, "imageUrl"),
        "event_at": event_at,
        "venue": venue,
        "placements": placements,
        "regions": regions,
        "languages": languages,
        "audience": spec.audience,
        "genre_ids": genre_ids,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "time_zone": spec.time_zone,
        "priority": spec.priority,
        "weight": spec.weight,
        "booked_impressions": spec.booked_impressions,
    }


def _not_found() -> NotFound:
    return NotFound(
        "No such campaign.", field="campaignId", code=PromotionErrorCode.CAMPAIGN_NOT_FOUND
    )


async def get_campaign(actor: Actor, campaign_id: int) -> Campaign:
    found = await Campaign.get_or_none(id=campaign_id)
    if found is None or not actor.sees(found.partner_id):
        raise _not_found()  # another partner's campaign does not exist for this one
    return found


async def create_campaign(
    actor: Actor, spec: CampaignSpec, *, partner_id: int | None = None
) -> Campaign:
    """A DRAFT campaign of the actor's partner (an operator names the partner)."""
    if actor.is_operator:
        if partner_id is None:
            raise InvalidInput("An operator names the partner (partnerId).", field="partnerId")
    elif partner_id is not None and partner_id != actor.partner_id:
        raise Forbidden("A partner creates campaigns for itself only.")
    partner = await get_partner(actor, partner_id if partner_id is not None else actor.partner_id)  # type: ignore[arg-type]
    values = await _validated(spec, datetime.now(UTC))
    async with in_transaction() as conn:
        campaign = await Campaign.create(
            using_db=conn, partner_id=partner.id, created_by_id=actor.user_id, **values
        )
        await _audit(conn, campaign.id, actor, "create", None, S.DRAFT)
    return campaign


async def update_campaign(actor: Actor, campaign_id: int, spec: CampaignSpec) -> Campaign:
    """Edit a DRAFT (a submitted campaign goes back to DRAFT when an operator rejects it)."""
    campaign = await get_campaign(actor, campaign_id)
    values = await _validated(spec, datetime.now(UTC))
    async with in_transaction() as conn:
        changed = (
            await Campaign.filter(id=campaign.id, status=S.DRAFT)
            .using_db(conn)
            .update(**values, updated_at=datetime.now(UTC))
        )
        if not changed:
            raise _bad_transition("edit", campaign.status)
        await _audit(conn, campaign.id, actor, "edit", S.DRAFT, S.DRAFT)
    return await Campaign.get(id=campaign.id)


async def list_campaigns(
    actor: Actor,
    *,
    partner_id: int | None = None,
    status: CampaignStatus | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Page[Campaign]:
    """Newest first; a partner sees its own only."""
    query = Campaign.all()
    if not actor.is_operator:
        if partner_id is not None and partner_id != actor.partner_id:
            return Page([], [], False, after is not None)
        partner_id = actor.partner_id
    if partner_id is not None:
        query = query.filter(partner_id=partner_id)
    if status is not None:
        query = query.filter(status=status)
    size = page_size(first)
    last = cursor_int(after)
    if last is not None:
        query = query.filter(id__lt=last)
    rows = list(await query.order_by("-id").limit(size + 1))
    return make_page(rows, size, lambda c: [c.id], has_previous=after is not None)


async def audit_of(actor: Actor, campaign_id: int) -> list[CampaignAudit]:
    campaign = await get_campaign(actor, campaign_id)
    return list(await CampaignAudit.filter(campaign_id=campaign.id).order_by("id"))


def _bad_transition(action: str, status: CampaignStatus) -> InvalidInput:
    return InvalidInput(
        f"Cannot {action} a campaign that is {status.value}.",
        field="campaignId",
        code=PromotionErrorCode.INVALID_TRANSITION,
    )


async def _audit(
    conn: BaseDBAsyncClient,
    campaign_id: int,
    actor: Actor,
    action: str,
    from_status: CampaignStatus | None,
    to_status: CampaignStatus,
    note: str = "",
) -> None:
    await CampaignAudit.create(
        using_db=conn,
        campaign_id=campaign_id,
        action=action,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value,
        actor_user_id=actor.user_id,
        actor_key_id=actor.key_id,
        note=note[:500],
    )


async def _step(
    actor: Actor,
    campaign: Campaign,
    action: str,
    allowed: Sequence[CampaignStatus],
    to_status: CampaignStatus,
    note: str = "",
) -> Campaign:
    """Move ``campaign`` from its current status (one of ``allowed``) to ``to_status``."""
    from_status = campaign.status
    if from_status not in allowed:
        raise _bad_transition(action, from_status)
    async with in_transaction() as conn:
        changed = (
            await Campaign.filter(id=campaign.id, status=from_status)
            .using_db(conn)
            .update(status=to_status, updated_at=datetime.now(UTC))
        )
        if not changed:  # another step got there first
            current = await Campaign.get(id=campaign.id, using_db=conn)
            raise _bad_transition(action, current.status)
        await _audit(conn, campaign.id, actor, action, from_status, to_status, note)
    campaign.status = to_status
    if from_status in SERVING or to_status in SERVING or to_status == S.PAUSED:
        await live.changed()
    return campaign


def _by_time(campaign: Campaign, now: datetime) -> CampaignStatus:
    if now >= campaign.ends_at:
        return S.ENDED
    return S.LIVE if now >= campaign.starts_at else S.SCHEDULED


async def submit(actor: Actor, campaign_id: int) -> Campaign:
    campaign = await get_campaign(actor, campaign_id)
    return await _step(actor, campaign, "submit", [S.DRAFT], S.SUBMITTED)


async def approve(actor: Actor, campaign_id: int, note: str = "") -> Campaign:
    """An operator approves a submission; it is then scheduled (or live, or over) at once."""
    require_operator(actor)
    campaign = await get_campaign(actor, campaign_id)
    campaign = await _step(actor, campaign, "approve", [S.SUBMITTED], S.APPROVED, note)
    return await _advance(campaign, datetime.now(UTC))


async def reject(actor: Actor, campaign_id: int, note: str) -> Campaign:
    require_operator(actor)
    campaign = await get_campaign(actor, campaign_id)
    if not note.strip():
        raise InvalidInput("Say why (note).", field="note")
    return await _step(actor, campaign, "reject", [S.SUBMITTED], S.DRAFT, note.strip())


async def pause(actor: Actor, campaign_id: int) -> Campaign:
    campaign = await get_campaign(actor, campaign_id)
    return await _step(actor, campaign, "pause", [S.SCHEDULED, S.LIVE], S.PAUSED)


async def resume(actor: Actor, campaign_id: int) -> Campaign:
    campaign = await get_campaign(actor, campaign_id)
    target = _by_time(campaign, datetime.now(UTC))
    return await _step(actor, campaign, "resume", [S.PAUSED], target)


async def end(actor: Actor, campaign_id: int, note: str = "") -> Campaign:
    campaign = await get_campaign(actor, campaign_id)
    allowed = [s for s in S if s != S.ENDED]
    return await _step(actor, campaign, "end", allowed, S.ENDED, note)


async def _advance(campaign: Campaign, now: datetime) -> Campaign:
    """The time-driven steps, taken by the system: APPROVED -> SCHEDULED/LIVE/ENDED,
    SCHEDULED -> LIVE, and anything running -> ENDED once the schedule is over."""
    target = _by_time(campaign, now)
    if campaign.status == S.APPROVED:
        action = {S.SCHEDULED: "schedule", S.LIVE: "go_live", S.ENDED: "end"}[target]
        return await _step(SYSTEM, campaign, action, [S.APPROVED], target)
    if campaign.status == S.SCHEDULED and target != S.SCHEDULED:
        action = "go_live" if target == S.LIVE else "end"
        return await _step(SYSTEM, campaign, action, [S.SCHEDULED], target)
    if campaign.status in (S.LIVE, S.PAUSED) and target == S.ENDED:
        return await _step(SYSTEM, campaign, "end", [campaign.status], S.ENDED, "schedule over")
    return campaign


async def advance_all(now: datetime | None = None) -> int:
    """Take every due time-driven step (the ``promotion_advance`` cron job); returns how many."""
    now = now or datetime.now(UTC)
    due = await Campaign.filter(status__in=[S.APPROVED, S.SCHEDULED, S.LIVE, S.PAUSED]).order_by(
        "id"
    )
    moved = 0
    for campaign in due:
        before = campaign.status
        try:
            after = (await _advance(campaign, now)).status
        except InvalidInput:  # someone else moved it meanwhile
            continue
        moved += after != before
    return moved


async def check_objects() -> int:
    """Mark campaigns whose promoted object disappeared (or came back); returns the changes."""
    rows = await Campaign.filter(
        status__in=[S.APPROVED, S.SCHEDULED, S.LIVE, S.PAUSED], object_id__not_isnull=True
    )
    ok = await objects.available((c.object_kind, c.object_id) for c in rows if c.object_id)
    changes = 0
    for c in rows:
        now_ok = (c.object_kind, c.object_id) in ok
        if now_ok != c.object_available:
            await Campaign.filter(id=c.id).update(object_available=now_ok)
            changes += 1
    if changes:
        await live.changed()
    return changes
