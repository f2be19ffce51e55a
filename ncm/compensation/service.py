"""Grant campaigns: one grant per campaign and user, made set-based by chunks of user ids.

A campaign is created (a dry run shows its audience), executed (its user-id range is cut
into chunks, one row each, and a job grants each chunk with one ``INSERT ... SELECT ... ON
CONFLICT DO NOTHING``), claimed by users (or applied on the claimable date with
``auto_apply``), and may be revoked. A chunk is marked granted in the transaction that
inserted its rows, so a crashed run resumes with the chunks left (``resume``) and a chunk
run twice inserts nothing: the unique ``(campaign_id, user_id)`` makes it so.

A claimed grant is a COMPENSATION period in the membership ledger (reference
``comp:<campaign id>``), available from the claim (or the claimable date): the stacking rule
(``docs/compensation.md``) puts its days after any paid time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from ncm.billing import ledger
from ncm.billing.models import MembershipPeriod, PeriodSource
from ncm.compensation.errors import (
    AlreadyClaimed,
    ClaimWindowClosed,
    CompensationErrorCode,
    NotYetClaimable,
)
from ncm.compensation.models import (
    Audience,
    AudienceMember,
    AuditEntry,
    CampaignChunk,
    CampaignStatus,
    Grant,
    GrantCampaign,
    GrantState,
    ShiftStatus,
    StripeShift,
)
from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.incidents.models import Incident
from ncm.kit.db import is_postgres
from ncm.kit.sql import fetch, sql

DEFAULT_CHUNK = 50_000
MAX_DAYS = ledger.MAX_GRANT_DAYS
SAMPLE = 10
NEEDS_INCIDENT = {Audience.ACTIVE_DURING_INCIDENT, Audience.AFFECTED}


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def reference(campaign_id: int) -> str:
    return f"comp:{campaign_id}"


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def audience_of(value: str | Audience) -> Audience:
    try:
        return Audience(str(value).upper().replace("-", "_"))
    except ValueError:
        raise InvalidInput(
            "audience is all, active-during-incident, affected, members or users-file.",
            field="audience",
            code=CompensationErrorCode.BAD_AUDIENCE,
        ) from None


# the plan: who, how many ---------------------------------------------------------------


@dataclass
class Plan:
    """A campaign's parameters, checked; what a dry run shows and ``create`` stores."""

    days: int
    audience: Audience
    claimable_from: datetime
    claim_until: datetime
    auto_apply: bool = False
    incident: Incident | None = None
    reason: str = ""
    user_ids: list[int] = field(default_factory=list)  # USERS_FILE
    chunk_size: int = DEFAULT_CHUNK


async def plan(
    *,
    days: int,
    audience: str | Audience,
    claimable_from: datetime,
    claim_until: datetime,
    incident_id: int | None = None,
    auto_apply: bool = False,
    reason: str = "",
    user_ids: Sequence[int] = (),
    chunk_size: int = DEFAULT_CHUNK,
) -> Plan:
    if not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_DAYS}.", field="days")
    kind = audience_of(audience)
    start, end = _aware(claimable_from), _aware(claim_until)
    if end <= start:
        raise InvalidInput(
            "claim-until must be after claimable-from.",
            field="claimUntil",
            code=CompensationErrorCode.BAD_WINDOW,
        )
    incident = None
    if incident_id is not None:
        incident = await Incident.filter(id=incident_id).first()
        if incident is None:
            raise NotFound("No such incident.", field="incident")
    elif kind in NEEDS_INCIDENT:
        raise InvalidInput(
            f"--audience {kind.value.lower().replace('_', '-')} needs --incident.",
            field="incident",
            code=CompensationErrorCode.INCIDENT_REQUIRED,
        )
    ids = sorted({int(u) for u in user_ids})
    if kind == Audience.USERS_FILE and not ids:
        raise InvalidInput(
            "The users file names no user id.",
            field="usersFile",
            code=CompensationErrorCode.BAD_USERS_FILE,
        )
    if not 1 <= chunk_size <= 1_000_000:
        raise InvalidInput("chunk size must be between 1 and 1000000.", field="chunkSize")
    why = reason.strip() or (f"incident {incident.id}: {incident.title}" if incident else "")
    return Plan(
        days=days,
        audience=kind,
        claimable_from=start,
        claim_until=end,
        auto_apply=auto_apply,
        incident=incident,
        reason=why[:500],
        user_ids=ids,
        chunk_size=chunk_size,
    )


def read_users_file(text: str) -> list[int]:
    """User ids, one a line (blank lines and ``#`` comments skipped; a CSV's first column)."""
    ids: list[int] = []
    for n, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].split(",", 1)[0].strip()
        if not value or (n == 1 and not value.isdigit() and value.lower() in {"id", "user_id"}):
            continue
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) < 2**63:
            raise InvalidInput(
                f"line {n}: {value[:40]!r} is not a user id.",
                field="usersFile",
                code=CompensationErrorCode.BAD_USERS_FILE,
            )
        ids.append(int(value))
    return ids


