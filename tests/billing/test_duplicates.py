"""At most one live subscription per user, hosted Checkout included (issue 13 item 1).

localstripe has no Checkout: a completed session is a Stripe-shaped event signed as Stripe
signs it, naming a subscription made in localstripe (what Checkout makes at Stripe), with
its real invoice and payment; the refund and the cancellation are real localstripe calls.
Creating and expiring sessions is a fake at the wrapper boundary."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx
import pytest

from ncm.billing import duplicates, reconcile, subscriptions, webhooks
from ncm.billing.entitlement import entitlement
from ncm.billing.models import (
    CheckoutSession,
    CheckoutState,
    DuplicateState,
    DuplicateSubscription,
    EventStatus,
    MembershipPeriod,
    PeriodSource,
    StripeEvent,
    Subscription,
)
from ncm.billing.stripe import StripeGateway, gateway
from ncm.billing.subscriptions import StartMode
from tests.billing.helpers import event, post_event, process_pending, sign, stripe_subscriptions
from tests.conftest import make_user

MONTHLY = "ncm_vip_monthly_1500_cny"
YEARLY = "ncm_vip_yearly_15800_cny"


async def _next_second() -> None:
    """Stripe's ``created`` is whole seconds: make the next subscription strictly newer."""
    await asyncio.sleep(1.0 - (time.time() % 1.0) + 0.01)


async def _customer(user: Any) -> str:
    customer = await subscriptions.ensure_customer(user)
    await gateway().attach_payment_method(customer.stripe_id, "pm_card_visa", f"pm:{user.id}")
    return customer.stripe_id


async def _paid_checkout(user: Any, customer: str, plan: str, n: int) -> dict[str, Any]:
    """What one hosted Checkout completed makes at Stripe: a paid subscription, and the
    events that tell ncm (the session, the subscription, its paid first invoice)."""
    stripe = gateway()
    sub = await stripe.create_subscription(
        customer=customer, plan_id=plan, user_id=user.id, key=f"checkout-sub:{user.id}:{n}"
    )
    assert sub["status"] == "active"
    invoice = await stripe.retrieve_invoice(str(sub["latest_invoice"]["id"]))
    assert invoice is not None and invoice["status"] == "paid"
    session = {
        "id": f"cs_test_{user.id}_{n}",
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "customer": customer,
        "client_reference_id": str(user.id),
        "subscription": sub["id"],
        "metadata": {"ncm_user_id": str(user.id)},
    }
    plain = {k: v for k, v in sub.items() if k != "latest_invoice"}
    plain["latest_invoice"] = invoice["id"]
    events = [
        event("checkout.session.completed", session, event_id=f"evt_cs_{user.id}_{n}"),
        event("customer.subscription.created", plain, event_id=f"evt_sc_{user.id}_{n}"),
        event("invoice.paid", invoice, event_id=f"evt_in_{user.id}_{n}"),
    ]
    return {"sub": sub, "invoice": invoice, "session": session, "events": events}


async def _two_checkouts(
    second_plan: str = YEARLY, handle: str | None = None
) -> tuple[Any, str, dict[str, Any], dict[str, Any]]:
    """A user who completed two hosted checkouts a second apart (nothing delivered yet):
    ``(user, customer, first, second)``."""
    user = await make_user(handle) if handle else await make_user()
    customer = await _customer(user)
    first = await _paid_checkout(user, customer, MONTHLY, 1)
    await _next_second()
    second = await _paid_checkout(user, customer, second_plan, 2)
    return user, customer, first, second


async def _deliver(deliveries: list[dict[str, Any]], *, concurrently: bool = False) -> None:
    received = []
    for evt in deliveries:
        payload = json.dumps(evt)
        received.append(await webhooks.receive(payload.encode(), sign(payload)))
    if concurrently:
        await asyncio.gather(*(webhooks.process(r.event_id) for r in received))
    else:
        for r in received:
            await webhooks.process(r.event_id)
    await process_pending()


