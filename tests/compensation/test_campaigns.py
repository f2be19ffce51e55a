"""Grant campaigns: dry run, chunked idempotent execution, claims, auto-apply, revocation,
audit, and the Stripe moves of auto-renewing subscribers' next charge."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ncm.billing.entitlement import entitlement
from ncm.billing.models import MembershipPeriod, PeriodSource, Subscription
from ncm.compensation import service
from ncm.compensation.errors import AlreadyClaimed, ClaimWindowClosed, NotYetClaimable
from ncm.compensation.models import (
    AuditEntry,
    CampaignChunk,
    CampaignStatus,
    Grant,
    GrantState,
    ShiftStatus,
    StripeShift,
)
from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.incidents import service as incidents
from ncm.incidents.models import AffectedUser
from ncm.schema.base import to_global_id
from ncm.stream.models import UserDailyActivity
from tests.billing.helpers import process_pending
from tests.conftest import count_queries, login_token, make_user

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)


async def users(n: int) -> list[Any]:
    return [await make_user(f"user{i:03d}") for i in range(n)]


async def campaign_for(audience: str = "all", **kw: Any) -> Any:
    p = await service.plan(
        days=kw.pop("days", 7),
        audience=audience,
        claimable_from=kw.pop("claimable_from", NOW - DAY),
        claim_until=kw.pop("claim_until", NOW + 30 * DAY),
        chunk_size=kw.pop("chunk_size", 3),
        **kw,
    )
    return await service.create(p, by="cli:ops")


async def run_campaign(campaign: Any) -> Any:
    await service.execute(campaign.id, by="cli:ops")
    await process_pending()
    return await service.status(campaign.id)


async def test_dry_run_sizes_each_audience() -> None:
    people = await users(6)
    incident = await incidents.open_incident("Songs do not start", NOW - 2 * DAY)
    await AffectedUser.create(incident_id=incident.id, user_id=people[1].id)
    await UserDailyActivity.create(user_id=people[2].id, day=(NOW - DAY).date(), plays=3)
    await UserDailyActivity.create(user_id=people[3].id, day=date(2020, 1, 1), plays=3)
    await MembershipPeriod.create(
        user_id=people[4].id,
        source=PeriodSource.PAID,
        reference="in_1",
        starts_at=NOW - 10 * DAY,
        ends_at=NOW + 20 * DAY,
        amount=1500,
        currency="CNY",
    )
    sizes = {}
    for audience in ["all", "affected", "active-during-incident", "members"]:
        p = await service.plan(
            days=7,
            audience=audience,
            incident_id=incident.id,
            claimable_from=NOW,
            claim_until=NOW + DAY,
        )
        sizes[audience] = (await service.preview(p)).size
    assert sizes == {"all": 6, "affected": 1, "active-during-incident": 1, "members": 1}
    p = await service.plan(
        days=7,
        audience="users-file",
        user_ids=[people[0].id, people[5].id, 999999],
        claimable_from=NOW,
        claim_until=NOW + DAY,
    )
    found = await service.preview(p)
    assert found.size == 2 and [r["id"] for r in found.sample] == [people[0].id, people[5].id]
    assert not await Grant.exists()  # a dry run writes nothing


async def test_plan_refuses_bad_parameters() -> None:
    with pytest.raises(InvalidInput):
        await service.plan(days=0, audience="all", claimable_from=NOW, claim_until=NOW + DAY)
    with pytest.raises(InvalidInput):
        await service.plan(days=7, audience="everyone", claimable_from=NOW, claim_until=NOW + DAY)
    with pytest.raises(InvalidInput):
        await service.plan(days=7, audience="all", claimable_from=NOW, claim_until=NOW)
    with pytest.raises(InvalidInput):  # affected needs an incident
        await service.plan(days=7, audience="affected", claimable_from=NOW, claim_until=NOW + DAY)
    with pytest.raises(NotFound):
        await service.plan(
            days=7, audience="all", incident_id=42, claimable_from=NOW, claim_until=NOW + DAY
        )
    with pytest.raises(InvalidInput):
        service.read_users_file("1\n2\nthree\n")
    assert service.read_users_file("user_id\n3\n\n# x\n1,abc\n") == [3, 1]


async def test_execute_grants_once_per_user_by_chunks_and_a_rerun_inserts_nothing() -> None:
    people = await users(8)
    campaign = await campaign_for(chunk_size=3)
    s = await run_campaign(campaign)
    assert s.campaign.status == CampaignStatus.DONE
    assert s.campaign.chunks_total == 3 and s.chunks_done == 3
    assert s.grants["PENDING"] == 8 and s.total_grants == 8
    assert sorted(
        await Grant.filter(campaign_id=campaign.id).values_list("user_id", flat=True)
    ) == sorted(u.id for u in people)
    for chunk in await CampaignChunk.filter(campaign_id=campaign.id):
        assert await service.grant_chunk(campaign.id, chunk.lo) == 0  # done: skipped
        assert await service.grant_chunk(campaign.id, chunk.lo, force=True) == 0  # re-run
    await service.resume(campaign.id, by="cli:ops")  # nothing left to queue
    await process_pending()
    assert await Grant.filter(campaign_id=campaign.id).count() == 8
    actions = [a.action for a in await AuditEntry.filter(campaign_id=campaign.id).order_by("id")]
    assert actions == ["CREATED", "EXECUTED", "FINISHED", "RESUMED"]
    assert (await AuditEntry.get(action="CREATED")).actor == "cli:ops"


async def test_chunk_insert_is_one_statement_whatever_its_size() -> None:
    await users(7)
    campaign = await campaign_for(chunk_size=1000)
    await service.execute(campaign.id, by="x")
    await process_pending()
    chunk = await CampaignChunk.get(campaign_id=campaign.id)
    await CampaignChunk.filter(id=chunk.id).update(granted_at=None)
    await Grant.filter(campaign_id=campaign.id).delete()
    with count_queries() as counter:
        assert await service.grant_chunk(campaign.id, chunk.lo) == 7
    inserts = [q for q in counter.queries if "INSERT INTO compensation_grants" in q]
    assert len(inserts) == 1 and "ON CONFLICT" in inserts[0]


async def test_a_forced_rerun_skips_granted_users_and_grants_only_the_missing() -> None:
    """A re-run of a chunk that has grants adds an anti-join on the campaign's grants (no
    unique-key probe per user granted already); a user it lacks is still granted, once."""
    await users(5)
    campaign = await campaign_for(chunk_size=1000)
    await run_campaign(campaign)
    chunk = await CampaignChunk.get(campaign_id=campaign.id)
    dropped = await Grant.filter(campaign_id=campaign.id).order_by("user_id").first()
    assert dropped is not None
    await Grant.filter(id=dropped.id).delete()
    with count_queries() as counter:
        assert await service.grant_chunk(campaign.id, chunk.lo, force=True) == 1
    inserts = [q for q in counter.queries if "INSERT INTO compensation_grants" in q]
    assert len(inserts) == 1 and "NOT EXISTS" in inserts[0] and "ON CONFLICT" in inserts[0]
    assert await service.grant_chunk(campaign.id, chunk.lo, force=True) == 0
    assert await Grant.filter(campaign_id=campaign.id).count() == 5
    assert await Grant.filter(campaign_id=campaign.id, user_id=dropped.user_id).count() == 1


CLAIM = """mutation($id: ID!) { claimGrant(grantId: $id) { __typename
  ... on ClaimGrantPayload { days membership { active activeUntil source } }
  ... on NotYetClaimableError { code claimableFrom }
  ... on ClaimWindowClosedError { code claimUntil }
  ... on AlreadyClaimedError { code claimedAt }
  ... on NotFoundError { code } } }"""
PENDING = "{ viewer { pendingGrants { id days reason claimableFrom claimUntil claimableNow } } }"


async def test_claim_through_graphql_stacks_after_paid_time(gql: Any) -> None:
    user, other = await make_user("ann"), await make_user("bob")
    token = await login_token(user)
    paid_end = NOW + 10 * DAY
    await MembershipPeriod.create(
        user_id=user.id,
        source=PeriodSource.PAID,
        reference="in_1",
        starts_at=paid_end - 30 * DAY,
        ends_at=paid_end,
        amount=1500,
        currency="CNY",
    )
    campaign = await campaign_for(reason="Outage of Aug 1")
    await run_campaign(campaign)
    pending = (await gql(PENDING, token=token))["data"]["viewer"]["pendingGrants"]
    assert len(pending) == 1 and pending[0]["days"] == 7 and pending[0]["claimableNow"] is True
    assert pending[0]["reason"] == "Outage of Aug 1"
    grant_id = pending[0]["id"]
    body = await gql(CLAIM, {"id": grant_id}, token=token)
    result = body["data"]["claimGrant"]
    assert result["__typename"] == "ClaimGrantPayload" and result["days"] == 7
    until = datetime.fromisoformat(result["membership"]["activeUntil"])
    assert until == paid_end + 7 * DAY and result["membership"]["source"] == "PAID"
    again = (await gql(CLAIM, {"id": grant_id}, token=token))["data"]["claimGrant"]
    assert again["__typename"] == "AlreadyClaimedError" and again["code"] == "ALREADY_CLAIMED"
    assert (await gql(PENDING, token=token))["data"]["viewer"]["pendingGrants"] == []
    # another user's grant is not yours
    theirs = await Grant.get(user_id=other.id)
    stolen = await gql(CLAIM, {"id": to_global_id("CompensationGrant", theirs.id)}, token=token)
    assert stolen["data"]["claimGrant"]["__typename"] == "NotFoundError"
    anonymous = await gql(CLAIM, {"id": grant_id}, expect_errors=True)
    assert anonymous["errors"]


async def test_claim_window_errors() -> None:
    user = await make_user()
    early = await campaign_for(claimable_from=NOW + 5 * DAY, claim_until=NOW + 9 * DAY)
    late = await campaign_for(claimable_from=NOW - 9 * DAY, claim_until=NOW - DAY)
    await run_campaign(early)
    await run_campaign(late)
    g_early = await Grant.get(campaign_id=early.id, user_id=user.id)
    g_late = await Grant.get(campaign_id=late.id, user_id=user.id)
    with pytest.raises(NotYetClaimable) as exc:
        await service.claim(user.id, g_early.id)
    assert exc.value.code == "NOT_YET_CLAIMABLE"
    with pytest.raises(ClaimWindowClosed):
        await service.claim(user.id, g_late.id)
    pending = await service.pending_grants(user.id)
    assert [p.grant.id for p in pending] == [g_early.id]  # the closed one is not offered
    period = await service.claim(user.id, g_early.id, now=NOW + 6 * DAY)
    assert period.source == PeriodSource.COMPENSATION and period.reference == f"comp:{early.id}"
    with pytest.raises(AlreadyClaimed):
        await service.claim(user.id, g_early.id, now=NOW + 6 * DAY)


async def test_auto_apply_puts_every_grant_in_the_ledger_on_the_claimable_date() -> None:
    people = await users(5)
    member = people[0]
    paid_end = NOW + 3 * DAY
    await MembershipPeriod.create(
        user_id=member.id,
        source=PeriodSource.PAID,
        reference="in_1",
        starts_at=paid_end - 30 * DAY,
        ends_at=paid_end,
        amount=1500,
        currency="CNY",
    )
    future = await campaign_for(auto_apply=True, claimable_from=NOW + DAY, chunk_size=2)
    await run_campaign(future)
    assert await service.due_for_apply() == []
    assert await Grant.filter(campaign_id=future.id, state=GrantState.PENDING).count() == 5
    campaign = await campaign_for(auto_apply=True, claimable_from=NOW - DAY, chunk_size=2)
    s = await run_campaign(campaign)  # granted and applied by the same jobs (date has come)
    assert s.grants["CLAIMED"] == 5 and s.chunks_applied == 3
    assert s.campaign.applied_at is not None
    assert await MembershipPeriod.filter(reference=f"comp:{campaign.id}").count() == 5
    assert (await entitlement(member.id)).active_until == paid_end + 7 * DAY
    assert (await entitlement(people[1].id)).active_until == NOW - DAY + 7 * DAY
    # the cron finds it already applied; applying again inserts nothing
    assert campaign.id not in await service.due_for_apply()
    for chunk in await CampaignChunk.filter(campaign_id=campaign.id):
        assert await service.apply_chunk(campaign.id, chunk.lo, force=True) == 0
    assert await MembershipPeriod.filter(reference=f"comp:{campaign.id}").count() == 5
    assert (await service.status(campaign.id)).grants["CLAIMED"] == 5


async def test_a_claim_and_the_auto_apply_give_each_grant_once_whichever_comes_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from ncm.kit.db import is_postgres

    early, racer, late = await users(3)
    campaign = await campaign_for(auto_apply=True, claimable_from=NOW + DAY, chunk_size=10)
    await run_campaign(campaign)  # granted, not applied (the date has not come)
    await service.GrantCampaign.filter(id=campaign.id).update(claimable_from=NOW - DAY)
    grant = {u.id: await Grant.get(campaign_id=campaign.id, user_id=u.id) for u in (early, racer)}
    await service.claim(early.id, grant[early.id].id)  # before the apply: the apply skips it
    [chunk] = await CampaignChunk.filter(campaign_id=campaign.id)
    if is_postgres():
        # the apply holds its inserted periods uncommitted while the racer claims: the
        # claim waits on the ledger's unique (reference, user) and is refused
        inside, release = asyncio.Event(), asyncio.Event()
        plan_shifts = service._plan_shifts

        async def held(*args: Any) -> None:
            inside.set()
            await release.wait()
            await plan_shifts(*args)

        monkeypatch.setattr(service, "_plan_shifts", held)
        applying = asyncio.create_task(service.apply_chunk(campaign.id, chunk.lo))
        await inside.wait()
        claiming = asyncio.create_task(service.claim(racer.id, grant[racer.id].id))
        await asyncio.sleep(0.2)
        assert not claiming.done()
        release.set()
        assert await applying == 2
        with pytest.raises(AlreadyClaimed) as exc:
            await claiming
        monkeypatch.setattr(service, "_plan_shifts", plan_shifts)
    else:
        assert await service.apply_chunk(campaign.id, chunk.lo) == 2
        with pytest.raises(AlreadyClaimed) as exc:
            await service.claim(racer.id, grant[racer.id].id)
    assert exc.value.at is not None
    with pytest.raises(AlreadyClaimed):
        await service.claim(late.id, (await Grant.get(user_id=late.id)).id)
    refs = MembershipPeriod.filter(reference=f"comp:{campaign.id}")
    assert sorted(await refs.values_list("user_id", flat=True)) == sorted(
        [early.id, racer.id, late.id]
    )
    # the early claim keeps its own start; the applied ones start on the claimable date
    assert (await refs.get(user_id=racer.id)).starts_at == NOW - DAY
    assert (await refs.get(user_id=early.id)).starts_at > NOW - DAY
    s = await service.status(campaign.id)
    assert s.grants == {"PENDING": 0, "CLAIMED": 3, "ENDED": 0}
    assert await service.pending_grants(racer.id) == []
    counts = await service.revoke(campaign.id, by="cli:boss")
    assert counts["removed"] == 0 and counts["ended"] == 3
    assert counts["ledger_periods_revoked"] == 3


async def test_auto_apply_cron_applies_a_campaign_whose_date_came() -> None:
    from ncm.compensation import jobs

    await users(3)
    campaign = await campaign_for(auto_apply=True, claimable_from=NOW + DAY)
    await run_campaign(campaign)
    await service.GrantCampaign.filter(id=campaign.id).update(claimable_from=NOW - DAY)
    assert await jobs.apply_due_campaigns({}) == 1
    await process_pending()
    assert (await service.status(campaign.id)).grants["CLAIMED"] == 3


async def test_revoke_removes_unclaimed_ends_claimed_and_is_audited() -> None:
    a, b = await make_user("ann"), await make_user("bob")
    campaign = await campaign_for()
    await run_campaign(campaign)
    await service.claim(a.id, (await Grant.get(user_id=a.id)).id)
    assert (await entitlement(a.id)).active
    counts = await service.revoke(campaign.id, by="cli:boss")
    assert counts["removed"] == 1 and counts["ended"] == 1 and counts["ledger_periods_revoked"] == 1
    assert not (await entitlement(a.id)).active
    assert not await Grant.filter(user_id=b.id).exists()
    assert (await Grant.get(user_id=a.id)).state == GrantState.ENDED
    s = await service.status(campaign.id)
    assert s.campaign.status == CampaignStatus.REVOKED and s.campaign.revoked_by == "cli:boss"
    assert s.audit[-1].action == "REVOKED" and "removed=1" in s.audit[-1].detail
    assert await service.pending_grants(b.id) == []
    with pytest.raises(Conflict):
        await service.execute(campaign.id, by="x")


async def test_users_file_and_affected_audiences_grant_exactly_them() -> None:
    people = await users(6)
    campaign = await campaign_for("users-file", user_ids=[people[1].id, people[4].id, 999999])
    s = await run_campaign(campaign)
    assert sorted(
        await Grant.filter(campaign_id=campaign.id).values_list("user_id", flat=True)
    ) == [
        people[1].id,
        people[4].id,
    ]
    assert s.campaign.status == CampaignStatus.DONE
    incident = await incidents.open_incident("Songs do not start", NOW - DAY)
    from ncm.incidents import affected

    await affected.refresh_open()
    await affected.record(people[2].id)  # still in Redis: execute flushes first
    campaign = await campaign_for("affected", incident_id=incident.id)
    await run_campaign(campaign)
    assert await Grant.filter(campaign_id=campaign.id).values_list("user_id", flat=True) == [
        people[2].id
    ]


# Stripe -------------------------------------------------------------------------------


class FakeStripe:
    """The two calls the wrapper's ``move_next_charge`` makes, recorded."""

    is_stripe = True  # answers as Stripe itself: the wrapper sends proration_behavior

    def __init__(self, period_end: int, status: str = "active") -> None:
        self.period_end = period_end
        self.status = status
        self.updates: list[tuple[str, dict[str, Any], str]] = []
        self.fail = 0

    async def retrieve_subscription(self, sub_id: str) -> dict[str, Any]:
        from ncm.billing.errors import PaymentProviderUnavailable

        if self.fail:
            self.fail -= 1
            raise PaymentProviderUnavailable()
        return {"id": sub_id, "status": self.status, "current_period_end": self.period_end}

    async def update_subscription(self, sub_id: str, params: dict[str, Any], key: str) -> Any:
        self.updates.append((sub_id, params, key))
        return {"id": sub_id, "trial_end": params["trial_end"], "status": "trialing"}