def _audience_sql(
    kind: Audience, first: int, *, campaign_id: int | None, incident: Incident | None
) -> tuple[str, list[Any]]:
    """The audience as a condition on ``u`` (the users row), placeholders from ``$first``."""
    if kind == Audience.ALL:
        return "TRUE" if is_postgres() else "1", []
    if kind == Audience.MEMBERS:
        at = incident.started_at if incident else utcnow()
        return (
            "EXISTS (SELECT 1 FROM membership_periods p WHERE p.user_id = u.id"
            f" AND p.revoked_at IS NULL AND p.starts_at <= ${first} AND p.ends_at > ${first + 1})",
            [at, at],
        )
    if kind == Audience.USERS_FILE:
        assert campaign_id is not None
        return (
            "EXISTS (SELECT 1 FROM compensation_audience m WHERE m.user_id = u.id"
            f" AND m.campaign_id = ${first})",
            [campaign_id],
        )
    assert incident is not None
    if kind == Audience.ACTIVE_DURING_INCIDENT:
        ended = incident.ended_at or utcnow()
        return (
            "EXISTS (SELECT 1 FROM user_daily_activity a WHERE a.user_id = u.id"
            f" AND a.day >= ${first} AND a.day <= ${first + 1})",
            [incident.started_at.date(), ended.date()],
        )
    if kind == Audience.AFFECTED:
        return (
            "EXISTS (SELECT 1 FROM incident_affected_users x WHERE x.user_id = u.id"
            f" AND x.incident_id = ${first})",
            [incident.id],
        )
    raise AssertionError(kind)


@dataclass
class Preview:
    size: int
    sample: list[dict[str, Any]]


async def preview(p: Plan) -> Preview:
    """The dry run: how many users, and a few of them."""
    if p.audience == Audience.USERS_FILE:
        found: list[dict[str, Any]] = []
        size = 0
        for i in range(0, len(p.user_ids), 5000):
            part = p.user_ids[i : i + 5000]
            where, params = _in("id", part)
            rows = await fetch(f"SELECT id, handle FROM users WHERE {where} ORDER BY id", params)
            size += len(rows)
            found.extend(rows[: max(0, SAMPLE - len(found))])
        return Preview(size, found)
    if p.audience == Audience.AFFECTED:
        from ncm.incidents import affected

        await affected.flush()
    cond, params = _audience_sql(p.audience, 1, campaign_id=None, incident=p.incident)
    count = await fetch(f"SELECT count(*) AS n FROM users u WHERE {cond}", params)
    cond, params = _audience_sql(p.audience, 1, campaign_id=None, incident=p.incident)
    sample = await fetch(
        f"SELECT u.id, u.handle FROM users u WHERE {cond} ORDER BY u.id LIMIT {SAMPLE}", params
    )
    return Preview(int(count[0]["n"]), sample)


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    from ncm.kit.sql import any_of

    return any_of(column, values, 1)


# create, execute, resume -------------------------------------------------------------


async def audit(
    campaign_id: int, action: str, actor: str, detail: str = "", conn: Any = None
) -> None:
    await AuditEntry.create(
        campaign_id=campaign_id,
        action=action,
        actor=actor[:200],
        detail=detail[:1000],
        using_db=conn,
    )


async def create(p: Plan, *, by: str) -> GrantCampaign:
    """Store the campaign (DRAFT) and, for a users file, its audience."""
    async with in_transaction() as conn:
        campaign = await GrantCampaign.create(
            incident_id=p.incident.id if p.incident else None,
            days=p.days,
            audience=p.audience,
            claimable_from=p.claimable_from,
            claim_until=p.claim_until,
            auto_apply=p.auto_apply,
            reason=p.reason,
            chunk_size=p.chunk_size,
            created_by=by[:200],
            using_db=conn,
        )
        for i in range(0, len(p.user_ids), 5000):
            await AudienceMember.bulk_create(
                [
                    AudienceMember(campaign_id=campaign.id, user_id=u)
                    for u in p.user_ids[i : i + 5000]
                ],
                ignore_conflicts=True,
                using_db=conn,
            )
        await audit(
            campaign.id,
            "CREATED",
            by,
            f"{p.days} days to {p.audience.value}, claimable {p.claimable_from.isoformat()}"
            f" to {p.claim_until.isoformat()}{', auto-apply' if p.auto_apply else ''}",
            conn,
        )
    return campaign


async def get(campaign_id: int) -> GrantCampaign:
    found = await GrantCampaign.filter(id=campaign_id).first()
    if found is None:
        raise NotFound(
            "No such campaign.", field="campaign", code=CompensationErrorCode.CAMPAIGN_NOT_FOUND
        )
    return found


async def _bounds(campaign: GrantCampaign) -> tuple[int | None, int | None]:
    if campaign.audience == Audience.USERS_FILE:
        rows = await fetch(
            "SELECT MIN(u.id) AS lo, MAX(u.id) AS hi FROM compensation_audience m"
            " JOIN users u ON u.id = m.user_id WHERE m.campaign_id = $1",
            [campaign.id],
        )
    elif campaign.audience == Audience.AFFECTED:
        rows = await fetch(
            "SELECT MIN(u.id) AS lo, MAX(u.id) AS hi FROM incident_affected_users x"
            " JOIN users u ON u.id = x.user_id WHERE x.incident_id = $1",
            [campaign.incident_id],
        )
    else:
        rows = await fetch("SELECT MIN(id) AS lo, MAX(id) AS hi FROM users", [])
    return rows[0]["lo"], rows[0]["hi"]


