"""``ncm billing``: the real command in a subprocess against the test database."""

from __future__ import annotations

import json
import time
from typing import Any

from ncm.billing import subscriptions
from ncm.billing.models import MembershipPeriod, StripeEvent, Subscription
from ncm.billing.subscriptions import StartMode
from tests.billing.helpers import event, invoice, process_pending, sign
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import make_user


async def test_plans_sync_then_list(stripe_env: str) -> None:
    changes = ncm_json("billing", "plans", "sync")
    assert {c["action"] for c in changes} >= {"created", "product-created"}
    assert {c["action"] for c in ncm_json("billing", "plans", "sync")} == {"unchanged"}
    listed = ncm_json("billing", "plans", "list")
    assert [(p["code"], p["amount"], p["stripe_plan_id"]) for p in listed] == [
        ("vip_monthly", 1500, "ncm_vip_monthly_1500_cny"),
        ("vip_yearly", 15800, "ncm_vip_yearly_15800_cny"),
    ]


async def test_grant_and_member_show() -> None:
    user = await make_user()
    granted = ncm_json(
        "billing", "grant", user.handle, "--days", "7", "--reason", "ticket 9", "--grant-id", "t9"
    )
    again = ncm_json(
        "billing", "grant", str(user.id), "--days", "7", "--reason", "ticket 9", "--grant-id", "t9"
    )
    assert granted["reference"] == again["reference"] == "admin:t9"
    shown = ncm_json("billing", "member", "show", user.email)
    assert shown["active"] is True and shown["source"] == "ADMIN_GRANT"
    assert [p["reference"] for p in shown["periods"]] == ["admin:t9"]
    bad = ncm("billing", "grant", user.handle, "--days", "7", "--reason", " ")
    assert bad.returncode == 1 and "reason" in bad.stderr


async def test_events_list_failed_waiting_and_replay() -> None:
    from ncm.billing import webhooks

    now = int(time.time())
    waiting = event(
        "invoice.paid",
        invoice("in_c", customer="cus_unknown", subscription="sub_x", start=now, end=now + 86400),
    )
    failed = event("invoice.paid", {"id": "in_d", "object": "invoice"})  # names no customer
    for evt in (waiting, failed):
        payload = json.dumps(evt)
        await webhooks.receive(payload.encode(), sign(payload))
    await process_pending()  # their jobs: in-process, or a burst arq worker
    listed = ncm_json("billing", "events", "list", "--failed")
    assert [(e["id"], e["status"]) for e in listed] == [(failed["id"], "FAILED")]
    listed = ncm_json("billing", "events", "list", "--waiting")
    assert [(e["id"], e["status"], e["waiting_on"]) for e in listed] == [
        (waiting["id"], "WAITING", "cus_unknown")
    ]
    replay = ncm("billing", "events", "replay", failed["id"])
    assert replay.returncode == 1  # still no customer
    assert (await StripeEvent.get(stripe_id=failed["id"])).attempts == 2


async def test_reconcile_reports_then_repairs_drift(vip_plans: Any) -> None:
    user = await make_user()
    await subscriptions.start_membership(
        user, "vip_monthly", mode=StartMode.DIRECT, payment_method_id="pm_card_visa"
    )
    assert ncm_json("billing", "reconcile") == []
    await Subscription.filter(user_id=user.id).update(status="past_due")
    await MembershipPeriod.filter(user_id=user.id).delete()
    dry = ncm_json("billing", "reconcile")
    assert {d["repaired"] for d in dry} == {False} and len(dry) == 2, dry
    assert await MembershipPeriod.filter(user_id=user.id).count() == 0
    fixed = ncm_json("billing", "reconcile", "--execute")
    assert {d["repaired"] for d in fixed} == {True}
    assert (await Subscription.get(user_id=user.id)).status == "active"
    assert await MembershipPeriod.filter(user_id=user.id, source="PAID").count() == 1
    assert ncm_json("billing", "reconcile", "--since", "2000-01-01") == []


async def test_plans_set_refuses_an_amount_past_stripes_maximum_in_one_line() -> None:
    result = ncm(
        "billing",
        "plans",
        "set",
        "vip_big",
        "--name",
        "Big",
        "--interval",
        "MONTH",
        "--amount",
        "100000000",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "99999999" in lines[0]
    ok = ncm_json(
        "billing",
        "plans",
        "set",
        "vip_big",
        "--name",
        "Big",
        "--interval",
        "MONTH",
        "--amount",
        "99999999",
    )
    assert ok["amount"] == 99999999


async def test_reusing_a_grant_id_with_other_days_is_refused_with_the_difference() -> None:
    user = await make_user()
    first = ncm_json(
        "billing", "grant", user.handle, "--days", "7", "--reason", "outage", "--grant-id", "o1"
    )
    refused = ncm(
        "billing", "grant", user.handle, "--days", "30", "--reason", "outage", "--grant-id", "o1"
    )
    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())
    assert "already gave 7 days" in message and "not 30" in message and "+23" in message
    again = ncm_json(
        "billing", "grant", user.handle, "--days", "7", "--reason", "outage", "--grant-id", "o1"
    )
    assert again["reference"] == first["reference"] == "admin:o1"
    assert await MembershipPeriod.filter(user_id=user.id).count() == 1


async def test_plans_list_keeps_codes_and_ids_whole_at_80_columns(stripe_env: str) -> None:
    from ncm.billing import plans
    from ncm.billing.models import Interval

    await plans.ensure_default_plans()
    await plans.set_plan(
        "vip_family_sharing_yearly_plan",
        name="VIP family sharing, yearly",
        interval=Interval.YEAR,
        amount=99999999,
        currency="CNY",
    )
    assert ncm("billing", "plans", "sync").returncode == 0
    result = ncm("billing", "plans", "list", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    for word in (
        "vip_family_sharing_yearly_plan",
        "ncm_vip_family_sharing_yearly_plan_99999999_cny",
        "ncm_vip_monthly_1500_cny",
        "ncm_vip_yearly_15800_cny",
    ):
        assert word in result.stdout.split(), word
    assert "…" not in result.stdout
