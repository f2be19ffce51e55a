"""Reconciliation against a Stripe-shaped HTTP fake, through the real wrapper and SDK."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ncm.finance.reconcile import reconcile_month
from tests.cli.helpers import ncm
from tests.finance.conftest import user
from tests.finance.fake_stripe import FakeStripe, serve
from tests.finance.helpers import period

JUNE = int(datetime(2024, 6, 10, tzinfo=UTC).timestamp())
MAY = int(datetime(2024, 5, 31, tzinfo=UTC).timestamp())


@pytest.fixture
def fake_stripe() -> Iterator[tuple[FakeStripe, dict[str, str]]]:
    from ncm.config import reset_settings

    with serve() as (fake, url):
        env = {
            "NCM_STRIPE_API_KEY": "sk_test_finance",
            "NCM_STRIPE_API_BASE": url,
            "NCM_STRIPE_WEBHOOK_SECRET": "whsec_finance",
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        reset_settings()
        try:
            yield fake, env
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            reset_settings()


async def _month_with_every_difference(fake: FakeStripe) -> None:
    u = await user("payer")
    june = "2024-06-10"
    await period(u, june, "2024-07-10", 1500, reference="in_ok", charge="pi_ok")
    fake.invoice("in_ok", 1500, JUNE, payment_intent="pi_ok")
    await period(u, june, "2024-07-10", 1500, reference="in_amount")
    fake.invoice("in_amount", 1800, JUNE)
    await period(u, june, "2024-07-10", 1500, reference="in_currency")
    fake.invoice("in_currency", 1500, JUNE, currency="usd")
    await period(u, june, "2024-07-10", 1500, reference="in_refund", charge="pi_refund")
    fake.invoice("in_refund", 1500, JUNE, payment_intent="pi_refund")
    fake.refund("pi_refund", 500)
    await period(u, june, "2024-07-10", 1500, reference="in_local_only")
    await period(u, "2024-06-01", "2024-07-01", 1500, reference="in_may")
    fake.invoice("in_may", 1500, MAY)  # created in May: May's reconciliation has it
    fake.invoice("in_remote_only", 2000, JUNE)
    fake.invoice("in_trial", 0, JUNE, billing_reason="subscription_create")


async def test_every_difference_is_listed(fake_stripe: Any) -> None:
    fake, _ = fake_stripe
    await _month_with_every_difference(fake)
    result = await reconcile_month("2024-06")
    got = {(d.kind, d.invoice, d.ledger, d.stripe) for d in result.differences}
    assert got == {
        ("amount", "in_amount", 1500, 1800),
        ("currency", "in_currency", "CNY", "USD"),
        ("refund", "in_refund", 0, 500),
        ("missing_in_stripe", "in_local_only", 1500, None),
        ("missing_in_ledger", "in_remote_only", None, 2000),
    }
    # paged: 6 invoices of June at 2 a page
    pages = [r for r in fake.requests if r.startswith("/v1/invoices?")]
    assert len(pages) == 3 and "starting_after" in pages[-1]


async def test_cli_exit_code_is_1_on_a_difference_and_0_when_equal(fake_stripe: Any) -> None:
    fake, env = fake_stripe
    await _month_with_every_difference(fake)
    result = ncm("finance", "reconcile", "--month", "2024-06", "--json", env=env)
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert len(body["differences"]) == 5 and body["stripe_invoices"] == 5
    clean = ncm("finance", "reconcile", "--month", "2024-03", env=env)
    assert clean.returncode == 0, clean.stderr
    assert "agree" in clean.stdout