async def execute(campaign_id: int, *, by: str) -> GrantCampaign:
    """Cut the campaign into chunks (once) and queue the chunks not granted yet. Running it
    again resumes a crashed run: it queues only what is left."""
    campaign = await get(campaign_id)
    if campaign.status == CampaignStatus.REVOKED:
        raise Conflict("The campaign was revoked.", code=CompensationErrorCode.CAMPAIGN_REVOKED)
    if campaign.audience == Audience.AFFECTED:
        from ncm.incidents import affected

        await affected.flush()  # what Redis holds joins the table first
    first_run = campaign.status == CampaignStatus.DRAFT
    if first_run:
        lo, hi = await _bounds(campaign)
        chunks = []
        if lo is not None and hi is not None:
            size = campaign.chunk_size
            chunks = [
                CampaignChunk(campaign_id=campaign.id, lo=start, hi=start + size)
                for start in range(int(lo), int(hi) + 1, size)
            ]
        async with in_transaction() as conn:
            for i in range(0, len(chunks), 5000):
                await CampaignChunk.bulk_create(
                    chunks[i : i + 5000], ignore_conflicts=True, using_db=conn
                )
            campaign.status = CampaignStatus.RUNNING
            campaign.chunks_total = len(chunks)
            campaign.executed_at = utcnow()
            campaign.executed_by = by[:200]
            await campaign.save(
                using_db=conn,
                update_fields=["status", "chunks_total", "executed_at", "executed_by"],
            )
            await audit(campaign.id, "EXECUTED", by, f"{len(chunks)} chunks", conn)
    left = await CampaignChunk.filter(campaign_id=campaign.id, granted_at__isnull=True).count()
    if not first_run:
        await audit(campaign.id, "RESUMED", by, f"{left} chunks left")
    await queue_chunks(campaign.id)
    if left == 0:
        await finish_if_done(campaign.id)
    return await get(campaign.id)


async def resume(campaign_id: int, *, by: str) -> GrantCampaign:
    return await execute(campaign_id, by=by)


async def queue_chunks(campaign_id: int) -> int:
    """Enqueue the chunks not granted yet (after the commit that made them). With Redis one
    job per chunk (the workers share them); in-process one job runs them in turn."""
    from ncm.compensation import jobs
    from ncm.kit.jobs import enqueue
    from ncm.kit.redis import get_redis

    los = _ints(
        await CampaignChunk.filter(campaign_id=campaign_id, granted_at__isnull=True)
        .order_by("lo")
        .values_list("lo", flat=True)
    )
    if not los:
        return 0
    run = f"{random.getrandbits(40):x}"  # a resume queues afresh: a killed job's id lingers
    if await get_redis() is None:
        await enqueue(jobs.grant_chunks, campaign_id, los)
        return len(los)
    for lo in los:
        await enqueue(jobs.grant_chunk, campaign_id, lo, job_id=f"comp:{campaign_id}:{lo}:{run}")
    return len(los)


async def grant_chunk(campaign_id: int, lo: int, *, force: bool = False) -> int:
    """Grant one chunk: one set-based insert, marked done in the same transaction. A chunk
    already granted inserts nothing (``force`` runs the insert again: still nothing)."""
    campaign = await get(campaign_id)
    if campaign.status == CampaignStatus.REVOKED:
        return 0
    incident = (
        await Incident.filter(id=campaign.incident_id).first() if campaign.incident_id else None
    )
    async with in_transaction() as conn:
        query = CampaignChunk.filter(campaign_id=campaign_id, lo=lo).using_db(conn)
        chunk = await (query.select_for_update() if is_postgres() else query).first()
        if chunk is None or (chunk.granted_at is not None and not force):
            return 0
        cond, extra = _audience_sql(
            campaign.audience, 5, campaign_id=campaign_id, incident=incident
        )
        if await _any_granted(conn, campaign_id, chunk.lo, chunk.hi):
            # a re-run (``force``): skip the users granted already with one anti-join,
            # rather than meeting the unique key once per user (ON CONFLICT stays the rule)
            n = 5 + len(extra)
            cond += (
                " AND NOT EXISTS (SELECT 1 FROM compensation_grants g WHERE"
                f" g.campaign_id = ${n} AND g.user_id = u.id AND g.user_id >= ${n + 1}"
                f" AND g.user_id < ${n + 2})"
            )
            extra = [*extra, campaign_id, chunk.lo, chunk.hi]
        insert = (
            "INSERT INTO compensation_grants (campaign_id, user_id, state, created_at,"
            " auto_applied) SELECT $1, u.id, 'PENDING', $2, FALSE FROM users u"
            f" WHERE u.id >= $3 AND u.id < $4 AND {cond}"
            " ON CONFLICT (campaign_id, user_id) DO NOTHING"
        )
        inserted = await _inserted(
            conn, sql(insert), [campaign_id, utcnow(), chunk.lo, chunk.hi, *extra]
        )
        await _pause()
        if chunk.granted_at is None:
            chunk.granted_at = utcnow()
            chunk.inserted = inserted
            await chunk.save(using_db=conn, update_fields=["granted_at", "inserted"])
    await finish_if_done(campaign_id)
    if campaign.auto_apply and campaign.claimable_from <= utcnow():
        await apply_chunk(campaign_id, lo)
    return inserted


