"""The report's rollup: stored months stay exact as the ledger changes (triggers mark them
stale, a read computes them again), the job keeps them, and a plan is the period's own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ncm.accounts.models import User
from ncm.billing.models import MembershipPeriod, Subscription
from ncm.billing.sync import invoice_plan
from ncm.finance import figures, mix, rollup
from ncm.finance.models import MonthRollup, MonthRollupPart, PlayRollupMonth, RollupDirty
from ncm.finance.money import parse_month
from ncm.finance.report import revenue_report
from ncm.stream.models import PlayEvent, UserDailyActivity
from tests.finance.conftest import user
from tests.finance.helpers import period, plan_subscription
from tests.finance.oracle import P, oracle
from tests.finance.test_mix import _example
from tests.finance.test_properties import (
    SETTINGS,
    _expected,
    _load,
    _native,
    ledgers,
    period_rows,
)


@pytest.mark.parametrize("bucket_users", [rollup.BUCKET_USERS, 2])
@SETTINGS
@given(
    ledger=ledgers(),
    cut=st.integers(0, 100),
    refund=st.integers(0, 100),
    region=st.sampled_from(["CN", "US", None]),
    forget=st.booleans(),
)
async def test_the_rollup_follows_every_ledger_change(
    bucket_users: int, ledger: Any, cut: int, refund: int, region: str | None, forget: bool
) -> None:
    """Read (the rollup stores the months), change the ledger every way a writer can, read
    again: equal to the plain computation of the changed ledger, and a read that does not
    refresh names the months it read stale. With two users a bucket, the months a change
    makes stale are folded from the changed users' buckets alone, the others' parts kept."""
    saved = rollup.BUCKET_USERS
    rollup.BUCKET_USERS = bucket_users
    try:
        await _follow(ledger, cut, refund, region, forget)
    finally:
        rollup.BUCKET_USERS = saved


async def _follow(ledger: Any, cut: int, refund: int, region: str | None, forget: bool) -> None:
    await MonthRollup.all().delete()  # stored with another bucket size, maybe
    await MonthRollupPart.all().delete()
    periods, activity, regions = ledger
    first = periods[: len(periods) * cut // 100]
    await _load(first, activity, regions)
    await revenue_report("2024-01", "2024-06")
    await revenue_report("2023-12", "2024-03", by="region")
    assert await MonthRollup.filter(grouping="").count() >= 6
    # later invoices, a refund, a clip, a region change, forgotten activity
    rows = period_rows(periods[len(first) :], "late")
    if rows:
        await MembershipPeriod.bulk_create(rows)
    changed = list(periods)
    paid = [p for p in await MembershipPeriod.filter(source="PAID").order_by("id")]
    if paid:
        target = paid[refund % len(paid)]
        new_refund = min(target.amount, target.refunded + refund)
        await MembershipPeriod.filter(id=target.id).update(refunded=new_refund)
        index = _index(changed, target)
        changed[index].refunded = new_refund
    if paid and refund % 3 == 0:
        target = paid[(refund * 7) % len(paid)]
        ends = max(target.starts_at, target.ends_at - timedelta(days=refund % 40))
        await MembershipPeriod.filter(id=target.id).update(ends_at=ends)
        changed[_index(changed, target)].ends_at = ends
    if regions:
        u = min(regions)
        await User.filter(id=u).update(region=region)
        regions[u] = region
    if forget and activity:
        u = max(activity)
        await UserDailyActivity.filter(user_id=u).delete()
        activity[u] = set()
    stale = await revenue_report("2024-01", "2024-06", refresh=False)
    got = await revenue_report("2024-01", "2024-06")
    assert _native(got.to_json()) == _expected(oracle(changed, activity, "2024-01", "2024-06"))
    if _native(stale.to_json()) != _native(got.to_json()):
        assert stale.stale, "a stale month was read without saying so"
    for p in changed:
        p.group = regions[p.user] or "(unknown)"
    got = await revenue_report("2023-12", "2024-03", by="region")
    want = _expected(oracle(changed, activity, "2023-12", "2024-03"))
    assert _native(got.to_json()) == want


async def test_a_late_invoice_folds_its_users_bucket_alone() -> None:
    """A late invoice makes its user's bucket stale: that bucket's parts are computed again
    and the difference folded into the stored months; other buckets' parts stay as stored."""
    a, b = await user("a"), await user("b")
    await period(a, "2024-01-01", "2024-02-01", 1500)
    await period(b, "2024-01-10", "2024-02-10", 1800)
    jan, mar = parse_month("2024-01"), parse_month("2024-03")
    saved = rollup.BUCKET_USERS
    rollup.BUCKET_USERS = b.id  # a in bucket 0, b in bucket 1
    try:
        await rollup.refresh(jan, mar, "")
        kept = {(p.month, p.bucket): p.id for p in await MonthRollupPart.filter(bucket=0)}
        assert kept and await MonthRollupPart.filter(bucket=1).exists()
        await period(b, "2024-02-10", "2024-03-10", 1800)  # late: February and March
        assert [r.user_id for r in await RollupDirty.all()][-1] == b.id
        read = await rollup.blocks(jan, mar, "")
        assert read.refreshed == [jan + 1, mar]
        assert {(p.month, p.bucket): p.id for p in await MonthRollupPart.filter(bucket=0)} == kept
        feb = read.blocks[jan + 1]
        assert feb.paying_users == 1 and feb.churned_paying_users == 1  # a left, b stays
        whole = await figures.compute(jan, mar, "")
        for k in (jan, jan + 1, mar):
            whole[k].prune("")
            assert _same(read.blocks[k], whole[k])
    finally:
        rollup.BUCKET_USERS = saved


