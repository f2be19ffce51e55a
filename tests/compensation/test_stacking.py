"""The stacking rule (docs/compensation.md), held against a plain day-by-day model.

A history is whole days: fixed periods (PAID, TRIAL, GRACE; some refunded, some clipped by
a cancellation) and gifts (N days available from a day). The model walks day by day: a day
a fixed period covers is that period's; otherwise the oldest available gift with days left
spends one. The ledger's ``placed``/``resolve`` (and, through the database, ``entitlements``
after the real ledger writers ran in a random order) must agree with it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncm.billing import ledger
from ncm.billing.entitlement import entitlement, entitlements, placed, resolve
from ncm.billing.models import MembershipPeriod, PeriodSource
from tests.conftest import make_user

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HORIZON = 1000  # days the model walks (histories end well before)
RANK = {"PAID": 0, "TRIAL": 1, "GRACE": 2}


@dataclass(frozen=True)
class Fixed:
    start: int
    days: int
    source: str = "PAID"
    refunded: bool = False  # fully refunded: revoked, entitles nothing
    clipped_to: int | None = None  # canceled: the subscription ended this day


@dataclass(frozen=True)
class Gift:
    available: int
    days: int


def model(fixed: list[Fixed], gifts: list[Gift]) -> dict[int, str]:
    """``{day: source}`` for every member day, walked one day at a time."""
    cover: dict[int, str] = {}
    for f in fixed:
        if f.refunded:
            continue
        end = f.start + f.days if f.clipped_to is None else min(f.start + f.days, f.clipped_to)
        for d in range(f.start, max(end, f.start)):
            if d not in cover or RANK[f.source] < RANK[cover[d]]:
                cover[d] = f.source
    left = [g.days for g in gifts]
    order = sorted(range(len(gifts)), key=lambda i: (gifts[i].available, gifts[i].days, i))
    out = dict(cover)
    for d in range(HORIZON):
        if d in cover:
            continue
        for i in order:
            if gifts[i].available <= d and left[i]:
                left[i] -= 1
                out[d] = "GIFT"
                break
    return out


def rows(fixed: list[Fixed], gifts: list[Gift]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, f in enumerate(fixed):
        end = f.start + f.days if f.clipped_to is None else min(f.start + f.days, f.clipped_to)
        out.append(
            {
                "starts_at": T0 + f.start * DAY,
                "ends_at": T0 + max(end, f.start) * DAY,
                "source": f.source,
                "tier": "VIP",
                "reference": f"in_{i}",
                "revoked_at": T0 if f.refunded else None,
            }
        )
    for i, g in enumerate(gifts):
        out.append(
            {
                "starts_at": T0 + g.available * DAY,
                "ends_at": T0 + (g.available + g.days) * DAY,
                "source": "COMPENSATION" if i % 2 == 0 else "ADMIN_GRANT",
                "tier": "VIP",
                "reference": f"grant:{i:03d}",
            }
        )
    return out


def days_of(periods: list[dict[str, Any]]) -> dict[int, str]:
    """The ledger's placement as ``{day: source}`` (gift sources folded into GIFT)."""
    out: dict[int, str] = {}
    for start, end, source, _ in placed(periods):
        first, last = (start - T0) // DAY, (end - T0) // DAY
        for d in range(first, last):
            if source in {"COMPENSATION", "ADMIN_GRANT"}:
                assert d not in out, f"a gift counted on day {d}, already covered"
                out[d] = "GIFT"
            elif d not in out or RANK[source] < RANK[out[d]]:
                assert out.get(d) != "GIFT", f"a gift counted on day {d}, already covered"
                out[d] = source
    return out


def last_day(days: dict[int, str]) -> int:
    return max(days) + 1 if days else 0


fixed_periods = st.builds(
    Fixed,
    start=st.integers(0, 150),
    days=st.sampled_from([7, 28, 30, 31, 365]) | st.integers(1, 40),
    source=st.sampled_from(["PAID", "PAID", "PAID", "TRIAL", "GRACE"]),
    refunded=st.booleans(),
    clipped_to=st.none() | st.integers(0, 200),
).map(  # a cancellation clips paid and trial time; a grace window runs to its end
    lambda f: Fixed(f.start, f.days, f.source, f.refunded, None) if f.source == "GRACE" else f
)
gift_lists = st.lists(
    st.builds(Gift, available=st.integers(0, 200), days=st.integers(1, 30)), max_size=3
)