async def _any_granted(conn: BaseDBAsyncClient, campaign_id: int, lo: int, hi: int) -> bool:
    """Whether the chunk ``[lo, hi)`` has a grant already (one probe of the unique key). A
    chunk's grants commit with its ``granted_at``, so only a forced re-run finds one."""
    rows = await fetch(
        "SELECT 1 AS x FROM compensation_grants WHERE campaign_id = $1 AND user_id >= $2"
        " AND user_id < $3 LIMIT 1",
        [campaign_id, lo, hi],
        conn,
    )
    return bool(rows)


async def _pause() -> None:
    """A test seam: ``NCM_COMPENSATION_CHUNK_PAUSE`` seconds inside a chunk's transaction,
    so a test can kill a worker in the middle of one."""
    import asyncio
    import os

    pause = float(os.environ.get("NCM_COMPENSATION_CHUNK_PAUSE") or 0)
    if pause:
        await asyncio.sleep(pause)


async def _inserted(conn: BaseDBAsyncClient, insert: str, params: list[Any]) -> int:
    if is_postgres():
        rows = await conn.execute_query_dict(
            f"WITH ins AS ({insert} RETURNING 1) SELECT count(*) AS n FROM ins", params
        )
        return int(rows[0]["n"])
    count, _ = await conn.execute_query(insert, params)
    return int(count)


async def finish_if_done(campaign_id: int) -> bool:
    left = await CampaignChunk.filter(campaign_id=campaign_id, granted_at__isnull=True).exists()
    if left:
        return False
    done = await GrantCampaign.filter(id=campaign_id, status=CampaignStatus.RUNNING).update(
        status=CampaignStatus.DONE, finished_at=utcnow()
    )
    if done:
        granted = await Grant.filter(campaign_id=campaign_id).count()
        await audit(campaign_id, "FINISHED", "worker", f"{granted} grants")
    return bool(done)


# auto-apply ---------------------------------------------------------------------------


async def apply_chunk(campaign_id: int, lo: int, *, force: bool = False) -> int:
    """Put a chunk's pending grants in the ledger (available from the claimable date),
    set-based, in one transaction with the chunk's ``applied_at``; then plan the Stripe
    moves. The grant rows are left as they are: a grant is applied when its ledger period
    exists (``grant_claimed``)."""
    campaign = await get(campaign_id)
    if campaign.status == CampaignStatus.REVOKED or campaign.claimable_from > utcnow():
        return 0
    async with in_transaction() as conn:
        query = CampaignChunk.filter(campaign_id=campaign_id, lo=lo).using_db(conn)
        chunk = await (query.select_for_update() if is_postgres() else query).first()
        if chunk is None or chunk.granted_at is None:
            return 0
        if chunk.applied_at is not None and not force:
            return 0
        now = utcnow()
        ends = campaign.claimable_from + timedelta(days=campaign.days)
        applied = await _apply_grants(conn, campaign, chunk.lo, chunk.hi, now=now, ends=ends)
        await _plan_shifts(conn, campaign, chunk.lo, chunk.hi)
        if chunk.applied_at is None:
            chunk.applied_at = now
            chunk.applied = applied
            await chunk.save(using_db=conn, update_fields=["applied_at", "applied"])
    all_applied = not await CampaignChunk.filter(
        campaign_id=campaign_id, applied_at__isnull=True
    ).exists()
    if all_applied and await GrantCampaign.filter(id=campaign_id, applied_at__isnull=True).update(
        applied_at=utcnow()
    ):
        await audit(campaign_id, "APPLIED", "worker", "every grant applied")
    await _queue_shifts()
    return applied


PERIOD_COLUMNS = (
    "user_id, source, reference, tier, starts_at, ends_at, amount, currency, discount, tax,"
    " refunded, note, created_at"
)


async def _apply_grants(
    conn: BaseDBAsyncClient,
    campaign: GrantCampaign,
    lo: int,
    hi: int,
    *,
    now: datetime,
    ends: datetime,
) -> int:
    """The chunk's PENDING grants become COMPENSATION periods (available from the claimable
    date); returns the periods inserted. One ``INSERT ... SELECT ... ON CONFLICT DO
    NOTHING``, and nothing else per grant: the grant rows are not updated. The ledger row
    ``(reference, user_id)`` is the record that the grant was applied (see ``claim``,
    ``pending_grants``, ``status``, ``revoke``), and the chunk's ``applied`` counts them; a
    million-row UPDATE of the grants wrote about as much as the insert itself. A grant the
    user claimed before is CLAIMED (not selected) and already has its period (the unique
    ``(reference, user_id)`` would skip it anyway)."""
    return await _inserted(
        conn,
        sql(
            f"INSERT INTO membership_periods ({PERIOD_COLUMNS})"
            " SELECT g.user_id, 'COMPENSATION', $1, 'VIP', $2, $3, 0, '', 0, 0, 0, $4, $5"
            " FROM compensation_grants g WHERE g.campaign_id = $6 AND g.user_id >= $7"
            " AND g.user_id < $8 AND g.state = 'PENDING'"
            " ON CONFLICT (reference, user_id) DO NOTHING"
        ),
        [
            reference(campaign.id),
            campaign.claimable_from,
            ends,
            campaign.reason,
            now,
            campaign.id,
            lo,
            hi,
        ],
    )


