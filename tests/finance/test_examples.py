"""The worked examples of docs/metrics.md, figure by figure."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from ncm.billing.models import ChargeRefund, MembershipPeriod
from ncm.errors import Conflict, InvalidInput, NotFound
from ncm.finance import closing, rates
from ncm.finance.errors import FinanceErrorCode
from ncm.finance.models import MonthAudit
from ncm.finance.money import convert
from ncm.finance.recognition import facts
from ncm.finance.report import revenue_report
from tests.finance.helpers import at


def _month(report: Any, name: str) -> dict[str, Any]:
    return next(m for m in report.to_json()["months"] if m["month"] == name)


async def test_paying_users_and_their_movements(example_ledger: Any) -> None:
    report = await revenue_report("2024-01", "2024-06")
    got = {
        m["month"]: (
            m["paying_users"],
            m["new_paying_users"],
            m["churned_paying_users"],
            m["reactivated_paying_users"],
        )
        for m in report.to_json()["months"]
    }
    assert got == {
        "2024-01": (2, 2, 0, 0),
        "2024-02": (2, 0, 0, 0),
        "2024-03": (2, 0, 0, 0),
        "2024-04": (1, 0, 1, 0),
        "2024-05": (2, 0, 0, 1),
        "2024-06": (2, 0, 0, 0),
    }


async def test_recognised_revenue_spreads_by_day_and_adds_up(example_ledger: Any) -> None:
    y = facts(at("2024-01-01"), at("2025-01-01"), 15800, 0, 0)
    assert (y.days, y.base, y.remainder) == (366, 43, 62)
    assert y.in_month(2024 * 12) == 1333 and y.in_month(2024 * 12 + 11) == 1395
    assert sum(y.in_month(2024 * 12 + i) for i in range(12)) == 15800
    report = await revenue_report("2024-01", "2024-03")
    revenue = {m["month"]: m["rows"][0]["revenue"] for m in report.to_json()["months"]}
    assert revenue == {"2024-01": 1843, "2024-02": 2550, "2024-03": 2161}


async def test_arppu_arpu_and_paying_ratio(example_ledger: Any) -> None:
    january = _month(await revenue_report("2024-01", "2024-01"), "2024-01")
    assert january["mau"] == 5
    assert january["paying_ratio"] == "0.4000"
    (row,) = january["rows"]
    assert (row["currency"], row["revenue"], row["arppu"], row["arpu"]) == ("CNY", 1843, 922, 369)


async def test_mrr_bridge(example_ledger: Any) -> None:
    report = await revenue_report("2024-01", "2024-06")
    rows = {m["month"]: m["rows"][0] for m in report.to_json()["months"]}
    assert rows["2024-01"]["mrr"] == 2732 and rows["2024-01"]["mrr_new"] == 2732
    assert rows["2024-02"]["mrr_expansion"] == 283 and rows["2024-02"]["mrr"] == 3015
    assert rows["2024-03"]["mrr_churn"] == 1698 and rows["2024-03"]["mrr"] == 1317
    assert rows["2024-05"]["mrr_reactivation"] == 1500 and rows["2024-05"]["mrr"] == 2817
    assert rows["2024-06"]["mrr_churn"] == 1500
    for name, row in rows.items():
        bridge = row["mrr_open"] + row["mrr_new"] + row["mrr_expansion"]
        bridge += row["mrr_reactivation"] - row["mrr_contraction"] - row["mrr_churn"]
        assert bridge == row["mrr"], name
    months = list(rows.values())
    assert all(a["mrr"] == b["mrr_open"] for a, b in itertools.pairwise(months))


async def test_conversion_rounding_rule() -> None:
    assert convert(1000, Decimal("7.1234"), "USD", "CNY") == 7123
    assert convert(100, Decimal("0.0481"), "JPY", "CNY") == 481
    assert convert(-5, Decimal("0.5"), "CNY", "CNY") == -3  # half away from zero
    assert convert(5, Decimal("0.5"), "CNY", "CNY") == 3


async def test_reporting_currency_uses_the_rate_of_each_day(example_ledger: Any) -> None:
    from tests.finance.helpers import period

    await period(example_ledger["users"]["l"], "2024-01-01", "2024-01-03", 1000, currency="USD")
    await rates.set_rate("USD", "CNY", "7.1234", date(2024, 1, 1))
    await rates.set_rate("USD", "CNY", "8", date(2024, 1, 2))
    january = _month(await revenue_report("2024-01", "2024-01", currency="CNY"), "2024-01")
    (row,) = january["rows"]
    # 500 cents on 1 January at 7.1234 (3561.7 -> 3562) and 500 on 2 January at 8 (4000)
    assert row["currency"] == "CNY" and row["revenue"] == 1843 + 3562 + 4000
    assert row["paying_users"] == 3


async def test_a_missing_rate_names_the_day_and_the_pair(example_ledger: Any) -> None:
    from tests.finance.helpers import period

    await period(example_ledger["users"]["l"], "2024-01-10", "2024-01-12", 1000, currency="USD")
    await rates.set_rate("USD", "CNY", "7.1", date(2024, 1, 11))
    with pytest.raises(NotFound) as caught:
        await revenue_report("2024-01", "2024-01", currency="CNY")
    assert caught.value.code == FinanceErrorCode.RATE_MISSING
    assert "USD->CNY" in caught.value.message and "2024-01-10" in caught.value.message


async def test_closed_month_never_changes_and_refunds_show_as_adjustments(
    example_ledger: Any,
) -> None:
    before = _month(await revenue_report("2024-06", "2024-06"), "2024-06")
    assert before["rows"][0]["revenue"] == 924 + 30 * 43
    await closing.close_month("2024-06", by="test")
    with pytest.raises(Conflict):
        await closing.close_month("2024-06", by="test")
    m3 = example_ledger["periods"]["m3"]
    await MembershipPeriod.filter(id=m3.id).update(refunded=600)
    await ChargeRefund.create(
        charge_ref="pi_m3",
        amount=1500,
        amount_refunded=600,
        currency="CNY",
        refunded_at=datetime(2024, 7, 10, tzinfo=UTC),
    )
    report = await revenue_report("2024-06", "2024-07")
    june, july = _month(report, "2024-06"), _month(report, "2024-07")
    moving = {"closed", "as_of"}  # as_of: computed, then when it was closed
    assert june["closed"] and {k: v for k, v in june.items() if k not in moving} == {
        k: v for k, v in before.items() if k not in moving
    }
    assert july["adjustments"] == [
        {
            "month": "2024-07",
            "adjusts": "2024-06",
            "currency": "CNY",
            "amount": -372,
            "kind": "refund",
            "reference": m3.reference,
            "day": "2024-07-10",
        }
    ]
    # the live June would differ: the stored one is what was closed
    with pytest.raises(InvalidInput) as caught:
        await rates.set_rate("USD", "CNY", "7", date(2024, 6, 15))
    assert caught.value.code == FinanceErrorCode.RATE_IN_CLOSED_MONTH


async def test_late_invoice_lands_in_the_first_open_month(example_ledger: Any) -> None:
    from tests.finance.helpers import period

    await closing.close_month("2024-06", by="test")
    await closing.close_month("2024-07", by="test")
    late = await period(example_ledger["users"]["l"], "2024-06-01", "2024-07-01", 3000)
    (adj,) = [a for a in await closing.adjustments() if a.reference == late.reference]
    assert (adj.adjusts, adj.kind, adj.amount) == (2024 * 12 + 5, "late_invoice", 3000)
    assert adj.month > 2024 * 12 + 6  # July is closed too: after it


async def test_reopen_is_audited_and_latest_first(example_ledger: Any) -> None:
    await closing.close_month("2024-05", by="test")
    await closing.close_month("2024-06", by="test")
    with pytest.raises(Conflict):
        await closing.reopen_month("2024-05", "typo in a rate", by="admin")
    with pytest.raises(InvalidInput):
        await closing.reopen_month("2024-06", "  ", by="admin")
    await closing.reopen_month("2024-06", "late Stripe import", by="admin")
    audit = [(a.action, a.actor, a.reason) for a in await MonthAudit.all().order_by("id")]
    assert audit == [
        ("CLOSE", "test", ""),
        ("CLOSE", "test", ""),
        ("REOPEN", "admin", "late Stripe import"),
    ]
    assert not _month(await revenue_report("2024-06", "2024-06"), "2024-06")["closed"]
    with pytest.raises(InvalidInput):
        await closing.close_month("2999-01", by="test")


async def test_closing_and_reopening_need_their_roles(example_ledger: Any) -> None:
    from ncm.accounts.models import Role
    from ncm.errors import Forbidden
    from tests.conftest import make_user

    listener = await make_user("listener")
    finance = await make_user("finance", role=Role.FINANCE)
    with pytest.raises(Forbidden):
        await closing.close_month("2024-06", actor=listener)
    done = await closing.close_month("2024-06", actor=finance)
    assert done.closed_by == f"user:{finance.id}"
    with pytest.raises(Forbidden):
        await closing.reopen_month("2024-06", "wrong", actor=finance)
    admin = await make_user("boss", role=Role.ADMIN)
    await closing.reopen_month("2024-06", "wrong figures", actor=admin)
    assert [a.actor for a in await MonthAudit.all().order_by("id")] == [
        f"user:{finance.id}",
        f"user:{admin.id}",
    ]


async def test_a_report_mixing_closed_and_open_months(example_ledger: Any) -> None:
    live = (await revenue_report("2024-01", "2024-06")).to_json()["months"]
    await closing.close_month("2024-02", by="test")
    await closing.close_month("2024-04", by="test")
    mixed = (await revenue_report("2024-01", "2024-06")).to_json()["months"]
    assert [m["closed"] for m in mixed] == [False, True, False, True, False, False]
    moving = {"closed", "as_of"}
    strip = [{k: v for k, v in m.items() if k not in moving} for m in mixed]
    assert strip == [{k: v for k, v in m.items() if k not in moving} for m in live]
