"""Incidents: opened, updated and closed by operators (``ncm incidents``) or by the playback
breaker (``ncm.incidents.detector``); the public ``serviceStatus`` the apps show instead of
a vague "data error"."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.incidents.errors import IncidentsErrorCode
from ncm.incidents.models import Component, Incident, IncidentStatus, IncidentUpdate
from ncm.kit.locks import lock_for_transaction
from ncm.kit.text import storable_text

LIVE = (IncidentStatus.DETECTED, IncidentStatus.OPEN)
STATUS_TTL = 5.0  # seconds serviceStatus is served from this process's memory
MAX_LIST = 500


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def component_of(value: str | Component) -> Component:
    try:
        return Component(str(value).upper())
    except ValueError:
        raise InvalidInput(
            "component is playback, api or payments.",
            field="component",
            code=IncidentsErrorCode.BAD_COMPONENT,
        ) from None


def _text(value: str, name: str, limit: int) -> str:
    if value and not storable_text(value):
        raise InvalidInput(f"{name} holds characters that cannot be stored.", field=name)
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{name} is required.", field=name)
    if len(value) > limit:
        raise InvalidInput(f"{name} is at most {limit} characters.", field=name)
    return value


async def get(incident_id: int) -> Incident:
    found = await Incident.filter(id=incident_id).first()
    if found is None:
        raise NotFound(
            "No such incident.", field="incident", code=IncidentsErrorCode.INCIDENT_NOT_FOUND
        )
    return found


async def open_incident(
    title: str,
    started_at: datetime,
    component: str | Component = Component.PLAYBACK,
    *,
    by: str = "",
    status: IncidentStatus = IncidentStatus.OPEN,
    detector_key: str | None = None,
) -> Incident:
    incident = await Incident.create(
        title=_text(title, "title", 200),
        component=component_of(component),
        status=status,
        started_at=_aware(started_at, "started_at"),
        opened_by=by[:200],
        detector_key=detector_key,
    )
    invalidate_status()
    return incident


async def post_update(incident_id: int, message: str, *, by: str = "") -> IncidentUpdate:
    incident = await get(incident_id)
    if incident.status not in LIVE:
        raise Conflict(
            "The incident is closed.", field="incident", code=IncidentsErrorCode.INCIDENT_CLOSED
        )
    update = await IncidentUpdate.create(
        incident_id=incident.id, message=_text(message, "message", 2000), author=by[:200]
    )
    invalidate_status()
    return update


async def confirm(incident_id: int, *, by: str = "") -> Incident:
    """An operator takes a DETECTED incident as real (it stays open)."""
    incident = await get(incident_id)
    if incident.status == IncidentStatus.DETECTED:
        incident.status = IncidentStatus.OPEN
        incident.opened_by = incident.opened_by or by
        await incident.save(update_fields=["status", "opened_by", "updated_at"])
        invalidate_status()
    return incident


async def merge(incident_id: int, into_id: int, *, by: str = "") -> Incident:
    """Fold a (detected) incident into another: its affected users move with it."""
    from ncm.incidents.models import AffectedUser
    from ncm.kit.sql import fetch

    if incident_id == into_id:
        raise InvalidInput("An incident cannot be merged into itself.", field="into")
    incident, target = await get(incident_id), await get(into_id)
    async with in_transaction() as conn:
        await fetch(
            "INSERT INTO incident_affected_users (incident_id, user_id) SELECT $1, user_id"
            " FROM incident_affected_users WHERE incident_id = $2"
            " ON CONFLICT (incident_id, user_id) DO NOTHING",
            [target.id, incident.id],
            conn,
        )
        incident.status = IncidentStatus.MERGED
        incident.merged_into_id = target.id
        incident.ended_at = incident.ended_at or utcnow()
        incident.closed_by = by[:200]
        await incident.save(
            using_db=conn,
            update_fields=["status", "merged_into_id", "ended_at", "closed_by", "updated_at"],
        )
        if incident.started_at < target.started_at:
            target.started_at = incident.started_at
            await target.save(using_db=conn, update_fields=["started_at", "updated_at"])
    target.affected_count = await AffectedUser.filter(incident_id=target.id).count()
    await target.save(update_fields=["affected_count", "updated_at"])
    invalidate_status()
    return incident


async def close(incident_id: int, ended_at: datetime | None = None, *, by: str = "") -> Incident:
    """Resolve an incident (idempotent for one already resolved)."""
    ended_at = _aware(ended_at or utcnow(), "ended_at")
    async with in_transaction() as conn:
        await lock_for_transaction(conn, "ncm.incidents", incident_id)
        incident = await Incident.filter(id=incident_id).using_db(conn).first()
        if incident is None:
            raise NotFound(
                "No such incident.", field="incident", code=IncidentsErrorCode.INCIDENT_NOT_FOUND
            )
        if incident.status not in LIVE:
            return incident
        if ended_at < incident.started_at:
            raise InvalidInput(
                "ended_at is before started_at.",
                field="ended_at",
                code=IncidentsErrorCode.ENDS_BEFORE_START,
            )
        incident.status = IncidentStatus.RESOLVED
        incident.ended_at = ended_at
        incident.closed_by = by[:200]
        await incident.save(
            using_db=conn, update_fields=["status", "ended_at", "closed_by", "updated_at"]
        )
    invalidate_status()
    return incident


async def list_incidents(*, live_only: bool = False, limit: int = 50) -> list[Incident]:
    query = Incident.all()
    if live_only:
        query = query.filter(status__in=list(LIVE))
    return await query.order_by("-id").limit(max(1, min(limit, MAX_LIST)))


async def latest_updates(incident_ids: list[int]) -> dict[int, IncidentUpdate]:
    """The newest update of each incident (one query)."""
    if not incident_ids:
        return {}
    rows = (
        await IncidentUpdate.filter(incident_id__in=incident_ids)
        .order_by("-id")
        .limit(len(incident_ids) * 20)
    )
    found: dict[int, IncidentUpdate] = {}
    for row in rows:
        found.setdefault(row.incident_id, row)
    return found


# serviceStatus ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusEntry:
    incident: Incident
    latest: IncidentUpdate | None


@dataclass
class ServiceStatus:
    incidents: list[StatusEntry] = field(default_factory=list)
    checked_at: datetime = field(default_factory=utcnow)

    @property
    def degraded_components(self) -> list[Component]:
        return sorted({e.incident.component for e in self.incidents})


_status: tuple[float, ServiceStatus] | None = None


def invalidate_status() -> None:
    global _status
    _status = None


async def service_status() -> ServiceStatus:
    """Open incidents and their latest message, cached in this process for ``STATUS_TTL``
    seconds (the apps poll it; a database outage serves the last known answer)."""
    global _status
    now = time.monotonic()
    if _status is not None and now - _status[0] < STATUS_TTL:
        return _status[1]
    try:
        live = await list_incidents(live_only=True, limit=50)
        latest = await latest_updates([i.id for i in live])
    except Exception as exc:
        from ncm.kit.db import is_unavailable

        if _status is None or not is_unavailable(exc):
            raise
        return _status[1]  # the database is down: the last answer is better than none
    result = ServiceStatus([StatusEntry(i, latest.get(i.id)) for i in live])
    _status = (now, result)
    return result