async def due_for_apply(now: datetime | None = None) -> list[int]:
    """Campaigns with ``auto_apply`` whose claimable date has come and that are not applied."""
    now = now or utcnow()
    return _ints(
        await GrantCampaign.filter(
            auto_apply=True,
            applied_at__isnull=True,
            claimable_from__lte=now,
            status__in=[CampaignStatus.RUNNING, CampaignStatus.DONE],
        ).values_list("id", flat=True)
    )


async def queue_apply(campaign_id: int) -> int:
    from ncm.compensation import jobs
    from ncm.kit.jobs import enqueue
    from ncm.kit.redis import get_redis

    los = _ints(
        await CampaignChunk.filter(
            campaign_id=campaign_id, granted_at__isnull=False, applied_at__isnull=True
        )
        .order_by("lo")
        .values_list("lo", flat=True)
    )
    if not los:
        return 0
    if await get_redis() is None:
        await enqueue(jobs.apply_chunks, campaign_id, los)
    else:
        for lo in los:
            await enqueue(
                jobs.apply_chunk, campaign_id, lo, job_id=f"comp-apply:{campaign_id}:{lo}"
            )
    return len(los)


# claiming ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingGrant:
    grant: Grant
    campaign: GrantCampaign


async def pending_grants(user_id: int, now: datetime | None = None) -> list[PendingGrant]:
    """The viewer's grants still to claim (the window not closed), soonest deadline first.
    The campaigns open for claims are few: one probe each of the unique ``(campaign_id,
    user_id)`` index finds the user's grants, so grants need no index by user (one index
    fewer to write per grant of a million-user campaign)."""
    now = now or utcnow()
    campaigns = {
        c.id: c
        for c in await GrantCampaign.filter(
            claim_until__gt=now, status__in=[CampaignStatus.RUNNING, CampaignStatus.DONE]
        )
    }
    if not campaigns:
        return []
    grants = (
        await Grant.filter(
            campaign_id__in=list(campaigns), user_id=user_id, state=GrantState.PENDING
        )
        .order_by("-id")
        .limit(50)
    )
    # auto-applied grants stay PENDING in their table: their ledger period says they are not
    in_ledger = set(
        await MembershipPeriod.filter(
            user_id=user_id, reference__in=[reference(g.campaign_id) for g in grants]
        ).values_list("reference", flat=True)
        if grants
        else []
    )
    found = [
        PendingGrant(g, campaigns[g.campaign_id])
        for g in grants
        if g.campaign_id in campaigns and reference(g.campaign_id) not in in_ledger
    ]
    return sorted(found, key=lambda p: (p.campaign.claim_until, p.grant.id))


class _AppliedMeanwhile(Exception):
    """The auto-apply put the grant in the ledger while this claim was being made."""

    def __init__(self, campaign_id: int) -> None:
        super().__init__(campaign_id)
        self.campaign_id = campaign_id


async def claim(user_id: int, grant_id: int, now: datetime | None = None) -> MembershipPeriod:
    """Claim one grant: its days join the ledger from now (after any paid time).

    A grant is claimed once, by the user or by the auto-apply, whichever writes its ledger
    period ``(reference, user_id)`` first (the unique constraint decides): the grant's row
    lock orders two claims, the ledger row a claim and the auto-apply of its chunk (which
    does not update grants). A claim that finds the period, or meets the auto-apply's
    uncommitted one (it waits for it, then violates the constraint), is AlreadyClaimed; an
    auto-apply that meets a claim's period skips it."""
    now = now or utcnow()
    try:
        return await _claim(user_id, grant_id, now)
    except _AppliedMeanwhile as exc:
        rows = await fetch(
            "SELECT created_at FROM membership_periods WHERE user_id = $1 AND reference = $2",
            [user_id, reference(exc.campaign_id)],
        )
        raise AlreadyClaimed(
            "You already claimed this grant.",
            code=CompensationErrorCode.ALREADY_CLAIMED,
            at=rows[0]["created_at"] if rows else None,
        ) from None


