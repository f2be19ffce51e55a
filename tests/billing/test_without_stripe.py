"""Development without Stripe (no NCM_STRIPE_API_KEY): the demo's plans are listed, a start
says payments are not configured and which setting turns them on, and a dry-run sync works."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from ncm.billing import plans
from ncm.config import get_settings, reset_settings
from ncm.schema.base import to_global_id
from tests.billing.test_graphql import START
from tests.cli.helpers import ncm
from tests.conftest import login_token, make_user

PLANS = "{ membershipPlans { id code amount } }"


@pytest.fixture
def no_stripe(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NCM_STRIPE_API_KEY")
    reset_settings()
    assert get_settings().stripe_api_key is None
    yield
    monkeypatch.undo()
    reset_settings()


async def test_plans_are_listed_and_a_start_names_the_setting(gql: Any, no_stripe: None) -> None:
    await plans.ensure_default_plans()  # what `ncm seed demo` does
    listed = (await gql(PLANS))["data"]["membershipPlans"]
    assert [(p["code"], p["amount"]) for p in listed] == [
        ("vip_monthly", 1500),
        ("vip_yearly", 15800),
    ]
    token = await login_token(await make_user())
    body = await gql(
        START,
        {"input": {"planId": listed[0]["id"], "successUrl": "https://app.example/ok"}},
        token=token,
    )
    result = body["data"]["startMembership"]
    assert result["__typename"] == "PaymentsNotConfiguredError", result
    assert result["code"] == "BILLING_NOT_CONFIGURED"
    assert "not configured" in result["message"] and "NCM_STRIPE_API_KEY" in result["message"]
    assert "not on sale" not in result["message"]
    setting = await gql(
        """mutation($input: StartMembershipInput!) { startMembership(input: $input) {
        ... on PaymentsNotConfiguredError { setting } } }""",
        {"input": {"planId": listed[0]["id"], "successUrl": "https://app.example/ok"}},
        token=token,
    )
    assert setting["data"]["startMembership"] == {"setting": "NCM_STRIPE_API_KEY"}
    # An inactive plan is still "not on sale", with or without Stripe.
    await plans.Plan.filter(code="vip_yearly").update(active=False)
    gone = await gql(
        START,
        {"input": {"planId": listed[1]["id"], "successUrl": "https://app.example/ok"}},
        token=token,
    )
    assert gone["data"]["startMembership"]["code"] == "PLAN_UNAVAILABLE"
    missing = await gql(
        START, {"input": {"planId": to_global_id("MembershipPlan", 999_999)}}, token=token
    )
    assert missing["data"]["startMembership"]["code"] == "NOT_FOUND"


async def test_production_without_stripe_lists_nothing_unsynced(
    gql: Any, no_stripe: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    await plans.ensure_default_plans()
    production = dataclasses.replace(get_settings(), production=True)
    monkeypatch.setattr(plans, "get_settings", lambda: production)
    assert (await gql(PLANS))["data"]["membershipPlans"] == []


async def test_plans_sync_dry_run_without_stripe(no_stripe: None) -> None:
    dry = ncm("billing", "plans", "sync", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "NCM_STRIPE_API_KEY" in dry.stderr
    assert "vip_monthly" in dry.stdout and "created" in dry.stdout
    assert "ncm_vip_monthly_1500_cny" in dry.stdout
    real = ncm("billing", "plans", "sync")
    assert real.returncode == 1
    assert "NCM_STRIPE_API_KEY" in real.stderr
    assert [p.stripe_plan_id for p in await plans.list_plans()] == [None, None]


async def test_with_stripe_unsynced_plans_are_not_on_sale(gql: Any) -> None:
    """Production behaviour is unchanged: with a Stripe key, only synced plans are listed."""
    await plans.ensure_default_plans()
    assert (await gql(PLANS))["data"]["membershipPlans"] == []
