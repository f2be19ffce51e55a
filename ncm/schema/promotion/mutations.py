"""GraphQL mutations of the promotion domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry

from ncm.errors import InvalidInput
from ncm.promotion import campaigns, keys, tracking
from ncm.promotion.campaigns import CampaignSpec
from ncm.promotion.errors import PromotionErrorCode
from ncm.promotion.models import Audience as AudienceModel
from ncm.promotion.models import CampaignKind as KindModel
from ncm.promotion.models import EventKind as EventKindModel
from ncm.promotion.models import ObjectKind as ObjectKindModel
from ncm.promotion.models import Placement as PlacementModel
from ncm.schema.base import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    from_global_id,
    mutation,
    pk_of,
)
from ncm.schema.context import Info
from ncm.schema.promotion.queries import viewer_profile
from ncm.schema.promotion.types import (
    OBJECT_TYPES,
    Campaign,
    CampaignKind,
    Partner,
    PartnerApiKey,
    PromotedObjectKind,
    PromotionAudience,
    PromotionEventKind,
    PromotionPlacement,
    actor_of,
)
from ncm.schema.scalars import parse_datetime


@strawberry.input(description="A campaign; times without an offset are local to `timeZone`.")
class CampaignInput:
    name: str
    kind: CampaignKind
    object_kind: PromotedObjectKind
    object_id: strawberry.ID | None = strawberry.field(
        default=None, description="The Playlist, Album, Track or Artist (not for a LINK)."
    )
    link_url: str | None = strawberry.field(default=None, description="LINK: tickets, a video.")
    title: str | None = strawberry.field(default=None, description="Default: the object's.")
    image_url: str | None = None
    event_at: datetime | None = strawberry.field(default=None, description="Concert tours.")
    venue: str | None = None
    placements: list[PromotionPlacement]
    regions: list[str] = strawberry.field(default_factory=list, description="Empty: all.")
    languages: list[str] = strawberry.field(default_factory=list, description="Empty: all.")
    audience: PromotionAudience = AudienceModel.ALL
    genre_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Listeners of these genres only (empty: anyone)."
    )
    starts_at: datetime
    ends_at: datetime
    time_zone: str = "UTC"
    priority: int = 0
    weight: int = 1
    booked_impressions: int = strawberry.field(default=0, description="0: not paced.")
    partner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Operators: the partner (partners create for themselves)."
    )

    def spec(self) -> CampaignSpec:
        object_id = None
        kind = ObjectKindModel(self.object_kind.value)
        if self.object_id is not None and kind in OBJECT_TYPES:
            object_id = pk_of(self.object_id, OBJECT_TYPES[kind], field="objectId")
        return CampaignSpec(
            name=self.name,
            kind=KindModel(self.kind.value),
            object_kind=kind,
            object_id=object_id,
            link_url=self.link_url,
            title=self.title,
            image_url=self.image_url,
            event_at=self.event_at,
            venue=self.venue,
            placements=[PlacementModel(p.value) for p in self.placements],
            regions=self.regions,
            languages=self.languages,
            audience=AudienceModel(self.audience.value),
            genre_ids=[pk_of(g, "Genre", field="genreIds") for g in self.genre_ids],
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            time_zone=self.time_zone,
            priority=self.priority,
            weight=self.weight,
            booked_impressions=self.booked_impressions,
        )


@strawberry.input(description="One impression or click a client saw.")
class PromotionEventInput:
    event_id: str = strawberry.field(description="Unique per viewer: a retry sends the same.")
    campaign_id: strawberry.ID
    placement: PromotionPlacement
    kind: PromotionEventKind
    at: datetime


def _event_from_input(cls: type, value: Any, context: Any) -> PromotionEventInput:
    """Build an event from graphql-core's coerced value directly: Strawberry's generic
    conversion costs ~70 µs per event object, too much for batches of 100 on the ingest path."""
    placement, kind = value["placement"], value["kind"]
    return cls(
        event_id=value["eventId"],
        campaign_id=value["campaignId"],
        placement=placement if isinstance(placement, PlacementModel) else PlacementModel(placement),
        kind=kind if isinstance(kind, EventKindModel) else EventKindModel(kind),
        at=value["at"],
    )


PromotionEventInput.__strawberry_definition__.from_input = _event_from_input  # type: ignore[attr-defined]


@strawberry.type
class PartnerPayload:
    partner: Partner


@strawberry.type(description="The new key: `secret` is shown this once and never again.")
class PartnerApiKeyCreatedPayload:
    key: PartnerApiKey
    secret: str


@strawberry.type
class PartnerApiKeyPayload:
    key: PartnerApiKey


@strawberry.type
class CampaignPayload:
    campaign: Campaign


@strawberry.type
class RefusedPromotionEvent:
    event_id: str
    reason: str = strawberry.field(
        description="UNKNOWN_CAMPAIGN, WRONG_PLACEMENT, IN_THE_FUTURE, TOO_OLD, "
        "OUTSIDE_SCHEDULE or INVALID_EVENT_ID."
    )


@strawberry.type
class RecordPromotionEventsPayload:
    accepted: int
    duplicates: int = strawberry.field(description="Event ids already counted (not again).")
    refused: list[RefusedPromotionEvent]


PartnerResult = Annotated[
    PartnerPayload | InvalidInputError | ConflictError, strawberry.union("PartnerResult")
]
PartnerApiKeyCreatedResult = Annotated[
    PartnerApiKeyCreatedPayload | InvalidInputError | NotFoundError,
    strawberry.union("PartnerApiKeyCreatedResult"),
]
PartnerApiKeyResult = Annotated[
    PartnerApiKeyPayload | NotFoundError, strawberry.union("PartnerApiKeyResult")
]
CampaignResult = Annotated[
    CampaignPayload | InvalidInputError | NotFoundError, strawberry.union("CampaignResult")
]
RecordPromotionEventsResult = Annotated[
    RecordPromotionEventsPayload | InvalidInputError,
    strawberry.union("RecordPromotionEventsResult"),
]


def _campaign_pk(value: strawberry.ID) -> int:
    return pk_of(value, "Campaign", field="campaignId")


@strawberry.type
class PromotionMutation:
    @mutation(description="Add a partner organisation (operators).")
    async def create_promotion_partner(self, info: Info, code: str, name: str) -> PartnerResult:
        partner = await keys.add_partner(await actor_of(info), code, name)
        return PartnerPayload(partner=Partner.from_model(partner))

    @mutation(description="A new API key for a partner (operators); its secret is shown once.")
    async def create_partner_api_key(
        self, info: Info, partner_id: strawberry.ID, name: str
    ) -> PartnerApiKeyCreatedResult:
        created = await keys.create_key(
            await actor_of(info), pk_of(partner_id, "Partner", field="partnerId"), name
        )
        return PartnerApiKeyCreatedPayload(
            key=PartnerApiKey.from_model(created.key), secret=created.secret
        )

    @mutation(description="Revoke a partner API key (operators): it stops working at once.")
    async def revoke_partner_api_key(self, info: Info, id: strawberry.ID) -> PartnerApiKeyResult:
        key = await keys.revoke_key(await actor_of(info), pk_of(id, "PartnerApiKey"))
        return PartnerApiKeyPayload(key=PartnerApiKey.from_model(key))

    @mutation(description="A new DRAFT campaign.")
    async def create_campaign(self, info: Info, input: CampaignInput) -> CampaignResult:
        actor = await actor_of(info)
        partner = (
            pk_of(input.partner_id, "Partner", field="partnerId") if input.partner_id else None
        )
        campaign = await campaigns.create_campaign(actor, input.spec(), partner_id=partner)
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(description="Edit a DRAFT campaign.")
    async def update_campaign(
        self, info: Info, id: strawberry.ID, input: CampaignInput
    ) -> CampaignResult:
        actor = await actor_of(info)
        campaign = await campaigns.update_campaign(actor, _campaign_pk(id), input.spec())
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(description="Send a DRAFT to the operators for approval.")
    async def submit_campaign(self, info: Info, id: strawberry.ID) -> CampaignResult:
        campaign = await campaigns.submit(await actor_of(info), _campaign_pk(id))
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(description="Approve a submission (operators): it is scheduled or goes live.")
    async def approve_campaign(
        self, info: Info, id: strawberry.ID, note: str = ""
    ) -> CampaignResult:
        campaign = await campaigns.approve(await actor_of(info), _campaign_pk(id), note)
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(description="Send a submission back to DRAFT with a note (operators).")
    async def reject_campaign(self, info: Info, id: strawberry.ID, note: str) -> CampaignResult:
        campaign = await campaigns.reject(await actor_of(info), _campaign_pk(id), note)
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(description="Stop serving a scheduled or live campaign for now.")
    async def pause_campaign(self, info: Info, id: strawberry.ID) -> CampaignResult:
        campaign = await campaigns.pause(await actor_of(info), _campaign_pk(id))
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(description="Serve a paused campaign again.")
    async def resume_campaign(self, info: Info, id: strawberry.ID) -> CampaignResult:
        campaign = await campaigns.resume(await actor_of(info), _campaign_pk(id))
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(description="End a campaign for good.")
    async def end_campaign(self, info: Info, id: strawberry.ID, note: str = "") -> CampaignResult:
        campaign = await campaigns.end(await actor_of(info), _campaign_pk(id), note)
        return CampaignPayload(campaign=Campaign.from_model(campaign))

    @mutation(
        description="Report impressions and clicks (at most 100 per call). Each event id counts "
        "once; events in the future or older than a day are refused."
    )
    async def record_promotion_events(
        self, info: Info, events: list[PromotionEventInput]
    ) -> RecordPromotionEventsResult:
        viewer = await viewer_profile(info)
        if len(events) > tracking.MAX_BATCH:
            raise _too_many()
        campaigns = _CampaignIds()
        parsed = []
        bad: list[tuple[str, str]] = []
        for e in events:
            pk = campaigns.pk(e.campaign_id)
            if pk is None:
                bad.append((e.event_id, "UNKNOWN_CAMPAIGN"))
                continue
            parsed.append(
                tracking.EventIn(
                    event_id=e.event_id,
                    campaign_id=pk,
                    placement=e.placement.value,
                    kind=e.kind,
                    at=e.at,
                )
            )
        return await _record(viewer, parsed, bad)

    @mutation(
        description="`recordPromotionEvents` for clients that report at volume: the same "
        "events, answers and refusals, sent as text instead of a list of objects (no "
        "per-field GraphQL coercion: about half the server's time of the list). One line "
        "per event (at most 100), five fields separated by a tab, in the order eventId, "
        "campaignId, placement, kind, at, each written as in `PromotionEventInput` (`at` as "
        "a DateTime). A line that is not five such fields refuses the whole call "
        "(INVALID_INPUT, naming the line)."
    )
    async def record_promotion_events_packed(
        self, info: Info, events: str
    ) -> RecordPromotionEventsResult:
        viewer = await viewer_profile(info)
        lines = events.splitlines()
        if len(lines) > tracking.MAX_BATCH:
            raise _too_many()
        campaigns = _CampaignIds()
        times: dict[str, datetime] = {}
        parsed = []
        bad: list[tuple[str, str]] = []
        for number, line in enumerate(lines, start=1):
            fields = line.split("\t")
            placement = kind = at = None
            if len(fields) == 5:
                event_id, campaign_id, placement_name, kind_name, at_text = fields
                placement = _PLACEMENTS.get(placement_name)
                kind = _KINDS.get(kind_name)
                at = times.get(at_text)
                if at is None:
                    try:
                        at = times[at_text] = parse_datetime(at_text)
                    except (ValueError, OverflowError):
                        at = None
            if placement is None or kind is None or at is None:
                raise InvalidInput(
                    f"Line {number} of `events` is not eventId, campaignId, placement, kind "
                    "and at (a DateTime) separated by tabs.",
                    field="events",
                )
            pk = campaigns.pk(campaign_id)
            if pk is None:
                bad.append((event_id, "UNKNOWN_CAMPAIGN"))
                continue
            parsed.append(
                tracking.EventIn(
                    event_id=event_id, campaign_id=pk, placement=placement, kind=kind, at=at
                )
            )
        return await _record(viewer, parsed, bad)


_PLACEMENTS = {p.value: p.value for p in PlacementModel}
_KINDS = {k.value: k for k in EventKindModel}


def _too_many() -> InvalidInput:
    return InvalidInput(
        f"At most {tracking.MAX_BATCH} events per call.",
        field="events",
        code=PromotionErrorCode.TOO_MANY_EVENTS,
    )


class _CampaignIds:
    """A batch names few campaigns: each global id is decoded once (``None``: not valid)."""

    def __init__(self) -> None:
        self.pks: dict[str, int | None] = {}

    def pk(self, value: str) -> int | None:
        if value in self.pks:
            return self.pks[value]
        try:
            pk: int | None = from_global_id(value, "Campaign", field="campaignId")[1]
        except InvalidInput:
            pk = None
        self.pks[value] = pk
        return pk


async def _record(
    viewer: Any, parsed: list[tracking.EventIn], bad: list[tuple[str, str]]
) -> RecordPromotionEventsPayload:
    outcome = await tracking.record(viewer, parsed)
    return RecordPromotionEventsPayload(
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        refused=[RefusedPromotionEvent(event_id=i, reason=r) for i, r in [*bad, *outcome.refused]],
    )
