"""GraphQL: revenueReport and listeningMix for the finance and admin roles only."""

from __future__ import annotations

from typing import Any

import pytest

from ncm.accounts.models import Role
from tests.conftest import login_token, make_user

REPORT = """
query R($from: String!, $to: String!, $by: RevenueGroupBy, $currency: String) {
  revenueReport(from: $from, to: $to, groupBy: $by, currency: $currency) {
    from to groupBy currency
    months { month closed mau payingUsers payingRatio newPayingUsers
      rows { currency group payingUsers revenue arppu arpu mrrOpen mrrNew mrrExpansion
             mrrContraction mrrChurn mrrReactivation mrrFx mrr }
      adjustments { month adjusts kind reference amount } }
  }
}
"""
MIX = """
query M($from: String!, $to: String!) {
  listeningMix(from: $from, to: $to) {
    month plays domesticShare internationalShare
    regions { key plays share } genres { key name plays share }
  }
}
"""


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.LISTENER, False),
        (Role.MODERATOR, False),
        (Role.PARTNER, False),
        (Role.FINANCE, True),
        (Role.ADMIN, True),
    ],
)
async def test_each_role(gql: Any, example_ledger: Any, role: Role, allowed: bool) -> None:
    extra = {"partner_id": 1} if role == Role.PARTNER else {}
    token = await login_token(await make_user(f"who_{role.value}", role=role, **extra))
    for document, name in ((REPORT, "revenueReport"), (MIX, "listeningMix")):
        body = await gql(
            document, {"from": "2024-01", "to": "2024-02"}, token=token, expect_errors=True
        )
        if allowed:
            assert "errors" not in body, body
            assert len(body["data"][name]) in (2, 5)
        else:
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert body["data"] is None


async def test_anonymous_must_log_in(gql: Any) -> None:
    for document in (REPORT, MIX):
        body = await gql(document, {"from": "2024-01", "to": "2024-01"}, expect_errors=True)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_report_figures_through_graphql(gql: Any, example_ledger: Any) -> None:
    token = await login_token(await make_user("fin", role=Role.FINANCE))
    body = await gql(REPORT, {"from": "2024-01", "to": "2024-02"}, token=token)
    report = body["data"]["revenueReport"]
    assert (report["from"], report["to"], report["groupBy"], report["currency"]) == (
        "2024-01",
        "2024-02",
        None,
        None,
    )
    january = report["months"][0]
    assert (january["mau"], january["payingUsers"], january["payingRatio"]) == (5, 2, "0.4000")
    (row,) = january["rows"]
    assert (row["revenue"], row["arppu"], row["arpu"], row["mrr"]) == ("1843", "922", "369", "2732")
    assert row["mrrFx"] is None


async def test_errors_carry_their_codes(gql: Any, example_ledger: Any) -> None:
    from tests.finance.helpers import period

    await period(example_ledger["users"]["l"], "2024-01-01", "2024-01-03", 100, currency="USD")
    token = await login_token(await make_user("fin", role=Role.FINANCE))
    body = await gql(
        REPORT,
        {"from": "2024-01", "to": "2024-01", "currency": "CNY"},
        token=token,
        expect_errors=True,
    )
    assert body["errors"][0]["extensions"]["code"] == "RATE_MISSING"
    assert "2024-01-01" in body["errors"][0]["message"]
    body = await gql(REPORT, {"from": "2024-13", "to": "2024-01"}, token=token, expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "BAD_MONTH"
    body = await gql(REPORT, {"from": "2024-01", "to": "2024-01", "by": "REGION"}, token=token)
    rows = body["data"]["revenueReport"]["months"][0]["rows"]
    assert {r["group"] for r in rows} == {"CN"}