def _same(x: Any, y: Any) -> bool:
    """Equal blocks, whatever order their rows were added in."""
    jx, jy = x.to_json(), y.to_json()
    for j in (jx, jy):
        j["rows"] = sorted(j["rows"], key=lambda r: (r["currency"], r["group"]))
        j["daily"] = sorted(j["daily"])
    return bool(jx == jy)


def _index(periods: list[P], row: MembershipPeriod) -> int:
    """The test ledger's period a stored row was made from (the first with its facts)."""
    for i, p in enumerate(periods):
        if (p.user, p.starts_at, p.ends_at, p.amount, p.currency) == (
            row.user_id,
            row.starts_at,
            row.ends_at,
            row.amount,
            row.currency,
        ) and p.source == "PAID":
            return i
    raise AssertionError("no such period")


async def test_the_job_keeps_recent_months_and_clears_the_marks() -> None:
    u = await user("j")
    await period(u, "2024-01-01", "2024-02-01", 1500)
    assert await RollupDirty.all().count() >= 1
    today = datetime(2024, 3, 5, tzinfo=UTC)
    keep = rollup.KEEP_MONTHS
    assert await rollup.refresh_recent(today) == {"": keep, "plan": keep, "region": keep}
    assert await RollupDirty.all().count() == 0
    assert await rollup.refresh_recent(today) == {"": 0, "plan": 0, "region": 0}
    jan, feb = parse_month("2024-01"), parse_month("2024-02")
    fresh = await rollup.blocks(jan, feb, "")
    assert fresh.refreshed == [] and fresh.blocks[jan].row("CNY", "").revenue == 1500
    # a late refund marks January on: read without refreshing, it is named stale
    await MembershipPeriod.filter(user_id=u.id).update(refunded=500)
    stale = await rollup.blocks(jan, feb, "", refresh_stale=False)
    assert stale.stale == [jan, feb] and stale.blocks[jan].row("CNY", "").revenue == 1500
    read = await rollup.blocks(jan, feb, "")
    assert read.refreshed == [jan, feb] and read.blocks[jan].row("CNY", "").revenue == 1000
    # the other groupings still hold the mark until they are refreshed
    assert await RollupDirty.all().count() == 1
    await rollup.refresh_recent(today)
    assert await RollupDirty.all().count() == 0


async def test_a_plan_change_leaves_earlier_periods_on_their_plan() -> None:
    u = await user("p")
    sub = await plan_subscription(u, "vip_monthly", 1500)
    await period(u, "2024-01-01", "2024-02-01", 1500, subscription=sub)
    await plan_subscription(u, "svip_monthly", 1800)  # the plan exists
    await Subscription.filter(stripe_id=sub).update(stripe_plan_id="ncm_svip_monthly")
    await period(u, "2024-02-01", "2024-03-01", 1800, subscription=sub)
    report = (await revenue_report("2024-01", "2024-02", by="plan")).to_json()
    groups = [
        [(r["group"], r["revenue"]) for r in m["rows"] if r["revenue"]] for m in report["months"]
    ]
    assert groups == [[("vip_monthly", 1500)], [("svip_monthly", 1800)]]
    feb = {r["group"]: r for r in report["months"][1]["rows"]}
    assert feb["vip_monthly"]["mrr_churn"] == 1500 and feb["svip_monthly"]["mrr_new"] == 1800


def test_the_plan_an_invoice_paid_for() -> None:
    line = {"proration": False, "period": {"start": 1, "end": 2}}
    assert invoice_plan({"lines": {"data": [{**line, "plan": {"id": "p_a"}}]}}) == "p_a"
    assert invoice_plan({"lines": {"data": [{**line, "price": "p_b"}]}}) == "p_b"
    newer = {**line, "pricing": {"price_details": {"price": "p_c"}}}
    assert invoice_plan({"lines": {"data": [newer]}}) == "p_c"
    proration = {**line, "proration": True, "plan": {"id": "p_x"}}
    assert invoice_plan({"lines": {"data": [proration, {**line, "price": "p_d"}]}}) == "p_d"
    assert invoice_plan({"lines": {"data": []}}) is None


async def test_listening_rollup_watermark() -> None:
    today = date(2024, 3, 10)
    assert not await mix.listening_rollup_covers(date(2024, 1, 1))
    await mix.advance_watermark(today)  # no plays yet: starts at today - 31 days
    assert await mix.through_day() == today - timedelta(days=mix.LATE_DAYS)
    assert await mix.listening_rollup_covers(today - timedelta(days=mix.LATE_DAYS))
    assert not await mix.listening_rollup_covers(today - timedelta(days=mix.LATE_DAYS - 1))
    # a final day is never rolled again (its plays may be gone)
    assert await mix.rollup_day(today - timedelta(days=40)) == 0
    await mix.rollup_recent(today + timedelta(days=2))
    assert await mix.through_day() == today + timedelta(days=2 - mix.LATE_DAYS)


async def test_the_mix_reads_final_months_from_the_monthly_rollup() -> None:
    """A month rolled up for good reads the same from the monthly rollup, and keeps its
    figures when its play events are dropped."""
    await _example()
    before = await mix.listening_mix("2024-01", "2024-02")
    await mix.advance_watermark(date(2024, 3, 15))
    assert await mix.through_day() == date(2024, 2, 13)
    assert await mix.listening_rollup_covers(date(2024, 1, 31))
    assert await PlayRollupMonth.filter(month=date(2024, 1, 1)).exists()
    await PlayEvent.filter(day__lte=date(2024, 1, 31)).delete()
    assert await mix.listening_mix("2024-01", "2024-02") == before