async def _claim(user_id: int, grant_id: int, now: datetime) -> MembershipPeriod:
    from tortoise.exceptions import IntegrityError

    async with in_transaction() as conn:
        await ledger.lock_user(conn, user_id)
        # the grant's row lock orders a claim and a concurrent auto-apply of its chunk: the
        # second one sees the grant CLAIMED (AlreadyClaimed here, skipped by the apply)
        query = Grant.filter(id=grant_id, user_id=user_id).using_db(conn)
        grant = await (query.select_for_update() if is_postgres() else query).first()
        campaign = (
            await GrantCampaign.filter(id=grant.campaign_id).using_db(conn).first()
            if grant
            else None
        )
        if grant is None or campaign is None or campaign.status == CampaignStatus.REVOKED:
            raise NotFound(
                "No such grant.", field="grantId", code=CompensationErrorCode.GRANT_NOT_FOUND
            )
        applied = (
            await MembershipPeriod.filter(user_id=user_id, reference=reference(campaign.id))
            .using_db(conn)
            .first()
        )
        if grant.state != GrantState.PENDING or applied is not None:
            raise AlreadyClaimed(
                "You already claimed this grant.",
                code=CompensationErrorCode.ALREADY_CLAIMED,
                at=grant.claimed_at or (applied.created_at if applied else None),
            )
        if now < campaign.claimable_from:
            raise NotYetClaimable(
                f"This grant can be claimed from {campaign.claimable_from.isoformat()}.",
                code=CompensationErrorCode.NOT_YET_CLAIMABLE,
                at=campaign.claimable_from,
            )
        if now >= campaign.claim_until:
            raise ClaimWindowClosed(
                f"This grant could be claimed until {campaign.claim_until.isoformat()}.",
                code=CompensationErrorCode.CLAIM_WINDOW_CLOSED,
                at=campaign.claim_until,
            )
        try:
            # a plain insert, not ledger.record_period (which would hand back a period the
            # auto-apply committed since the check above, as if this claim had made it); a
            # gift has no charge or invoice whose refunds it would take
            period = await MembershipPeriod.create(
                user_id=user_id,
                source=PeriodSource.COMPENSATION,
                reference=reference(campaign.id),
                starts_at=now,
                ends_at=now + timedelta(days=campaign.days),
                note=campaign.reason[:500],
                using_db=conn,
            )
        except IntegrityError:
            # the auto-apply's period committed first
            raise _AppliedMeanwhile(campaign.id) from None
        grant.state = GrantState.CLAIMED
        grant.claimed_at = now
        await grant.save(using_db=conn, update_fields=["state", "claimed_at"])
        await _plan_shifts(conn, campaign, user_id, user_id + 1)
    await _queue_shifts()
    return period


# revoke, status, list ------------------------------------------------------------------


async def revoke(campaign_id: int, *, by: str) -> dict[str, int]:
    """Unclaimed grants are removed; claimed ones end now (their ledger periods are revoked,
    so the days not used yet are gone); Stripe moves not made yet are skipped."""
    campaign = await get(campaign_id)
    now = utcnow()
    async with in_transaction() as conn:
        await (
            GrantCampaign.filter(id=campaign_id)
            .using_db(conn)
            .update(status=CampaignStatus.REVOKED, revoked_at=now, revoked_by=by[:200])
        )
        # unclaimed: PENDING with no ledger period (an auto-applied grant has one)
        removed, _ = await conn.execute_query(
            sql(
                "DELETE FROM compensation_grants WHERE campaign_id = $1 AND state = 'PENDING'"
                " AND NOT EXISTS (SELECT 1 FROM membership_periods p WHERE p.reference = $2"
                " AND p.user_id = compensation_grants.user_id)"
            ),
            [campaign_id, reference(campaign_id)],
        )
        # what is left was claimed or auto-applied
        ended = (
            await Grant.filter(campaign_id=campaign_id, state__not=GrantState.ENDED)
            .using_db(conn)
            .update(state=GrantState.ENDED)
        )
        periods = (
            await MembershipPeriod.filter(reference=reference(campaign_id), revoked_at__isnull=True)
            .using_db(conn)
            .update(revoked_at=now)
        )
        skipped = await conn.execute_query(
            sql(
                "UPDATE compensation_stripe_shifts SET status = 'SKIPPED', last_error = $1"
                " WHERE status = 'PENDING' AND grant_id IN (SELECT id FROM compensation_grants"
                " WHERE campaign_id = $2)"
            ),
            ["campaign revoked", campaign_id],
        )
        counts = {
            "removed": int(removed),
            "ended": int(ended),
            "ledger_periods_revoked": int(periods),
            "stripe_moves_skipped": int(skipped[0] or 0),
        }
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        await audit(campaign.id, "REVOKED", by, detail, conn)
    return counts


@dataclass
class Status:
    campaign: GrantCampaign
    chunks_done: int
    chunks_applied: int
    grants: dict[str, int]
    stripe: dict[str, int]
    audit: list[AuditEntry]

    @property
    def total_grants(self) -> int:
        return sum(self.grants.values())


