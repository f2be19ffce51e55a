"""Property tests: random ledgers, every figure against the plain day-by-day oracle."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise import connections

from ncm.accounts.models import User
from ncm.billing.models import MembershipPeriod, PeriodSource
from ncm.finance import rates
from ncm.finance.report import revenue_report
from ncm.kit.db import is_postgres
from ncm.stream.models import UserDailyActivity
from tests.finance.oracle import P, oracle

CURRENCIES = ["CNY", "USD", "JPY"]
REGIONS = ["CN", "HK", "US", None]
BASE = datetime(2023, 10, 1, tzinfo=UTC)


@st.composite
def segment(draw: Any, user: int) -> list[P]:
    """One subscription: consecutive periods (monthly or yearly, prices may change)."""
    start = BASE + timedelta(days=draw(st.integers(0, 330)), hours=draw(st.integers(0, 23)))
    yearly = draw(st.booleans()) and draw(st.booleans())
    currency = draw(st.sampled_from(CURRENCIES))
    out = []
    for _ in range(draw(st.integers(1, 2 if yearly else 5))):
        length = (
            draw(st.sampled_from([365, 366]))
            if yearly
            else draw(st.sampled_from([28, 29, 30, 31, 31, 0, 3]))
        )
        end = start + timedelta(days=length, minutes=draw(st.sampled_from([0, 0, 90])))
        amount = draw(st.sampled_from([1, 7, 1500, 1500, 1800, 15800, 999_999]))
        tax = draw(st.integers(0, amount // 4))
        refund = draw(st.sampled_from(["none", "none", "none", "partial", "full"]))
        refunded = {"none": 0, "partial": draw(st.integers(0, amount)), "full": amount}[refund]
        source = draw(
            st.sampled_from(["PAID"] * 6 + ["TRIAL", "GRACE", "COMPENSATION", "ADMIN_GRANT"])
        )
        out.append(
            P(
                user=user,
                source=source,
                starts_at=start,
                ends_at=end,
                amount=amount if source == "PAID" else draw(st.sampled_from([0, amount])),
                tax=tax,
                refunded=refunded,
                revoked=refund == "full",
                currency=currency,
            )
        )
        start = end
    return out


@st.composite
def ledgers(draw: Any) -> tuple[list[P], dict[int, set[date]], dict[int, str | None]]:
    users = list(range(1, draw(st.integers(1, 6)) + 1))
    periods: list[P] = []
    activity: dict[int, set[date]] = {}
    regions: dict[int, str | None] = {}
    for u in users:
        regions[u] = draw(st.sampled_from(REGIONS))
        for _ in range(draw(st.integers(0, 3))):
            periods += draw(segment(u))
        days = draw(st.lists(st.integers(0, 330), max_size=6))
        activity[u] = {(BASE + timedelta(days=d)).date() for d in days}
    return periods, activity, regions


async def _reset() -> None:
    conn = connections.get("default")
    for table in ("membership_periods", "user_daily_activity", "finance_rates", "users"):
        if is_postgres():
            await conn.execute_script(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
        else:
            await conn.execute_script(f"DELETE FROM {table}")


def period_rows(periods: list[P], prefix: str) -> list[MembershipPeriod]:
    """The ledger rows of generated periods (references ``<prefix>_<n>``)."""
    return [
        MembershipPeriod(
            user_id=p.user,
            source=PeriodSource(p.source),
            reference=f"{prefix}_{i}",
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            amount=p.amount,
            currency=p.currency,
            tax=p.tax,
            refunded=p.refunded,
            revoked_at=p.starts_at if p.revoked else None,
        )
        for i, p in enumerate(periods)
    ]


async def _load(
    periods: list[P], activity: dict[int, set[date]], regions: dict[int, str | None]
) -> None:
    await _reset()
    await User.bulk_create(
        [
            User(id=u, email=f"u{u}@example.com", handle=f"u{u}", password_hash="x", region=r)
            for u, r in regions.items()
        ]
    )
    await MembershipPeriod.bulk_create(period_rows(periods, "in"))
    await UserDailyActivity.bulk_create(
        [UserDailyActivity(user_id=u, day=d, plays=1) for u, days in activity.items() for d in days]
    )


def _native(report: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for m in report["months"]:
        rows = {}
        for r in m["rows"]:
            values = {
                "revenue": r["revenue"],
                "paying_users": r["paying_users"],
                "mrr": r["mrr"],
                "new": r["mrr_new"],
                "react": r["mrr_reactivation"],
                "up": r["mrr_expansion"],
                "down": r["mrr_contraction"],
                "churn": r["mrr_churn"],
                "open": r["mrr_open"],
            }
            if any(values.values()):
                rows[(r["currency"], r["group"] or "")] = values
            # the bridge adds up, row by row
            assert (
                r["mrr_open"]
                + r["mrr_new"]
                + r["mrr_expansion"]
                - r["mrr_contraction"]
                - r["mrr_churn"]
                + r["mrr_reactivation"]
                == r["mrr"]
            )
        out[m["month"]] = {
            "mau": m["mau"],
            "paying_users": m["paying_users"],
            "new": m["new_paying_users"],
            "churned": m["churned_paying_users"],
            "reactivated": m["reactivated_paying_users"],
            "rows": rows,
        }
    return out


def _expected(plain: dict[str, Any]) -> dict[str, Any]:
    return {k: {key: v for key, v in m.items() if key != "converted"} for k, m in plain.items()}


SETTINGS = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(ledger=ledgers())
async def test_every_figure_matches_the_plain_computation(ledger: Any) -> None:
    periods, activity, regions = ledger
    await _load(periods, activity, regions)
    got = await revenue_report("2024-01", "2024-06")
    assert _native(got.to_json()) == _expected(oracle(periods, activity, "2024-01", "2024-06"))


@SETTINGS
@given(ledger=ledgers())
async def test_figures_by_region_match(ledger: Any) -> None:
    periods, activity, regions = ledger
    await _load(periods, activity, regions)
    for p in periods:
        p.group = regions[p.user] or "(unknown)"
    got = await revenue_report("2023-12", "2024-03", by="region")
    want = _expected(oracle(periods, activity, "2023-12", "2024-03"))
    assert _native(got.to_json()) == want


@SETTINGS
@given(ledger=ledgers(), usd=st.sampled_from(["7.1", "7.25", "6.98765"]))
async def test_converted_figures_match(ledger: Any, usd: str) -> None:
    periods, activity, regions = ledger
    await _load(periods, activity, regions)
    book = {
        "USD": [(date(2023, 1, 1), Decimal(usd)), (date(2024, 2, 15), Decimal("7.3"))],
        "JPY": [(date(2023, 1, 1), Decimal("0.0481"))],
    }
    for c, entries in book.items():
        for day, value in entries:
            await rates.set_rate(c, "CNY", str(value), day)
    got = (await revenue_report("2024-01", "2024-04", currency="CNY")).to_json()
    want = oracle(periods, activity, "2024-01", "2024-04", rates=book, target="CNY")
    for m in got["months"]:
        conv = want[m["month"]]["converted"]
        rows = {
            r["group"] or "": {"revenue": r["revenue"], "mrr": r["mrr"], "open": r["mrr_open"]}
            for r in m["rows"]
        }
        rows = {k: v for k, v in rows.items() if any(v.values())}
        conv = {k: v for k, v in conv.items() if any(v.values())}
        assert rows == conv
        for r in m["rows"]:
            bridge = r["mrr_open"] + r["mrr_new"] + r["mrr_expansion"] - r["mrr_contraction"]
            bridge += r["mrr_reactivation"] - r["mrr_churn"] + r["mrr_fx"]
            assert bridge == r["mrr"]
