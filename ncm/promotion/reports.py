"""Reports per campaign and day (in the campaign's time zone): impressions, unique viewers,
clicks, CTR, conversions, delivery against the booking's even curve, and the same by region."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ncm.errors import InvalidInput
from ncm.promotion.access import Actor
from ncm.promotion.campaigns import get_campaign
from ncm.promotion.errors import PromotionErrorCode
from ncm.promotion.keys import get_partner
from ncm.promotion.models import Campaign, CampaignConversion, CampaignDailyStats

MAX_DAYS = 366


@dataclass
class Counts:
    impressions: int = 0
    unique_viewers: int = 0
    clicks: int = 0
    conversions: int = 0

    @property
    def ctr(self) -> float:
        """Clicks per impression (0 without impressions)."""
        return self.clicks / self.impressions if self.impressions else 0.0

    def add(self, other: Counts) -> None:
        self.impressions += other.impressions
        self.unique_viewers += other.unique_viewers
        self.clicks += other.clicks
        self.conversions += other.conversions


@dataclass
class RegionCounts(Counts):
    region: str = ""


@dataclass
class ReportDay(Counts):
    day: date = date.min
    delivered_to_date: int = 0  # impressions from the start through this day
    expected_to_date: int = 0  # the even curve's value at the end of this day
    regions: list[RegionCounts] = field(default_factory=list)

    @property
    def pacing(self) -> float | None:
        """Delivered / expected to date (1.0 is on the curve); None when nothing is booked."""
        return self.delivered_to_date / self.expected_to_date if self.expected_to_date else None


@dataclass
class CampaignReport:
    campaign: Campaign
    start: date
    end: date
    days: list[ReportDay]
    total: Counts


def _check_range(start: date, end: date) -> None:
    if end < start or (end - start).days >= MAX_DAYS:
        raise InvalidInput(
            f"The range runs forward and covers at most {MAX_DAYS} days.",
            field="to",
            code=PromotionErrorCode.INVALID_DATE_RANGE,
        )


def expected_by(campaign: Campaign, moment: datetime) -> int:
    """The even delivery curve: the booking times the share of the schedule elapsed."""
    if not campaign.booked_impressions:
        return 0
    span = (campaign.ends_at - campaign.starts_at).total_seconds()
    done = (moment - campaign.starts_at).total_seconds()
    share = min(1.0, max(0.0, done / span))
    return round(campaign.booked_impressions * share)


async def campaign_report(actor: Actor, campaign_id: int, start: date, end: date) -> CampaignReport:
    _check_range(start, end)
    campaign = await get_campaign(actor, campaign_id)
    return (await _reports([campaign], start, end))[0]


async def partner_report(
    actor: Actor, partner_id: int, start: date, end: date
) -> list[CampaignReport]:
    _check_range(start, end)
    partner = await get_partner(actor, partner_id)
    campaigns = list(await Campaign.filter(partner_id=partner.id).order_by("id"))
    return await _reports(campaigns, start, end)


async def _reports(campaigns: list[Campaign], start: date, end: date) -> list[CampaignReport]:
    ids = [c.id for c in campaigns]
    if not ids:
        return []
    stats = await CampaignDailyStats.filter(campaign_id__in=ids, day__lte=end)
    conversions = await CampaignConversion.filter(
        campaign_id__in=ids, day__gte=start, day__lte=end
    ).values("campaign_id", "day", "region")
    per: dict[tuple[int, date, str], RegionCounts] = {}
    before: dict[int, int] = {}
    for s in stats:
        if s.day < start:
            before[s.campaign_id] = before.get(s.campaign_id, 0) + s.impressions
            continue
        per[(s.campaign_id, s.day, s.region)] = RegionCounts(
            impressions=s.impressions,
            unique_viewers=s.unique_viewers,
            clicks=s.clicks,
            region=s.region,
        )
    for c in conversions:
        key = (c["campaign_id"], c["day"], c["region"])
        per.setdefault(key, RegionCounts(region=c["region"])).conversions += 1
    reports = []
    for campaign in campaigns:
        zone = ZoneInfo(campaign.time_zone)
        delivered = before.get(campaign.id, 0)
        days = []
        total = Counts()
        day = start
        while day <= end:
            row = ReportDay(day=day)
            regions = sorted(
                (v for (cid, d, _), v in per.items() if cid == campaign.id and d == day),
                key=lambda r: r.region,
            )
            for r in regions:
                row.add(r)
            row.regions = regions
            delivered += row.impressions
            row.delivered_to_date = delivered
            end_of_day = datetime.combine(day + timedelta(days=1), time(), zone)
            row.expected_to_date = expected_by(campaign, end_of_day)
            total.add(row)
            days.append(row)
            day += timedelta(days=1)
        reports.append(CampaignReport(campaign, start, end, days, total))
    return reports