async def status(campaign_id: int) -> Status:
    campaign = await get(campaign_id)
    chunk_rows = await fetch(
        "SELECT count(granted_at) AS done, count(applied_at) AS applied,"
        " COALESCE(SUM(applied), 0) AS auto_applied FROM compensation_chunks"
        " WHERE campaign_id = $1",
        [campaign_id],
    )
    grants = {s.value: 0 for s in GrantState}
    for row in await fetch(
        "SELECT state, count(*) AS n FROM compensation_grants WHERE campaign_id = $1"
        " GROUP BY state",
        [campaign_id],
    ):
        grants[row["state"]] = int(row["n"])
    if campaign.status != CampaignStatus.REVOKED:
        # auto-applied grants keep their PENDING row; each chunk counts the ones it applied
        moved = min(int(chunk_rows[0]["auto_applied"]), grants[GrantState.PENDING.value])
        grants[GrantState.PENDING.value] -= moved
        grants[GrantState.CLAIMED.value] += moved
    stripe = {s.value: 0 for s in ShiftStatus}
    for row in await fetch(
        "SELECT s.status, count(*) AS n FROM compensation_stripe_shifts s"
        " JOIN compensation_grants g ON g.id = s.grant_id WHERE g.campaign_id = $1"
        " GROUP BY s.status",
        [campaign_id],
    ):
        stripe[row["status"]] = int(row["n"])
    trail = await AuditEntry.filter(campaign_id=campaign_id).order_by("id")
    return Status(
        campaign,
        int(chunk_rows[0]["done"]),
        int(chunk_rows[0]["applied"]),
        grants,
        stripe,
        list(trail),
    )


async def progress(campaign_id: int) -> tuple[CampaignStatus, int, int, int]:
    """``(status, chunks total, chunks granted, grants inserted)``: cheap (the chunk rows, not
    the grants), for a progress bar polled twice a second on a 200M-user campaign."""
    campaign = await get(campaign_id)
    rows = await fetch(
        "SELECT count(granted_at) AS done, COALESCE(SUM(inserted), 0) AS n"
        " FROM compensation_chunks WHERE campaign_id = $1",
        [campaign_id],
    )
    return campaign.status, campaign.chunks_total, int(rows[0]["done"]), int(rows[0]["n"])


async def list_campaigns(limit: int = 50) -> list[GrantCampaign]:
    return list(await GrantCampaign.all().order_by("-id").limit(max(1, min(limit, 500))))


# Stripe: move the next charge of auto-renewing subscribers ----------------------------


async def _plan_shifts(conn: BaseDBAsyncClient, campaign: GrantCampaign, lo: int, hi: int) -> None:
    """One StripeShift per grant in the ledger (claimed, or in a chunk just auto-applied:
    not ENDED) of a user whose subscription renews itself: the renewal it moves is the
    subscription's current period end, if still ahead."""
    now = utcnow()
    await conn.execute_query(
        sql(
            "INSERT INTO compensation_stripe_shifts (grant_id, user_id, subscription_ref,"
            " expected_period_end, days, status, attempts, last_error, created_at)"
            " SELECT g.id, g.user_id, s.stripe_id, s.current_period_end, $1, 'PENDING', 0, '', $2"
            " FROM compensation_grants g JOIN billing_subscriptions s ON s.user_id = g.user_id"
            " WHERE g.campaign_id = $3 AND g.user_id >= $4 AND g.user_id < $5"
            " AND g.state <> 'ENDED' AND s.status IN ('active', 'trialing', 'past_due')"
            " AND s.cancel_at_period_end = FALSE AND s.current_period_end > $6"
            " ON CONFLICT (grant_id) DO NOTHING"
        ),
        [campaign.days, now, campaign.id, lo, hi, now],
    )


async def _queue_shifts() -> None:
    from ncm.compensation import jobs
    from ncm.config import get_settings
    from ncm.kit.jobs import enqueue

    if not get_settings().stripe_api_key:
        return  # no Stripe here: nothing to move (the ledger holds the gift regardless)
    if await StripeShift.filter(status=ShiftStatus.PENDING).exists():
        # one mover at a time paces the whole queue (job id dedupes while it is queued)
        await enqueue(jobs.move_next_charges, job_id="comp-stripe-shifts")


MAX_SHIFT_ATTEMPTS = 8
# Stripe's documented limits (docs.stripe.com/rate-limits): live mode 100 requests a second
# for the account and 25 per endpoint; test mode (sandboxes) 25 for the account. A move is
# one read and one write on two endpoints, so at most 25 moves/s live and 12.5 in test mode;
# the defaults leave a fifth of that to the rest of billing.
LIVE_MOVES_PER_S = 20.0
TEST_MOVES_PER_S = 10.0
MOVERS = 16  # moves in flight: Stripe answers in ~0.1-0.5 s, so pacing needs several


def default_move_rate() -> float:
    """``NCM_COMPENSATION_STRIPE_RATE`` moves a second, else by the key's mode."""
    import os

    from ncm.config import get_settings

    configured = os.environ.get("NCM_COMPENSATION_STRIPE_RATE")
    if configured:
        return float(configured)
    live = (get_settings().stripe_api_key or "").startswith(("sk_live", "rk_live"))
    return LIVE_MOVES_PER_S if live else TEST_MOVES_PER_S