def renewals(start: int, months: int, length: int = 30) -> list[Fixed]:
    return [Fixed(start + i * length, length) for i in range(months)]


histories = st.one_of(
    st.lists(fixed_periods, max_size=6),
    st.builds(renewals, st.integers(0, 60), st.integers(1, 6)),  # an unbroken subscription
)


@settings(max_examples=400, deadline=None)
@given(fixed=histories, gifts=gift_lists)
def test_placement_matches_the_day_by_day_model(fixed: list[Fixed], gifts: list[Gift]) -> None:
    assert days_of(rows(fixed, gifts)) == model(fixed, gifts)


@settings(max_examples=400, deadline=None)
@given(
    fixed=histories, gifts=gift_lists, gift=st.builds(Gift, st.integers(0, 200), st.integers(1, 30))
)
def test_a_gift_of_n_days_adds_exactly_n_days_and_takes_no_paid_day(
    fixed: list[Fixed], gifts: list[Gift], gift: Gift
) -> None:
    without = days_of(rows(fixed, gifts))
    with_gift = days_of(rows(fixed, [*gifts, gift]))
    assert len(with_gift) == len(without) + gift.days
    # every day of the history without the gift is still a member day, from the same source
    # (a gift never takes a paid, trial or grace day, and is never counted as one of them)
    assert all(with_gift[d] == s for d, s in without.items())
    added = set(with_gift) - set(without)
    assert all(with_gift[d] == "GIFT" and d >= gift.available for d in added)


@settings(max_examples=400, deadline=None)
@given(
    fixed=st.builds(renewals, st.integers(0, 60), st.integers(1, 6)),
    n=st.integers(1, 30),
    when=st.integers(0, 400),
)
def test_a_member_s_membership_ends_exactly_n_days_later(
    fixed: list[Fixed], n: int, when: int
) -> None:
    """For a member (an unbroken run of paid periods, renewals before or after the gift),
    a gift available any day during the run ends the membership exactly N days later."""
    run_start, run_end = fixed[0].start, fixed[-1].start + fixed[-1].days
    available = run_start + when % (run_end - run_start)
    without = days_of(rows(fixed, []))
    with_gift = days_of(rows(fixed, [Gift(available, n)]))
    assert last_day(with_gift) == last_day(without) + n
    e = resolve(1, rows(fixed, [Gift(available, n)]), T0 + available * DAY)
    assert e.active and e.active_until == T0 + (run_end + n) * DAY


def test_the_two_reproduced_losses() -> None:
    # A member paid up to Jan 3 gets a 7-day compensation on Dec 20: member until Jan 10.
    paid = {
        "starts_at": datetime(2025, 12, 3, tzinfo=UTC),
        "ends_at": datetime(2026, 1, 3, tzinfo=UTC),
        "source": "PAID",
        "tier": "VIP",
    }
    gift = {
        "starts_at": datetime(2025, 12, 20, tzinfo=UTC),
        "ends_at": datetime(2025, 12, 27, tzinfo=UTC),
        "source": "COMPENSATION",
        "tier": "VIP",
        "reference": "grant:x",
    }
    e = resolve(1, [paid, gift], datetime(2025, 12, 21, tzinfo=UTC))
    assert e.active_until == datetime(2026, 1, 10, tzinfo=UTC) and e.source == "PAID"
    # A 3-day grant made while paid to Jan 3, then the renewal's invoice.paid (Jan 3 - Feb 3)
    # arrives: member until Feb 6, not Feb 3.
    grant = {
        "starts_at": datetime(2025, 12, 20, tzinfo=UTC),
        "ends_at": datetime(2025, 12, 23, tzinfo=UTC),
        "source": "ADMIN_GRANT",
        "tier": "VIP",
        "reference": "admin:y",
    }
    renewal = {
        "starts_at": datetime(2026, 1, 3, tzinfo=UTC),
        "ends_at": datetime(2026, 2, 3, tzinfo=UTC),
        "source": "PAID",
        "tier": "VIP",
    }
    e = resolve(1, [paid, grant, renewal], datetime(2026, 1, 5, tzinfo=UTC))
    assert e.active_until == datetime(2026, 2, 6, tzinfo=UTC)
    assert (
        resolve(1, [paid, grant, renewal], datetime(2026, 2, 4, tzinfo=UTC)).source == "ADMIN_GRANT"
    )


# Through the database: the real ledger writers, in a random order ---------------------


