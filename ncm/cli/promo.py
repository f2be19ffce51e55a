"""``ncm promo``: Partner promotion: partners, keys, campaigns, reports.

Commands act as an operator (they run on the servers, with the database's credentials).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any

import typer

from ncm.cli.common import JsonOption, emit, emit_one, fail, run

app = typer.Typer(
    help="Partner promotion: partners, keys, campaigns, reports.", no_args_is_help=True
)
partners_app = typer.Typer(help="Partner organisations and their API keys.", no_args_is_help=True)
keys_app = typer.Typer(
    help="A partner's API keys (shown once, stored hashed).", no_args_is_help=True
)
campaigns_app = typer.Typer(help="Campaigns and their workflow.", no_args_is_help=True)
app.add_typer(partners_app, name="partners")
partners_app.add_typer(keys_app, name="keys")
app.add_typer(campaigns_app, name="campaigns")


def _partner_record(p: Any) -> dict[str, Any]:
    return {"id": p.id, "code": p.code, "name": p.name, "created_at": p.created_at}


def _key_record(k: Any) -> dict[str, Any]:
    return {
        "id": k.id,
        "partner_id": k.partner_id,
        "name": k.name,
        "prefix": k.prefix,
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    }


def _campaign_record(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "partner_id": c.partner_id,
        "name": c.name,
        "kind": c.kind,
        "status": c.status,
        "object": f"{c.object_kind.lower()}:{c.object_id}" if c.object_id else c.link_url,
        "title": c.title,
        "placements": ",".join(c.placements),
        "regions": ",".join(c.regions) or "*",
        "starts_at": c.starts_at,
        "ends_at": c.ends_at,
        "time_zone": c.time_zone,
        "priority": c.priority,
        "weight": c.weight,
        "booked_impressions": c.booked_impressions,
    }


@partners_app.command("add")
def partners_add(
    code: str = typer.Argument(..., help="Short code, e.g. KKBOX."),
    name: str = typer.Option(..., "--name", help="Display name, e.g. 'KKBOX Inc.'"),
    as_json: bool = JsonOption,
) -> None:
    """Add a partner organisation."""
    from ncm.promotion import keys
    from ncm.promotion.access import SYSTEM

    emit_one(_partner_record(run(lambda: keys.add_partner(SYSTEM, code, name))), as_json)


@partners_app.command("list")
def partners_list(as_json: bool = JsonOption) -> None:
    """Every partner."""
    from ncm.promotion import keys
    from ncm.promotion.access import SYSTEM

    emit([_partner_record(p) for p in run(lambda: keys.list_partners(SYSTEM))], as_json)


@keys_app.command("create")
def keys_create(
    partner: str = typer.Argument(..., help="Partner code."),
    name: str = typer.Option(..., "--name", help="What the key is for."),
    as_json: bool = JsonOption,
) -> None:
    """Create an API key; its secret is printed this once (store it now)."""
    from ncm.promotion import keys
    from ncm.promotion.access import SYSTEM

    async def work() -> Any:
        found = await keys.partner_by_code(SYSTEM, partner)
        return await keys.create_key(SYSTEM, found.id, name)

    created = run(work)
    emit_one({**_key_record(created.key), "secret": created.secret}, as_json)


@keys_app.command("list")
def keys_list(
    partner: str = typer.Argument(..., help="Partner code."), as_json: bool = JsonOption
) -> None:
    """A partner's keys (never their secrets)."""
    from ncm.promotion import keys
    from ncm.promotion.access import SYSTEM

    async def work() -> Any:
        found = await keys.partner_by_code(SYSTEM, partner)
        return await keys.list_keys(SYSTEM, found.id)

    emit([_key_record(k) for k in run(work)], as_json)


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Revoke a key: it stops working at once."""
    from ncm.promotion import keys
    from ncm.promotion.access import SYSTEM

    emit_one(_key_record(run(lambda: keys.revoke_key(SYSTEM, key_id))), as_json)


def _object(value: str | None) -> tuple[Any, int | None]:
    from ncm.promotion.models import ObjectKind

    if value is None:
        return ObjectKind.LINK, None
    kind, _, pk = value.partition(":")
    try:
        return ObjectKind(kind.upper()), int(pk)
    except ValueError:
        fail("--object is playlist:ID, album:ID, track:ID or artist:ID")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} is an ISO date-time, e.g. 2026-12-24T20:00 (local to --tz)")


@campaigns_app.command("create")
def campaigns_create(
    partner: str = typer.Option(..., "--partner", help="Partner code."),
    name: str = typer.Option(..., "--name"),
    kind: str = typer.Option(
        ..., "--kind", help="PLAYLIST, CONCERT_TOUR, SHORT_VIDEO, ORIGINAL_MUSIC or ARTIST."
    ),
    starts: str = typer.Option(..., "--starts", help="Local to --tz, e.g. 2026-12-24T00:00."),
    ends: str = typer.Option(..., "--ends"),
    placement: list[str] = typer.Option(..., "--placement", help="Repeat for several."),
    promoted: str = typer.Option(
        None, "--object", help="playlist:ID, album:ID, track:ID, artist:ID."
    ),
    link: str = typer.Option(None, "--link", help="External link (tickets, a video)."),
    title: str = typer.Option(None, "--title"),
    image: str = typer.Option(None, "--image"),
    event_at: str = typer.Option(None, "--event-at", help="Concert tours: the date."),
    venue: str = typer.Option(None, "--venue"),
    region: list[str] = typer.Option([], "--region", help="Repeat; none: everywhere."),
    language: list[str] = typer.Option([], "--language", help="Repeat; none: any."),
    audience: str = typer.Option("ALL", "--audience", help="ALL, MEMBERS or NON_MEMBERS."),
    genre: list[int] = typer.Option([], "--genre", help="Genre id; repeat."),
    tz: str = typer.Option("UTC", "--tz", help="IANA time zone of the schedule."),
    priority: int = typer.Option(0, "--priority"),
    weight: int = typer.Option(1, "--weight"),
    booked: int = typer.Option(0, "--booked", help="Booked impressions (0: not paced)."),
    as_json: bool = JsonOption,
) -> None:
    """Create a DRAFT campaign for a partner."""
    from ncm.promotion import campaigns, keys
    from ncm.promotion.access import SYSTEM
    from ncm.promotion.campaigns import CampaignSpec
    from ncm.promotion.models import Audience, CampaignKind, Placement

    object_kind, object_id = _object(promoted)
    try:
        spec = CampaignSpec(
            name=name,
            kind=CampaignKind(kind.upper()),
            object_kind=object_kind,
            object_id=object_id,
            link_url=link,
            title=title,
            image_url=image,
            event_at=_when(event_at, "--event-at"),
            venue=venue,
            starts_at=_when(starts, "--starts"),  # type: ignore[arg-type]
            ends_at=_when(ends, "--ends"),  # type: ignore[arg-type]
            placements=[Placement(p.upper()) for p in placement],
            regions=region,
            languages=language,
            audience=Audience(audience.upper()),
            genre_ids=genre,
            time_zone=tz,
            priority=priority,
            weight=weight,
            booked_impressions=booked,
        )
    except ValueError as exc:
        fail(f"invalid value: {exc}")

    async def work() -> Any:
        found = await keys.partner_by_code(SYSTEM, partner)
        return await campaigns.create_campaign(SYSTEM, spec, partner_id=found.id)

    emit_one(_campaign_record(run(work)), as_json)


@campaigns_app.command("list")
def campaigns_list(
    partner: str = typer.Option(None, "--partner", help="Partner code."),
    status: str = typer.Option(None, "--status"),
    first: int = typer.Option(100, "--first"),
    as_json: bool = JsonOption,
) -> None:
    """Campaigns, newest first."""
    from ncm.promotion import campaigns, keys
    from ncm.promotion.access import SYSTEM
    from ncm.promotion.models import CampaignStatus

    try:
        wanted = CampaignStatus(status.upper()) if status else None
    except ValueError:
        fail("--status is DRAFT, SUBMITTED, APPROVED, SCHEDULED, LIVE, PAUSED or ENDED")

    async def work() -> Any:
        partner_id = (await keys.partner_by_code(SYSTEM, partner)).id if partner else None
        return await campaigns.list_campaigns(
            SYSTEM, partner_id=partner_id, status=wanted, first=first
        )

    emit([_campaign_record(c) for c in run(work).items], as_json)


def _step(name: str) -> Any:
    def command(
        campaign_id: int = typer.Argument(...),
        note: str = typer.Option("", "--note", help="Kept in the audit trail."),
        as_json: bool = JsonOption,
    ) -> None:
        from ncm.promotion import campaigns
        from ncm.promotion.access import SYSTEM

        async def work() -> Any:
            if name in ("approve", "end"):
                return await getattr(campaigns, name)(SYSTEM, campaign_id, note)
            return await getattr(campaigns, name)(SYSTEM, campaign_id)

        emit_one(_campaign_record(run(work)), as_json)

    command.__doc__ = {
        "submit": "Send a DRAFT for approval.",
        "approve": "Approve a submission: it is scheduled, or live if its start has passed.",
        "pause": "Stop serving for now.",
        "resume": "Serve a paused campaign again.",
        "end": "End a campaign for good.",
    }[name]
    return command


for _name in ("submit", "approve", "pause", "resume", "end"):
    campaigns_app.command(_name)(_step(_name))


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} is a date, e.g. 2026-12-01")


@app.command("report")
def report(
    partner: str = typer.Option(..., "--partner", help="Partner code, e.g. KKBOX."),
    from_: str = typer.Option(..., "--from", help="First day (campaign time zone)."),
    to: str = typer.Option(..., "--to", help="Last day."),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """Per campaign and day: impressions, unique viewers, clicks, CTR, conversions, pacing,
    and the same by region."""
    from ncm.promotion import keys, reports
    from ncm.promotion.access import SYSTEM

    if fmt not in ("table", "csv", "json"):
        fail("--format is table, csv or json")
    start, end = _date(from_, "--from"), _date(to, "--to")

    async def work() -> Any:
        found = await keys.partner_by_code(SYSTEM, partner)
        return await reports.partner_report(SYSTEM, found.id, start, end)

    result = run(work)
    if fmt == "json":
        typer.echo(json.dumps([_report_json(r) for r in result], ensure_ascii=False, indent=2))
        return
    rows = [row for r in result for row in _report_rows(r)]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(REPORT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(out.getvalue(), nl=False)
        return
    emit(rows, False, title=f"{partner.upper()} {start} to {end}")


REPORT_COLUMNS = (
    "campaign_id",
    "campaign",
    "day",
    "region",
    "impressions",
    "unique_viewers",
    "clicks",
    "ctr",
    "conversions",
    "delivered_to_date",
    "expected_to_date",
    "pacing",
)


def _counts(c: Any) -> dict[str, Any]:
    return {
        "impressions": c.impressions,
        "unique_viewers": c.unique_viewers,
        "clicks": c.clicks,
        "ctr": round(c.ctr, 4),
        "conversions": c.conversions,
    }


def _report_rows(r: Any) -> list[dict[str, Any]]:
    rows = []
    for d in r.days:
        base = {"campaign_id": r.campaign.id, "campaign": r.campaign.name, "day": d.day.isoformat()}
        rows.append(
            {
                **base,
                "region": "ALL",
                **_counts(d),
                "delivered_to_date": d.delivered_to_date,
                "expected_to_date": d.expected_to_date,
                "pacing": round(d.pacing, 4) if d.pacing is not None else "",
            }
        )
        for region in d.regions:
            rows.append(
                {
                    **base,
                    "region": region.region or "??",
                    **_counts(region),
                    "delivered_to_date": "",
                    "expected_to_date": "",
                    "pacing": "",
                }
            )
    return rows


def _report_json(r: Any) -> dict[str, Any]:
    return {
        "campaign_id": r.campaign.id,
        "campaign": r.campaign.name,
        "booked_impressions": r.campaign.booked_impressions,
        "total": _counts(r.total),
        "days": [
            {
                "day": d.day.isoformat(),
                **_counts(d),
                "delivered_to_date": d.delivered_to_date,
                "expected_to_date": d.expected_to_date,
                "pacing": d.pacing,
                "regions": [{"region": x.region, **_counts(x)} for x in d.regions],
            }
            for d in r.days
        ],
    }


@app.command("flush")
def flush(as_json: bool = JsonOption) -> None:
    """Write the tracked events counted in Redis to the database now (the cron job does it
    every minute)."""
    from ncm.promotion import tracking

    result = run(tracking.flush)
    emit_one(
        {"batches": result.batches, "events": result.events, "skipped": result.skipped}, as_json
    )
