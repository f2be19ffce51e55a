"""The membership ledger and the entitlement contract playback reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ncm.billing import ledger
from ncm.billing.entitlement import entitlement, entitlements
from ncm.billing.models import MembershipPeriod, PeriodSource
from ncm.errors import InvalidInput, NotFound
from tests.conftest import count_queries, make_user

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _period(
    user_id: int, ref: str, start: datetime, days: int, source: PeriodSource, **kw: object
) -> MembershipPeriod:
    return await MembershipPeriod.create(
        user_id=user_id,
        source=source,
        reference=ref,
        starts_at=start,
        ends_at=start + timedelta(days=days),
        **kw,
    )


async def test_nobody_is_a_member_without_periods() -> None:
    user = await make_user()
    e = await entitlement(user.id)
    assert (e.active, e.tier, e.active_until, e.source) == (False, None, None, None)


async def test_active_until_is_the_end_of_the_contiguous_run() -> None:
    user = await make_user()
    await _period(user.id, "in_1", T0, 30, PeriodSource.PAID, amount=1500, currency="CNY")
    await _period(user.id, "admin:x", T0 + timedelta(days=30), 7, PeriodSource.ADMIN_GRANT)
    await _period(user.id, "in_2", T0 + timedelta(days=37), 30, PeriodSource.PAID)
    await _period(user.id, "in_3", T0 + timedelta(days=80), 30, PeriodSource.PAID)  # a gap
    e = await entitlement(user.id, T0 + timedelta(days=3))
    assert e.active and e.source == "PAID" and e.tier == "VIP"
    assert e.active_until == T0 + timedelta(days=67)
    assert (await entitlement(user.id, T0 + timedelta(days=32))).source == "ADMIN_GRANT"
    assert not (await entitlement(user.id, T0 + timedelta(days=70))).active
    assert not (await entitlement(user.id, T0 - timedelta(seconds=1))).active
    at_end = await entitlement(user.id, T0 + timedelta(days=67))  # ends_at is exclusive
    assert not at_end.active


async def test_revoked_periods_do_not_entitle() -> None:
    user = await make_user()
    await _period(user.id, "in_1", T0, 30, PeriodSource.PAID, revoked_at=T0)
    assert not (await entitlement(user.id, T0 + timedelta(days=1))).active


async def test_entitlements_for_many_users_is_one_query() -> None:
    users = [await make_user(f"user{i}") for i in range(5)]
    for u in users[:3]:
        await _period(u.id, "admin:a", T0, 10, PeriodSource.ADMIN_GRANT)
    with count_queries() as counter:
        found = await entitlements([u.id for u in users], T0 + timedelta(days=1))
    assert counter.count == 1
    assert [found[u.id].active for u in users] == [True, True, True, False, False]
    assert await entitlements([]) == {}


async def test_grant_extends_the_current_membership_and_is_idempotent_by_id() -> None:
    user = await make_user()
    now = datetime.now(UTC)
    await _period(user.id, "in_1", now - timedelta(days=1), 30, PeriodSource.PAID)
    first = await ledger.grant(user.id, 7, "support ticket 42", grant_id="t42", operator="cli:x")
    again = await ledger.grant(user.id, 7, "support ticket 42", grant_id="t42")
    assert first.id == again.id
    assert first.starts_at >= now  # available from now; its days count after the paid ones
    assert first.ends_at - first.starts_at == timedelta(days=7)
    e = await entitlement(user.id)
    paid_end = now - timedelta(days=1) + timedelta(days=30)
    assert e.active_until == paid_end + timedelta(days=7) and e.source == "PAID"
    assert await MembershipPeriod.filter(user_id=user.id).count() == 2


async def test_grant_to_a_non_member_starts_now() -> None:
    user = await make_user()
    period = await ledger.grant(user.id, 3, "goodwill")
    e = await entitlement(user.id)
    assert e.active and e.source == "ADMIN_GRANT" and e.active_until == period.ends_at


@pytest.mark.parametrize(("days", "reason"), [(0, "x"), (5000, "x"), (3, "  ")])
async def test_grant_rejects_bad_input(days: int, reason: str) -> None:
    user = await make_user()
    with pytest.raises(InvalidInput):
        await ledger.grant(user.id, days, reason)


async def test_grant_to_unknown_user_is_not_found() -> None:
    with pytest.raises(NotFound):
        await ledger.grant(999_999, 3, "x")


async def test_compensation_grant_is_set_based_and_idempotent() -> None:
    users = [await make_user(f"comp{i}") for i in range(4)]
    first = await ledger.grant_compensation("outage-1", 7, T0, reason="outage", chunk=2)
    again = await ledger.grant_compensation("outage-1", 7, T0, reason="outage", chunk=2)
    assert (first, again) == (4, 0)
    found = await entitlements([u.id for u in users], T0 + timedelta(days=2))
    assert all(e.active and e.source == "COMPENSATION" for e in found.values())
    assert found[users[0].id].active_until == T0 + timedelta(days=7)


@pytest.mark.postgres_only
async def test_concurrent_compensation_runs_report_what_each_inserted() -> None:
    import asyncio

    from ncm.billing.models import MembershipPeriod

    for i in range(6):
        await make_user(f"comp{i}")
    counts = await asyncio.gather(
        *(ledger.grant_compensation("outage-2", 7, T0, reason="outage", chunk=2) for _ in range(3))
    )
    assert sum(counts) == 6 == await MembershipPeriod.filter(reference="grant:outage-2").count()


async def test_a_plan_needs_a_code_and_a_name() -> None:
    from ncm.billing import plans
    from ncm.billing.models import Interval
    from ncm.errors import InvalidInput

    for code, name in (("", "VIP"), ("Bad Code!", "VIP"), ("vip_weekly", "  ")):
        with pytest.raises(InvalidInput):
            await plans.set_plan(
                code, name=name, interval=Interval.MONTH, amount=100, currency="CNY"
            )
    plan = await plans.set_plan(
        "vip_weekly", name=" VIP weekly ", interval=Interval.MONTH, amount=100, currency="cny"
    )
    assert (plan.code, plan.name, plan.currency) == ("vip_weekly", "VIP weekly", "CNY")