async def test_operator_grant_survives_a_later_renewal() -> None:
    """`ncm billing grant` before the renewal's invoice.paid: the days are not lost."""
    user = await make_user()
    now = datetime.now(UTC)
    paid_end = now + 5 * DAY
    await _record(user.id, "in_1", paid_end - 30 * DAY, paid_end)
    await ledger.grant(user.id, 3, "support ticket", grant_id="t1")
    assert (await entitlement(user.id)).active_until == paid_end + 3 * DAY
    await _record(user.id, "in_2", paid_end, paid_end + 30 * DAY)  # the renewal lands later
    e = await entitlement(user.id)
    assert e.active_until == paid_end + 33 * DAY and e.source == "PAID"
    after = await entitlement(user.id, paid_end + 31 * DAY)
    assert after.source == "ADMIN_GRANT" and after.active_until == paid_end + 33 * DAY


async def test_compensation_for_everyone_reaches_paying_members() -> None:
    user, other = await make_user(), await make_user("bob")
    now = datetime.now(UTC)
    await _record(user.id, "in_1", now - 10 * DAY, now + 20 * DAY)
    await ledger.grant_compensation("outage-1", 7, now, reason="outage")
    found = await entitlements([user.id, other.id])
    assert found[user.id].active_until == now + 27 * DAY
    assert found[other.id].active_until == now + 7 * DAY


async def _record(user_id: int, ref: str, start: datetime, end: datetime, **kw: Any) -> None:
    from tortoise.transactions import in_transaction

    async with in_transaction() as conn:
        await ledger.lock_user(conn, user_id)
        await ledger.record_period(
            conn,
            user_id=user_id,
            source=kw.pop("source", PeriodSource.PAID),
            reference=ref,
            starts_at=start,
            ends_at=end,
            amount=1500,
            currency="CNY",
            subscription_ref=kw.pop("subscription_ref", "sub_1"),
            charge_ref=f"pi_{ref}",
            **kw,
        )


_counter = iter(range(10**9))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(fixed=st.lists(fixed_periods, max_size=4), gifts=gift_lists, data=st.data())
async def test_ledger_writers_in_any_order_agree_with_the_model(
    fixed: list[Fixed], gifts: list[Gift], data: st.DataObject
) -> None:
    from tortoise.transactions import in_transaction

    user = await make_user(f"prop{next(_counter)}")
    steps: list[tuple[str, int]] = [("fixed", i) for i in range(len(fixed))]
    steps += [("gift", i) for i in range(len(gifts))]
    steps += [("refund", i) for i, f in enumerate(fixed) if f.refunded]
    order = data.draw(st.permutations(steps))
    for kind, i in order:
        if kind == "fixed":
            f = fixed[i]
            start = T0 + f.start * DAY
            await _record(
                user.id,
                f"in_{user.id}_{i}",
                start,
                start + f.days * DAY,
                source=PeriodSource(f.source),
                subscription_ref=f"sub_{user.id}_{i}",
            )
            # a refund or an end recorded before the period arrived is applied on insert
        elif kind == "gift":
            g = gifts[i]
            await MembershipPeriod.create(
                user_id=user.id,
                source=PeriodSource.COMPENSATION,
                reference=f"grant:{i:03d}",
                starts_at=T0 + g.available * DAY,
                ends_at=T0 + (g.available + g.days) * DAY,
            )
        elif kind == "refund":
            async with in_transaction() as conn:
                await ledger.record_refund(
                    conn,
                    charge_ref=f"pi_in_{user.id}_{i}",  # refunds are global: one per example
                    invoice_ref=f"in_{user.id}_{i}",
                    amount=1500,
                    amount_refunded=1500,
                    currency="CNY",
                    fully_refunded=True,
                    refunded_at=T0,
                )
    # cancellations clip what has arrived: apply them last, as the subscription's end does
    for i, f in enumerate(fixed):
        if f.clipped_to is not None:
            async with in_transaction() as conn:
                await ledger.clip_to(conn, f"sub_{user.id}_{i}", T0 + f.clipped_to * DAY)
    expected = model(fixed, gifts)
    for day in data.draw(st.lists(st.integers(0, 260), min_size=1, max_size=4)):
        e = (await entitlements([user.id], T0 + day * DAY + timedelta(hours=12)))[user.id]
        assert e.active == (day in expected)
        if e.active:
            end = day
            while end in expected:
                end += 1
            assert e.active_until == T0 + end * DAY
            assert ("GIFT" if e.source in {"COMPENSATION", "ADMIN_GRANT"} else e.source) == (
                expected[day]
            )
