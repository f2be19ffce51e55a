"""``ncm incidents``: Incidents and service status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from ncm.cli.comments import operator
from ncm.cli.common import JsonOption, emit, emit_one, run

app = typer.Typer(help="Incidents and service status.", no_args_is_help=True)

WHEN = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def record(i: Any, latest: Any = None) -> dict[str, Any]:
    return {
        "id": i.id,
        "title": i.title,
        "component": i.component,
        "status": i.status,
        "started_at": i.started_at,
        "ended_at": i.ended_at,
        "affected": i.affected_count,
        "opened_by": i.opened_by,
        "merged_into": i.merged_into_id,
        "latest_message": latest.message if latest else None,
    }


async def _then_shown(change: Any) -> dict[str, Any]:
    return await shown(await change)


async def shown(i: Any) -> dict[str, Any]:
    """``record`` with the incident's latest message (read back after a change)."""
    from ncm.incidents import service

    return record(i, (await service.latest_updates([i.id])).get(i.id))


@app.command("open")
def open_(
    title: str = typer.Option(..., "--title"),
    started_at: datetime = typer.Option(..., "--started-at", formats=WHEN, help="UTC."),
    component: str = typer.Option("playback", "--component", help="playback, api or payments."),
    as_json: bool = JsonOption,
) -> None:
    """Open an incident (it shows in serviceStatus at once)."""
    from ncm.incidents import service

    async def work() -> dict[str, Any]:
        found = await service.open_incident(
            title, _utc(started_at) or started_at, component, by=operator()
        )
        return record(found)

    emit_one(run(work), as_json, title="incident opened")


@app.command()
def update(
    incident_id: int = typer.Argument(...),
    message: str = typer.Option(..., "--message"),
    as_json: bool = JsonOption,
) -> None:
    """Post a message on an open incident (serviceStatus shows the latest)."""
    from ncm.incidents import service

    async def work() -> dict[str, Any]:
        u = await service.post_update(incident_id, message, by=operator())
        return {"incident": incident_id, "message": u.message, "posted_at": u.created_at}

    emit_one(run(work), as_json, title="update posted")


@app.command()
def close(
    incident_id: int = typer.Argument(...),
    ended_at: datetime | None = typer.Option(None, "--ended-at", formats=WHEN, help="UTC."),
    as_json: bool = JsonOption,
) -> None:
    """Resolve an incident (default: now)."""
    from ncm.incidents import service

    async def work() -> dict[str, Any]:
        return await shown(await service.close(incident_id, _utc(ended_at), by=operator()))

    emit_one(run(work), as_json, title="incident closed")


@app.command()
def confirm(incident_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Confirm an incident the playback breaker opened (DETECTED becomes OPEN)."""
    from ncm.incidents import service

    emit_one(
        run(lambda: _then_shown(service.confirm(incident_id, by=operator()))),
        as_json,
        title="incident confirmed",
    )


@app.command()
def merge(
    incident_id: int = typer.Argument(...),
    into: int = typer.Option(..., "--into", help="The incident that stays."),
    as_json: bool = JsonOption,
) -> None:
    """Fold an incident (typically a DETECTED one) into another; affected users move."""
    from ncm.incidents import service

    emit_one(
        run(lambda: _then_shown(service.merge(incident_id, into, by=operator()))),
        as_json,
        title="incident merged",
    )


@app.command("list")
def list_(
    open_only: bool = typer.Option(False, "--open", help="Only DETECTED and OPEN ones."),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = JsonOption,
) -> None:
    """Incidents, newest first, with their latest message."""
    from ncm.incidents import service

    async def work() -> list[dict[str, Any]]:
        found = await service.list_incidents(live_only=open_only, limit=limit)
        latest = await service.latest_updates([i.id for i in found])
        return [record(i, latest.get(i.id)) for i in found]

    emit(run(work), as_json, title="incidents")


@app.command("flush-affected")
def flush_affected() -> None:
    """Move the recorded affected users into the database now (the worker does it every
    minute)."""
    from ncm.incidents import affected

    typer.echo(f"{run(affected.flush)} affected users recorded")