async def _refunds(stripe_url: str, payment_intent: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(auth=("sk_test_ncm", "")) as client:
        response = await client.get(
            f"{stripe_url}/v1/refunds", params={"payment_intent": payment_intent}
        )
    response.raise_for_status()
    return list(response.json()["data"])


def _older(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(kept, ended) by the rule: Stripe's ``created``, then the id."""
    first, second = sorted((a, b), key=lambda c: (c["sub"]["created"], c["sub"]["id"]))
    return first, second


async def _assert_resolved(
    user: Any, stripe_url: str, customer: str, kept: dict[str, Any], ended: dict[str, Any]
) -> None:
    remote = {s["id"]: s for s in await stripe_subscriptions(stripe_url, customer)}
    assert remote[kept["sub"]["id"]]["status"] == "active"
    assert remote[ended["sub"]["id"]]["status"] == "canceled"
    assert [s["id"] for s in remote.values() if s["status"] == "active"] == [kept["sub"]["id"]]
    # one refund, the duplicate's whole first payment; none of the kept one's
    ended_pi = str(ended["invoice"]["payment_intent"])
    refunds = await _refunds(stripe_url, ended_pi)
    assert [r["amount"] for r in refunds] == [ended["invoice"]["amount_paid"]]
    assert await _refunds(stripe_url, str(kept["invoice"]["payment_intent"])) == []
    # the mirror: one live subscription
    live = await Subscription.filter(user_id=user.id, status__in=list(duplicates.LIVE))
    assert [s.stripe_id for s in live] == [kept["sub"]["id"]]
    # the ledger: one PAID period that counts, the duplicate's refunded and revoked
    paid = {
        p.reference: p
        for p in await MembershipPeriod.filter(user_id=user.id, source=PeriodSource.PAID)
    }
    assert set(paid) == {kept["invoice"]["id"], ended["invoice"]["id"]}
    good, dup = paid[kept["invoice"]["id"]], paid[ended["invoice"]["id"]]
    assert (good.refunded, good.revoked_at) == (0, None)
    assert dup.refunded == dup.amount == ended["invoice"]["amount_paid"] > 0
    assert dup.revoked_at is not None
    e = await entitlement(user.id)
    assert e.active and e.source == "PAID"
    row = await DuplicateSubscription.get(user_id=user.id)
    assert (row.subscription_ref, row.kept_ref, row.state, row.amount_refunded) == (
        ended["sub"]["id"],
        kept["sub"]["id"],
        DuplicateState.REFUNDED,
        ended["invoice"]["amount_paid"],
    )
    assert row.refund_ref == refunds[0]["id"]
    assert not await StripeEvent.exclude(status=EventStatus.PROCESSED).exists()


@pytest.mark.parametrize("order", ["first-then-second", "second-then-first", "shuffled", "gather"])
async def test_two_checkouts_completed_keep_the_older_and_refund_the_newer(
    vip_plans: Any, stripe_env: str, order: str
) -> None:
    user, customer, a, b = await _two_checkouts()
    kept, ended = _older(a, b)
    assert kept is a  # created a second earlier
    if order == "first-then-second":
        deliveries = a["events"] + b["events"]
    elif order == "second-then-first":
        deliveries = b["events"] + a["events"]
    else:  # every event once or twice, in a random order (seeded: the same on every run)
        rnd = random.Random(f"{order}-13")
        deliveries = a["events"] + b["events"]
        deliveries += rnd.sample(deliveries, 4)
        rnd.shuffle(deliveries)
    await _deliver(deliveries, concurrently=order == "gather")
    await _assert_resolved(user, stripe_env, customer, kept, ended)


async def test_a_duplicate_found_after_it_renewed_is_refunded_every_charge(
    vip_plans: Any, stripe_env: str
) -> None:
    """Webhooks stalled over a renewal: by the time ncm sees the duplicate it has charged
    twice. Both charges are refunded in full and both of its periods revoked."""
    user, customer, a, b = await _two_checkouts(MONTHLY)
    kept, ended = _older(a, b)
    sid = ended["sub"]["id"]
    async with httpx.AsyncClient(auth=("sk_test_ncm", ""), base_url=stripe_env) as client:
        made = await client.post("/v1/invoices", data={"customer": customer, "subscription": sid})
        made.raise_for_status()
        paid = await client.post(f"/v1/invoices/{made.json()['id']}/pay")
        paid.raise_for_status()
    renewal = paid.json()
    assert renewal["status"] == "paid" and renewal["amount_paid"] > 0
    await _deliver(a["events"] + b["events"])
    charges = [ended["invoice"], renewal]
    for charge in charges:
        refunds = await _refunds(stripe_env, str(charge["payment_intent"]))
        assert [r["amount"] for r in refunds] == [charge["amount_paid"]]
    assert await _refunds(stripe_env, str(kept["invoice"]["payment_intent"])) == []
    row = await DuplicateSubscription.get(user_id=user.id)
    assert row.state == DuplicateState.REFUNDED
    assert row.amount_refunded == sum(c["amount_paid"] for c in charges)
    revoked = {
        p.reference: p
        for p in await MembershipPeriod.filter(user_id=user.id, source=PeriodSource.PAID)
        if p.revoked_at is not None
    }
    assert set(revoked) == {c["id"] for c in charges}
    assert all(p.refunded == p.amount for p in revoked.values())
    e = await entitlement(user.id)
    assert e.active and e.source == "PAID"  # the kept subscription's period


async def test_the_cli_lists_resolutions_for_support(vip_plans: Any, stripe_env: str) -> None:
    """``ncm billing duplicates``: what was ended, what was kept, the refund; by user too."""
    from tests.cli.helpers import ncm, ncm_json

    user, _customer_id, a, b = await _two_checkouts(handle="dup_cli")
    bystander = await make_user("bystander")
    await _deliver(a["events"] + b["events"])
    row = await DuplicateSubscription.get(user_id=user.id)
    listed = ncm_json("billing", "duplicates", "--user", user.handle)
    assert [
        (d["user_id"], d["ended"], d["kept"], d["state"], d["refund"], d["amount_refunded"])
        for d in listed
    ] == [
        (
            user.id,
            b["sub"]["id"],
            a["sub"]["id"],
            "REFUNDED",
            row.refund_ref,
            b["invoice"]["amount_paid"],
        )
    ]
    assert listed[0]["currency"] == "CNY" and listed[0]["invoice"] == b["invoice"]["id"]
    assert [d["ended"] for d in ncm_json("billing", "duplicates")] == [b["sub"]["id"]]
    assert ncm_json("billing", "duplicates", "--user", str(bystander.id)) == []
    unknown = ncm("billing", "duplicates", "--user", "nobody_here")
    assert unknown.returncode != 0 and "nobody_here" in unknown.stderr


async def test_redelivered_and_replayed_events_never_refund_twice(
    http: Any, vip_plans: Any, stripe_env: str
) -> None:
    user = await make_user()
    customer = await _customer(user)
    a = await _paid_checkout(user, customer, MONTHLY, 1)
    await _next_second()
    b = await _paid_checkout(user, customer, MONTHLY, 2)
    for evt in b["events"] + a["events"]:
        assert (await post_event(http, evt)).status_code == 200
    await process_pending()
    await _assert_resolved(user, stripe_env, customer, a, b)
    # Stripe delivers everything again, and an operator replays every event.
    for evt in a["events"] + b["events"]:
        response = await post_event(http, evt)
        assert response.json()["duplicate"] is True
    await process_pending()
    for evt in a["events"] + b["events"]:
        assert await webhooks.replay(evt["id"]) == EventStatus.PROCESSED
    # What Stripe then sends about the duplicate: its deletion, its refunded charge.
    ended = await gateway().retrieve_subscription(b["sub"]["id"])
    assert ended is not None
    pi = str(b["invoice"]["payment_intent"])
    amount = int(b["invoice"]["amount_paid"])
    refunded_charge = {
        "id": f"ch_{pi}",
        "object": "charge",
        "customer": customer,
        "payment_intent": pi,
        "invoice": b["invoice"]["id"],
        "amount": amount,
        "amount_refunded": amount,
        "refunded": True,
        "currency": "cny",
        "created": int(b["sub"]["created"]),
        "refunds": {"data": [{"id": "re_x", "amount": amount, "created": ended["created"]}]},
    }
    await _deliver(
        [
            event("customer.subscription.deleted", ended),
            event("charge.refunded", refunded_charge),
        ]
    )
    await _assert_resolved(user, stripe_env, customer, a, b)
    assert await DuplicateSubscription.filter(user_id=user.id).count() == 1
    # The mirror lagging (as if the cancel had not been recorded): the row still stops a
    # second refund.
    await Subscription.filter(stripe_id=b["sub"]["id"]).update(status="active")
    await _deliver([event("customer.subscription.updated", a["sub"])])
    await _assert_resolved(user, stripe_env, customer, a, b)


async def test_a_checkout_completed_after_a_direct_start_is_refunded(
    vip_plans: Any, stripe_env: str
) -> None:
    user = await make_user()
    direct = await subscriptions.start_membership(
        user,
        "vip_monthly",
        mode=StartMode.DIRECT,
        payment_method_id="pm_card_visa",
        idempotency_key="app-direct-1",
    )
    assert direct.subscription is not None
    customer = await _customer(user)
    await _next_second()
    late = await _paid_checkout(user, customer, YEARLY, 2)  # paid on Stripe's page meanwhile
    await _deliver(late["events"])
    remote = {s["id"]: s["status"] for s in await stripe_subscriptions(stripe_env, customer)}
    assert remote == {direct.subscription.stripe_id: "active", late["sub"]["id"]: "canceled"}
    pi = str(late["invoice"]["payment_intent"])
    assert [r["amount"] for r in await _refunds(stripe_env, pi)] == [15800]
    period = await MembershipPeriod.get(reference=late["invoice"]["id"])
    assert period.revoked_at is not None and period.refunded == period.amount == 15800
    kept = await MembershipPeriod.filter(user_id=user.id, revoked_at=None, source="PAID")
    assert [p.subscription_ref for p in kept] == [direct.subscription.stripe_id]
    row = await DuplicateSubscription.get(user_id=user.id)
    assert (row.kept_ref, row.subscription_ref) == (
        direct.subscription.stripe_id,
        late["sub"]["id"],
    )
    # operators see it as resolved
    found = await reconcile.reconcile_window()
    resolved = [d for d in found if d.kind == reconcile.DifferenceKind.DUPLICATE_REFUNDED]
    assert [(d.stripe_id, d.user_id) for d in resolved] == [(late["sub"]["id"], user.id)]
    assert "refunded 15800 CNY" in resolved[0].message
    assert not [d for d in found if d.kind == reconcile.DifferenceKind.DUPLICATE_LIVE]


async def test_a_single_checkout_is_untouched(vip_plans: Any, stripe_env: str) -> None:
    user = await make_user()
    customer = await _customer(user)
    only = await _paid_checkout(user, customer, MONTHLY, 1)
    await _deliver(only["events"] + only["events"][::-1])
    remote = await stripe_subscriptions(stripe_env, customer)
    assert [s["status"] for s in remote] == ["active"]
    assert await _refunds(stripe_env, str(only["invoice"]["payment_intent"])) == []
    assert not await DuplicateSubscription.exists()
    period = await MembershipPeriod.get(user_id=user.id)
    assert (period.source, period.refunded, period.revoked_at) == (PeriodSource.PAID, 0, None)
    assert (await entitlement(user.id)).active
    session = await CheckoutSession.get(stripe_id=only["session"]["id"])
    assert (session.state, session.subscription_ref) == (CheckoutState.COMPLETE, only["sub"]["id"])


# expiring the other open sessions --------------------------------------------------------


@pytest.fixture
def fake_checkout(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Stripe-shaped Checkout at the wrapper boundary (localstripe has none): sessions are
    created open; expiring one answers it expired, or ``complete`` if the test says the
    user already paid it."""
    state: dict[str, Any] = {"created": [], "expired": [], "paid": set(), "n": 0}

    async def create(self: Any, **kw: Any) -> dict[str, Any]:
        state["n"] += 1
        sid = f"cs_test_fake_{kw['user_id']}_{state['n']}"
        state["created"].append((sid, kw))
        return {"id": sid, "status": "open", "url": f"https://checkout.stripe.com/c/pay/{sid}"}

    async def expire(self: Any, session_id: str, key: str) -> dict[str, Any]:
        state["expired"].append((session_id, key))
        status = "complete" if session_id in state["paid"] else "expired"
        return {"id": session_id, "object": "checkout.session", "status": status}

    monkeypatch.setattr(StripeGateway, "create_checkout_session", create)
    monkeypatch.setattr(StripeGateway, "expire_checkout_session", expire)
    return state


async def _checkout(user: Any, key: str) -> str:
    result = await subscriptions.start_membership(
        user, "vip_monthly", success_url="https://music.example/ok", idempotency_key=key
    )
    assert result.checkout_url
    return result.checkout_url.rsplit("/", 1)[1]


async def test_a_completed_checkout_expires_the_users_other_open_sessions(
    vip_plans: Any, fake_checkout: dict[str, Any]
) -> None:
    user, other = await make_user(), await make_user("bob")
    customer = await _customer(user)
    phone, laptop, tablet = [await _checkout(user, f"device-{n}-key") for n in range(3)]
    bobs = await _checkout(other, "bob-device-key")
    assert await CheckoutSession.filter(state=CheckoutState.OPEN).count() == 4
    fake_checkout["paid"].add(tablet)  # paid on the tablet a moment ago (its event is late)
    done = await _paid_checkout(user, customer, MONTHLY, 1)
    done["session"]["id"] = phone
    done["events"][0]["data"]["object"]["id"] = phone
    await _deliver(done["events"])
    assert sorted(fake_checkout["expired"]) == sorted(
        [(laptop, f"expire:{laptop}"), (tablet, f"expire:{tablet}")]
    )
    states = dict(await CheckoutSession.all().values_list("stripe_id", "state"))
    assert states == {
        phone: CheckoutState.COMPLETE,
        laptop: CheckoutState.EXPIRED,
        tablet: CheckoutState.COMPLETE,  # its duplicate is resolved when its events come
        bobs: CheckoutState.OPEN,  # another user's: untouched
    }
    # a redelivered completion expires nothing more
    fake_checkout["expired"].clear()
    await _deliver([event("checkout.session.completed", done["session"])])
    assert fake_checkout["expired"] == []


async def test_a_direct_start_expires_open_sessions_and_stripe_expiry_is_recorded(
    vip_plans: Any, fake_checkout: dict[str, Any]
) -> None:
    user = await make_user()
    pending = await _checkout(user, "web-checkout-key")
    result = await subscriptions.start_membership(
        user,
        "vip_yearly",
        mode=StartMode.DIRECT,
        payment_method_id="pm_card_visa",
        idempotency_key="app-direct-key",
    )
    assert result.subscription is not None and result.subscription.status == "active"
    assert fake_checkout["expired"] == [(pending, f"expire:{pending}")]
    assert (await CheckoutSession.get(stripe_id=pending)).state == CheckoutState.EXPIRED
    # Stripe's own expiry (24 h) of a session is recorded from its event
    later = await _checkout(await make_user("carol"), "carol-checkout-key")
    await _deliver([event("checkout.session.expired", {"id": later, "object": "checkout.session"})])
    assert (await CheckoutSession.get(stripe_id=later)).state == CheckoutState.EXPIRED


async def test_reconcile_execute_ends_a_duplicate_the_webhooks_never_saw(
    vip_plans: Any, stripe_env: str
) -> None:
    """A duplicate whose events were lost: ``reconcile`` reports DUPLICATE_LIVE and
    ``--execute`` applies the webhooks' rule (keep the older, cancel and refund the newer)."""
    user = await make_user()
    customer = await _customer(user)
    a = await _paid_checkout(user, customer, MONTHLY, 1)
    await _next_second()
    b = await _paid_checkout(user, customer, YEARLY, 2)
    found = await reconcile.reconcile_window()
    assert {d.stripe_id for d in found if d.kind == reconcile.DifferenceKind.DUPLICATE_LIVE} == {
        a["sub"]["id"],
        b["sub"]["id"],
    }
    repairs = await reconcile.reconcile(execute=True)
    assert all(r.repaired for r in repairs if r.difference.kind == "DUPLICATE_LIVE")
    await _assert_resolved(user, stripe_env, customer, a, b)
    after = await reconcile.reconcile_window()
    assert [d.kind for d in after] == [reconcile.DifferenceKind.DUPLICATE_REFUNDED]