async def move_next_charges(
    *,
    rate: float | None = None,
    limit: int | None = None,
    gateway: Any = None,
    concurrency: int = MOVERS,
) -> dict[str, int]:
    """Make the pending Stripe moves: one started every ``1 / rate`` seconds (``rate`` moves
    a second, ``default_move_rate()`` if not given, unpaced if 0), at most ``concurrency`` in
    flight. A provider outage leaves the move PENDING for the next run; after
    ``MAX_SHIFT_ATTEMPTS`` it is FAILED. The ledger does not wait for any of this: the gift is
    placed by the stacking rule whether or not Stripe has moved the charge yet."""
    import asyncio
    import time

    from ncm.billing import stripe as stripe_wrapper

    gw = gateway or stripe_wrapper.gateway()
    rate = default_move_rate() if rate is None else rate
    interval = 1.0 / rate if rate > 0 else 0.0
    counts = {"done": 0, "skipped": 0, "failed": 0, "retry": 0}
    slots = asyncio.Semaphore(max(1, concurrency))
    running: set[asyncio.Task[None]] = set()

    moving: set[str] = set()  # subscriptions with a move in flight

    async def one(shift: StripeShift) -> None:
        try:
            counts[await _move(gw, shift)] += 1
        finally:
            moving.discard(shift.subscription_ref)
            slots.release()

    next_at = time.monotonic()
    seen = 0
    after: tuple[datetime, int] | None = None
    while limit is None or seen < limit:
        # soonest renewal first: a move made after its renewal is skipped (the gift then
        # lands after the paid period, still whole), so the ones about to renew go first
        query = StripeShift.filter(status=ShiftStatus.PENDING)
        if after is not None:
            query = query.filter(
                Q(expected_period_end__gt=after[0])
                | Q(expected_period_end=after[0], id__gt=after[1]),
                expected_period_end__gte=after[0],  # lets PostgreSQL seek the index
            )
        batch = await query.order_by("expected_period_end", "id").limit(200)
        if not batch:
            break
        for shift in batch:
            after = (shift.expected_period_end, shift.id)
            if limit is not None and seen >= limit:
                break
            seen += 1
            if shift.subscription_ref in moving:
                # a second gift to one subscription waits for the next run, after the first
                # move (which changes the period end it expects: then it is skipped)
                counts["retry"] += 1
                continue
            await slots.acquire()
            wait = next_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            next_at = max(next_at, time.monotonic()) + interval
            moving.add(shift.subscription_ref)
            task = asyncio.create_task(one(shift))
            running.add(task)
            task.add_done_callback(running.discard)
    if running:
        await asyncio.gather(*running)
    return counts


async def _move(gw: Any, shift: StripeShift) -> str:
    """One move through the wrapper; which count it adds to."""
    from ncm.billing import stripe as stripe_wrapper
    from ncm.billing.errors import PaymentProviderError, PaymentProviderUnavailable

    await _reserve_trial(shift)
    trial_end = shift.expected_period_end + timedelta(days=shift.days)
    shift.attempts += 1
    try:
        moved = await stripe_wrapper.move_next_charge(
            gw,
            shift.subscription_ref,
            expected_period_end=int(shift.expected_period_end.timestamp()),
            trial_end=int(trial_end.timestamp()),
            key=f"comp-shift:{shift.grant_id}",
        )
    except PaymentProviderUnavailable as exc:
        shift.last_error = str(exc)[:500]
        outcome = "retry"
        if shift.attempts >= MAX_SHIFT_ATTEMPTS:
            shift.status = ShiftStatus.FAILED
            outcome = "failed"
        await shift.save(update_fields=["attempts", "last_error", "status"])
        return outcome
    except PaymentProviderError as exc:
        shift.status = ShiftStatus.FAILED
        shift.last_error = str(exc)[:500]
        await shift.save(update_fields=["attempts", "last_error", "status"])
        return "failed"
    shift.done_at = utcnow()
    if moved is None:
        shift.status = ShiftStatus.SKIPPED
        shift.last_error = "renewed, ended or changed before the move"
    else:
        shift.status = ShiftStatus.DONE
    await shift.save(update_fields=["attempts", "done_at", "status", "last_error"])
    return "skipped" if moved is None else "done"


async def _reserve_trial(shift: StripeShift) -> None:
    """Moving ``trial_end`` makes Stripe report a trial until the moved date, which the
    subscription mirror would record as a TRIAL period (``trial:<subscription>``) covering the
    very days the gift already gives. A zero-length TRIAL row under that reference, written
    first, keeps that insert a no-op: the gift's days count once. (A subscription that had
    a real trial already has its row; nothing changes then.)"""
    async with in_transaction() as conn:
        await ledger.lock_user(conn, shift.user_id)
        ref = f"trial:{shift.subscription_ref}"
        if (
            not await MembershipPeriod.filter(user_id=shift.user_id, reference=ref)
            .using_db(conn)
            .exists()
        ):
            at = shift.expected_period_end
            await MembershipPeriod.create(
                user_id=shift.user_id,
                source=PeriodSource.TRIAL,
                reference=ref,
                starts_at=at,
                ends_at=at,  # covers nothing
                subscription_ref=shift.subscription_ref,
                note="no trial: the next charge was moved by a compensation grant",
                using_db=conn,
            )
