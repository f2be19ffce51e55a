"""Incidents: operators' CLI, the public serviceStatus, the breaker's detected incidents and
the affected users recorded without a database write per request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.incidents import affected, detector, service
from ncm.incidents.models import AffectedUser, Component, Incident, IncidentStatus
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import count_queries, make_user

T0 = datetime(2026, 8, 1, 10, 0, tzinfo=UTC)
STATUS = "{ serviceStatus { operational degradedComponents incidents { id title component status startedAt latestMessage { message } } } }"


async def test_open_update_close_and_list_from_the_cli() -> None:
    incident = ncm_json(
        "incidents",
        "open",
        "--title",
        "Songs do not start",
        "--started-at",
        "2026-08-01T10:00",
        "--component",
        "playback",
    )
    assert incident["status"] == "OPEN" and incident["component"] == "PLAYBACK"
    assert incident["started_at"].startswith("2026-08-01T10:00:00")
    iid = str(incident["id"])
    assert ncm("incidents", "update", iid, "--message", "We are on it").returncode == 0
    listed = ncm_json("incidents", "list")
    assert listed[0]["latest_message"] == "We are on it"
    closed = ncm_json("incidents", "close", iid, "--ended-at", "2026-08-01T12:00")
    assert closed["status"] == "RESOLVED" and closed["ended_at"].startswith("2026-08-01T12:00")
    late = ncm("incidents", "update", iid, "--message", "again")
    assert late.returncode == 1 and late.stderr.startswith("error:") and "closed" in late.stderr
    assert ncm("incidents", "close", "999").returncode == 1
    bad = ncm(
        "incidents", "open", "--title", "x", "--started-at", "2026-08-01", "--component", "cdn"
    )
    assert bad.returncode == 1 and "component" in bad.stderr


async def test_close_before_start_and_bad_titles_are_refused() -> None:
    incident = await service.open_incident("API errors", T0, "api")
    with pytest.raises(InvalidInput):
        await service.close(incident.id, T0 - timedelta(hours=1))
    with pytest.raises(InvalidInput):
        await service.open_incident("  ", T0)
    with pytest.raises(InvalidInput):
        await service.open_incident("bad\x00title", T0)
    with pytest.raises(NotFound):
        await service.post_update(12345, "x")
    await service.close(incident.id, T0 + timedelta(hours=1))
    again = await service.close(incident.id, T0 + timedelta(hours=5))  # idempotent
    assert again.ended_at == T0 + timedelta(hours=1)
    with pytest.raises(Conflict):
        await service.post_update(incident.id, "late")


async def test_service_status_is_public_shows_the_latest_message_and_is_cached(gql: Any) -> None:
    body = await gql(STATUS)
    assert body["data"]["serviceStatus"] == {
        "operational": True,
        "degradedComponents": [],
        "incidents": [],
    }
    incident = await service.open_incident("Songs do not start", T0, Component.PLAYBACK)
    await service.post_update(incident.id, "first")
    await service.post_update(incident.id, "Fixed the database; watching")
    status = (await gql(STATUS))["data"]["serviceStatus"]
    assert status["operational"] is False and status["degradedComponents"] == ["PLAYBACK"]
    assert status["incidents"][0]["latestMessage"] == {"message": "Fixed the database; watching"}
    with count_queries() as counter:  # served from memory for a few seconds
        await gql(STATUS)
    assert counter.count == 0
    await service.close(incident.id)
    assert (await gql(STATUS))["data"]["serviceStatus"]["operational"] is True


async def test_affected_users_are_recorded_without_database_writes_and_flushed() -> None:
    incident = await service.open_incident("Songs do not start", T0)
    other = await service.open_incident("API slow", T0, "api")
    users = [await make_user(f"user{i}") for i in range(3)]
    await affected.refresh_open()
    with count_queries() as counter:
        for u in [*users, users[0]]:
            await affected.record(u.id)
        await affected.record(None)
    assert counter.count == 0  # Redis (or memory) only
    assert await affected.pending(affected.key_of(incident.id)) == {u.id for u in users}
    assert await affected.flush() == 6  # both open incidents
    assert await affected.flush() == 0
    rows = await AffectedUser.filter(incident_id=incident.id).values_list("user_id", flat=True)
    assert sorted(rows) == sorted(u.id for u in users)
    assert (await Incident.get(id=incident.id)).affected_count == 3
    await service.close(incident.id)
    await service.close(other.id)
    affected.forget_open()
    await affected.refresh_open()
    await affected.record(users[0].id)  # no open incident: nothing recorded
    assert await affected.flush() == 0


async def test_merge_moves_affected_users_and_confirm_keeps_it_open() -> None:
    detected = await service.open_incident(
        "Playback degraded", T0, status=IncidentStatus.DETECTED, detector_key="auto-x"
    )
    mine = await service.open_incident("Database failover", T0 + timedelta(minutes=5))
    user = await make_user()
    await AffectedUser.create(incident_id=detected.id, user_id=user.id)
    confirmed = await service.confirm(detected.id)
    assert confirmed.status == IncidentStatus.OPEN
    merged = await service.merge(detected.id, mine.id)
    assert merged.status == IncidentStatus.MERGED and merged.merged_into_id == mine.id
    target = await Incident.get(id=mine.id)
    assert target.started_at == T0 and target.affected_count == 1
    with pytest.raises(InvalidInput):
        await service.merge(mine.id, mine.id)


async def test_degraded_playback_opens_a_detected_incident_records_users_and_closes_it(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The breaker trips (the database is unavailable for playback): an incident is DETECTED,
    the users who got ServiceDegraded are recorded, and the next good read closes it."""
    from ncm.stream import facts
    from ncm.stream import service as stream
    from tests.conftest import login_token
    from tests.stream.helpers import PLAYBACKS, gid, track_with

    stream.reset_breaker()
    user = await make_user("ann")
    token = await login_token(user)
    track = await track_with()

    async def down(*args: object) -> None:
        raise ConnectionRefusedError("database down")

    with monkeypatch.context() as patch:
        patch.setattr(facts, "load_tracks", down)
        body = await gql(PLAYBACKS, {"ids": [gid(track.id)]}, token=token)
        assert body["data"]["playbacks"][0]["__typename"] == "ServiceDegraded"
        await detector.settle()
    incident = await Incident.get(component=Component.PLAYBACK)
    assert incident.status == IncidentStatus.DETECTED and incident.detector_key
    assert incident.ended_at is None
    status = await service.service_status()
    assert [e.incident.id for e in status.incidents] == [incident.id]
    await affected.flush()
    assert await AffectedUser.filter(incident_id=incident.id, user_id=user.id).exists()
    stream.reset_breaker()
    body = await gql(PLAYBACKS, {"ids": [gid(track.id)]}, token=token)
    assert body["data"]["playbacks"][0]["__typename"] == "Playable"
    await detector.settle()
    closed = await Incident.get(id=incident.id)
    assert closed.status == IncidentStatus.RESOLVED and closed.ended_at is not None
    assert closed.closed_by == "detector"