@pytest.fixture
def no_mover(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests drive ``move_next_charges`` themselves (with a fake Stripe): no background
    mover (it would run when another test left a Stripe key configured)."""

    async def nothing() -> None:
        return None

    monkeypatch.setattr(service, "_queue_shifts", nothing)


@pytest.mark.usefixtures("no_mover")
async def test_auto_renewing_subscribers_next_charge_moves_and_the_gift_counts_once() -> None:
    from tortoise.transactions import in_transaction

    from ncm.billing import sync
    from ncm.billing.ledger import lock_user

    user = await make_user()
    period_end = NOW + 10 * DAY
    await Subscription.create(
        user_id=user.id,
        stripe_id="sub_1",
        status="active",
        current_period_start=period_end - 30 * DAY,
        current_period_end=period_end,
    )
    await MembershipPeriod.create(
        user_id=user.id,
        source=PeriodSource.PAID,
        reference="in_1",
        subscription_ref="sub_1",
        starts_at=period_end - 30 * DAY,
        ends_at=period_end,
        amount=1500,
        currency="CNY",
    )
    campaign = await campaign_for()
    await run_campaign(campaign)
    await service.claim(user.id, (await Grant.get(user_id=user.id)).id)
    shift = await StripeShift.get(user_id=user.id)
    assert shift.status == ShiftStatus.PENDING and shift.subscription_ref == "sub_1"
    fake = FakeStripe(int(period_end.timestamp()))
    fake.fail = 1  # Stripe is unreachable once: the move stays pending
    assert (await service.move_next_charges(rate=0, gateway=fake))["retry"] == 1
    counts = await service.move_next_charges(rate=0, gateway=fake)
    assert counts["done"] == 1
    [(sub_id, params, key)] = fake.updates
    assert sub_id == "sub_1" and params["proration_behavior"] == "none"
    assert params["trial_end"] == int((period_end + 7 * DAY).timestamp())
    assert key == f"comp-shift:{shift.grant_id}"
    # Stripe now reports a trial until the moved date; the mirror must not count it again
    async with in_transaction() as conn:
        await lock_user(conn, user.id)
        await sync.apply_subscription(
            conn,
            user.id,
            {
                "id": "sub_1",
                "status": "trialing",
                "current_period_start": int(NOW.timestamp()),
                "current_period_end": params["trial_end"],
                "trial_start": int(NOW.timestamp()),
                "trial_end": params["trial_end"],
                "items": {"data": []},
            },
        )
    assert (await entitlement(user.id)).active_until == period_end + 7 * DAY
    # the renewal Stripe charges at the moved date continues right after the gift
    await MembershipPeriod.create(
        user_id=user.id,
        source=PeriodSource.PAID,
        reference="in_2",
        subscription_ref="sub_1",
        starts_at=period_end + 7 * DAY,
        ends_at=period_end + 37 * DAY,
        amount=1500,
        currency="CNY",
    )
    assert (await entitlement(user.id)).active_until == period_end + 37 * DAY
    assert (await service.status(campaign.id)).stripe["DONE"] == 1


@pytest.mark.usefixtures("no_mover")
async def test_a_subscription_that_renewed_first_is_skipped_and_the_ledger_stays_right() -> None:
    user = await make_user()
    period_end = NOW + 2 * DAY
    await Subscription.create(
        user_id=user.id,
        stripe_id="sub_2",
        status="active",
        current_period_start=period_end - 30 * DAY,
        current_period_end=period_end,
    )
    await MembershipPeriod.create(
        user_id=user.id,
        source=PeriodSource.PAID,
        reference="in_1",
        starts_at=period_end - 30 * DAY,
        ends_at=period_end,
        amount=1500,
        currency="CNY",
    )
    campaign = await campaign_for(days=5)
    await run_campaign(campaign)
    await service.claim(user.id, (await Grant.get(user_id=user.id)).id)
    # Stripe was late: the renewal happened before the move
    await MembershipPeriod.create(
        user_id=user.id,
        source=PeriodSource.PAID,
        reference="in_2",
        starts_at=period_end,
        ends_at=period_end + 30 * DAY,
        amount=1500,
        currency="CNY",
    )
    fake = FakeStripe(int((period_end + 30 * DAY).timestamp()))
    assert (await service.move_next_charges(rate=0, gateway=fake))["skipped"] == 1
    assert fake.updates == []  # never moved after the renewal (that could charge twice)
    assert (await entitlement(user.id)).active_until == period_end + 35 * DAY


@pytest.mark.usefixtures("no_mover")
async def test_two_gifts_to_one_subscription_are_never_in_flight_together() -> None:
    user = await make_user()
    period_end = NOW + 10 * DAY
    await Subscription.create(
        user_id=user.id,
        stripe_id="sub_3",
        status="active",
        current_period_start=period_end - 30 * DAY,
        current_period_end=period_end,
    )
    for days in (7, 3):
        campaign = await campaign_for(days=days)
        await run_campaign(campaign)
        grant = await Grant.get(user_id=user.id, campaign_id=campaign.id)
        await service.claim(user.id, grant.id)
    fake = FakeStripe(int(period_end.timestamp()))
    first = await service.move_next_charges(rate=0, gateway=fake)
    assert (first["done"], first["retry"]) == (1, 1)  # the second waits for the next run
    fake.period_end = fake.updates[0][1]["trial_end"]  # Stripe moved the period end
    second = await service.move_next_charges(rate=0, gateway=fake)
    assert second["skipped"] == 1 and len(fake.updates) == 1
