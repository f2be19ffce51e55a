"""``ncm compensation``: Compensation campaigns: grants to many users after an outage."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from ncm.cli.comments import operator
from ncm.cli.common import JsonOption, emit, emit_one, fail, run
from ncm.cli.progress import progress

app = typer.Typer(
    help="Compensation campaigns: grants to many users after an outage.", no_args_is_help=True
)

WHEN = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def campaign_record(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "incident": c.incident_id,
        "days": c.days,
        "audience": c.audience,
        "claimable_from": c.claimable_from,
        "claim_until": c.claim_until,
        "auto_apply": c.auto_apply,
        "status": c.status,
        "created_by": c.created_by,
        "executed_by": c.executed_by,
        "revoked_by": c.revoked_by,
        "created_at": c.created_at,
    }


def status_record(s: Any) -> dict[str, Any]:
    c = s.campaign
    return {
        **campaign_record(c),
        "chunks_total": c.chunks_total,
        "chunks_granted": s.chunks_done,
        "chunks_applied": s.chunks_applied,
        "grants": s.total_grants,
        **{f"grants_{k.lower()}": v for k, v in s.grants.items()},
        **{f"stripe_{k.lower()}": v for k, v in s.stripe.items()},
        "executed_at": c.executed_at,
        "finished_at": c.finished_at,
        "applied_at": c.applied_at,
        "revoked_at": c.revoked_at,
        "audit": [
            {"at": a.at.isoformat(), "action": a.action, "actor": a.actor, "detail": a.detail}
            for a in s.audit
        ],
    }


@app.command()
def create(
    incident: int | None = typer.Option(None, "--incident", help="The incident it makes up for."),
    days: int = typer.Option(..., "--days", min=1, help="Days of membership per user."),
    audience: str = typer.Option(
        ...,
        "--audience",
        help="all, active-during-incident, affected, members or users-file.",
    ),
    users_file: Path | None = typer.Option(
        None, "--users-file", help="With --audience users-file: one user id a line."
    ),
    claimable_from: datetime = typer.Option(..., "--claimable-from", formats=WHEN, help="UTC."),
    claim_until: datetime = typer.Option(..., "--claim-until", formats=WHEN, help="UTC."),
    auto_apply: bool = typer.Option(
        False, "--auto-apply", help="Apply every grant on the claimable date (no claim needed)."
    ),
    reason: str = typer.Option("", "--reason", help="Kept on the ledger periods."),
    chunk_size: int = typer.Option(50_000, "--chunk-size", min=1, max=1_000_000),
    execute: bool = typer.Option(False, "--execute", help="Grant (default: a dry run)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="With --execute: show progress."),
    as_json: bool = JsonOption,
) -> None:
    """Plan a campaign: a dry run prints the audience size and a sample; --execute stores it
    and grants it with jobs over chunks of user ids (resumable: `resume ID`)."""
    from ncm.compensation import service

    ids: list[int] = []
    if users_file is not None:
        try:
            ids = service.read_users_file(users_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {users_file}: {exc}", exc)
    elif audience.lower().replace("_", "-") == "users-file":
        fail("--audience users-file needs --users-file FILE")

    async def work() -> dict[str, Any]:
        p = await service.plan(
            days=days,
            audience=audience,
            claimable_from=_utc(claimable_from),
            claim_until=_utc(claim_until),
            incident_id=incident,
            auto_apply=auto_apply,
            reason=reason,
            user_ids=ids,
            chunk_size=chunk_size,
        )
        found = await service.preview(p)
        out: dict[str, Any] = {
            "audience": p.audience,
            "size": found.size,
            "days": p.days,
            "sample": ", ".join(f"{r['id']} ({r['handle']})" for r in found.sample),
        }
        if execute:
            campaign = await service.create(p, by=operator())
            await service.execute(campaign.id, by=operator())
            out["campaign"] = campaign.id
            if wait:
                await _follow(campaign.id, quiet=as_json)
                out.update(_brief(await service.status(campaign.id)))
        return out

    record = run(work)
    emit_one(record, as_json, title="campaign" if execute else "dry run (pass --execute)")


def _brief(s: Any) -> dict[str, Any]:
    return {
        "status": s.campaign.status,
        "chunks": f"{s.chunks_done}/{s.campaign.chunks_total}",
        "grants": s.total_grants,
    }


async def _follow(campaign_id: int, *, quiet: bool = False) -> None:
    """Progress over the campaign's chunks until every one is granted (the jobs run in the
    workers, or in this process on the embedded default): the shared progress display."""
    import asyncio

    from ncm.compensation import service
    from ncm.compensation.models import CampaignStatus

    with progress("chunks") as report:
        while True:
            state, total, done, granted = await service.progress(campaign_id)
            if not quiet:
                report.step(f"campaign {campaign_id} chunks", done, total)
            if state != CampaignStatus.RUNNING:
                break
            await asyncio.sleep(0.5)
        if not quiet:
            report(f"campaign {campaign_id}: {granted} grants")


@app.command()
def resume(
    campaign_id: int = typer.Argument(...),
    wait: bool = typer.Option(True, "--wait/--no-wait"),
    as_json: bool = JsonOption,
) -> None:
    """Queue the chunks a crashed or interrupted run left (idempotent)."""
    from ncm.compensation import service

    async def work() -> dict[str, Any]:
        await service.resume(campaign_id, by=operator())
        if wait:
            await _follow(campaign_id, quiet=as_json)
        return _brief(await service.status(campaign_id))

    emit_one(run(work), as_json, title=f"campaign {campaign_id}")


@app.command()
def status(
    campaign_id: int = typer.Argument(...),
    watch: bool = typer.Option(False, "--watch", help="Follow with a progress bar."),
    as_json: bool = JsonOption,
) -> None:
    """Progress and counts per state of a campaign, from any terminal; its audit trail."""
    from ncm.compensation import service

    async def work() -> dict[str, Any]:
        if watch:
            await _follow(campaign_id, quiet=as_json)
        return status_record(await service.status(campaign_id))

    record = run(work)
    if as_json:
        emit_one(record, True)
        return
    trail = record.pop("audit")
    emit_one(record, False, title=f"campaign {campaign_id}")
    emit(trail, False, title="audit")


@app.command()
def revoke(campaign_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Remove the unclaimed grants and end the claimed ones (audited)."""
    from ncm.compensation import service

    emit_one(run(lambda: service.revoke(campaign_id, by=operator())), as_json, title="revoked")


@app.command("list")
def list_(limit: int = typer.Option(50, min=1, max=500), as_json: bool = JsonOption) -> None:
    """Campaigns, newest first."""
    from ncm.compensation import service

    async def work() -> list[dict[str, Any]]:
        return [campaign_record(c) for c in await service.list_campaigns(limit)]

    emit(run(work), as_json, title="campaigns")


@app.command("apply-due")
def apply_due() -> None:
    """Queue the auto-apply of campaigns whose claimable date has come (the worker does it
    every minute)."""
    from ncm.compensation import service

    async def work() -> int:
        return sum([await service.queue_apply(c) for c in await service.due_for_apply()])

    typer.echo(f"{run(work)} chunks queued")


@app.command("move-charges")
def move_charges(
    rate: float = typer.Option(25.0, "--rate", help="Stripe requests a second."),
    limit: int | None = typer.Option(None, "--limit", min=1),
) -> None:
    """Move auto-renewing subscribers' next charge by their grant's days now (paced)."""
    from ncm.compensation import service

    started = time.monotonic()
    counts = run(lambda: service.move_next_charges(rate=rate, limit=limit))
    typer.echo(f"{counts} in {time.monotonic() - started:.1f}s")
