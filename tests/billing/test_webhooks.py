"""``POST /webhooks/stripe``: signatures, dedupe, each event's effect on the ledger, and a
property test: duplicated, shuffled, concurrent deliveries end in the same state."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncm.billing import webhooks
from ncm.billing.entitlement import entitlement
from ncm.billing.models import (
    ChargeRefund,
    Customer,
    EventStatus,
    MembershipPeriod,
    StripeEvent,
    Subscription,
)
from ncm.billing.stripe import gateway
from ncm.config import reset_settings
from tests.billing.helpers import charge, event, invoice, post_event, process_pending, sign
from tests.conftest import make_user

DAY = 86400


async def _member(handle: str = "alice") -> tuple[Any, str, dict[str, Any]]:
    """A user with a Stripe customer and a live subscription in localstripe."""
    user = await make_user(handle)
    stripe = gateway()
    cus = await stripe.create_customer(
        user_id=user.id, email=user.email, name=handle, key=f"c{user.id}"
    )
    await Customer.create(user_id=user.id, stripe_id=cus["id"])
    await stripe.attach_payment_method(cus["id"], "pm_card_visa", f"pm{user.id}")
    sub = await stripe.create_subscription(
        customer=cus["id"], plan_id="ncm_vip_monthly_1500_cny", user_id=user.id, key=f"s{user.id}"
    )
    return user, cus["id"], sub


async def test_bad_missing_or_stale_signatures_get_400(http: Any) -> None:
    evt = event("invoice.paid", {"id": "in_x", "customer": "cus_x"})
    payload = json.dumps(evt)
    bad = await http.post(
        "/webhooks/stripe",
        content=payload,
        headers={"stripe-signature": sign(payload, secret="whsec_wrong")},
    )
    missing = await http.post("/webhooks/stripe", content=payload)
    stale = await post_event(http, evt, timestamp=int(time.time()) - 3600)
    tampered = await http.post(
        "/webhooks/stripe",
        content=payload.replace("in_x", "in_y"),
        headers={"stripe-signature": sign(payload)},
    )
    assert [r.status_code for r in (bad, missing, stale, tampered)] == [400, 400, 400, 400]
    assert not await StripeEvent.exists()


async def test_oversized_body_is_413(http: Any) -> None:
    response = await http.post(
        "/webhooks/stripe", content=b"x" * (300 * 1024), headers={"stripe-signature": "t=1,v1=0"}
    )
    assert response.status_code == 413


async def test_unconfigured_secret_is_503(http: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ncm.app import create_app

    monkeypatch.delenv("NCM_STRIPE_WEBHOOK_SECRET")
    reset_settings()
    try:
        import httpx

        app = create_app(manage_db=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            response = await post_event(client, event("invoice.paid", {"id": "in_1"}))
    finally:
        monkeypatch.undo()
        reset_settings()
    assert response.status_code == 503


async def test_duplicate_delivery_is_200_with_no_new_work(http: Any, vip_plans: Any) -> None:
    user, customer, sub = await _member()
    now = int(time.time())
    evt = event(
        "invoice.paid",
        invoice("in_dup", customer=customer, subscription=sub["id"], start=now, end=now + 30 * DAY),
    )
    first = await post_event(http, evt)
    second = await post_event(http, evt)
    assert first.status_code == second.status_code == 200
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    await process_pending()
    assert await StripeEvent.filter(status=EventStatus.PROCESSED).count() == 1
    assert await MembershipPeriod.filter(user_id=user.id, reference="in_dup").count() == 1


async def test_unhandled_types_are_ignored(http: Any) -> None:
    await post_event(http, event("customer.created", {"id": "cus_1"}))
    await process_pending()
    assert (await StripeEvent.get()).status == EventStatus.IGNORED


async def test_paid_invoice_records_money_and_refunds_revoke(http: Any, vip_plans: Any) -> None:
    user, customer, sub = await _member()
    now = int(time.time()) - DAY
    inv = invoice(
        "in_1",
        customer=customer,
        subscription=sub["id"],
        start=now,
        end=now + 30 * DAY,
        amount=1350,
        discount=300,
        tax=150,
        payment_intent="pi_1",
    )
    await post_event(http, event("invoice.paid", inv))
    await process_pending()
    period = await MembershipPeriod.get(reference="in_1")
    assert (period.source, period.amount, period.currency, period.discount, period.tax) == (
        "PAID",
        1350,
        "CNY",
        300,
        150,
    )
    assert (await entitlement(user.id)).active

    partial = charge(
        "ch_1",
        customer=customer,
        payment_intent="pi_1",
        amount=1350,
        refunded_amount=350,
        created=now,
    )
    await post_event(http, event("charge.refunded", partial))
    await process_pending()
    await period.refresh_from_db()
    assert (period.refunded, period.revoked_at) == (350, None)
    assert (await entitlement(user.id)).active

    full = charge(
        "ch_1",
        customer=customer,
        payment_intent="pi_1",
        amount=1350,
        refunded_amount=1350,
        created=now,
    )
    await post_event(http, event("charge.refunded", full))
    await process_pending()
    await period.refresh_from_db()
    assert period.refunded == 1350 and period.revoked_at is not None
    assert not (await entitlement(user.id)).active


async def test_failed_renewal_grace_then_lapse(http: Any, vip_plans: Any) -> None:
    user, customer, sub = await _member()
    t = int(time.time()) - 31 * DAY
    paid = invoice(
        "in_1",
        customer=customer,
        subscription=sub["id"],
        start=t,
        end=t + 30 * DAY,
        reason="subscription_create",
    )
    failed = invoice(
        "in_2",
        customer=customer,
        subscription=sub["id"],
        start=t + 30 * DAY,
        end=t + 60 * DAY,
        status="open",
    )
    await post_event(http, event("invoice.paid", paid))
    await post_event(http, event("invoice.payment_failed", failed))
    await process_pending()
    grace = await MembershipPeriod.get(reference="grace:in_2")
    assert grace.ends_at - grace.starts_at == timedelta(days=7)
    now = datetime.now(UTC)
    e = await entitlement(user.id, now)
    assert e.active and e.source == "GRACE" and e.active_until == grace.ends_at
    assert not (await entitlement(user.id, grace.ends_at + timedelta(seconds=1))).active
    # The failed first payment of a new subscription grants nothing.
    first = invoice(
        "in_3",
        customer=customer,
        subscription=sub["id"],
        start=t,
        end=t + DAY,
        status="open",
        reason="subscription_create",
    )
    await post_event(http, event("invoice.payment_failed", first))
    await process_pending()
    assert not await MembershipPeriod.filter(reference="grace:in_3").exists()


async def test_checkout_completed_links_the_subscription(http: Any, vip_plans: Any) -> None:
    user, customer, sub = await _member()
    await Customer.all().delete()  # the link comes from the session's client_reference_id
    session = {
        "id": "cs_1",
        "object": "checkout.session",
        "customer": customer,
        "client_reference_id": str(user.id),
        "subscription": sub["id"],
        "mode": "subscription",
        "status": "complete",
    }
    await post_event(http, event("checkout.session.completed", session))
    await process_pending()
    assert (await Customer.get()).user_id == user.id
    row = await Subscription.get(stripe_id=sub["id"])
    assert (row.user_id, row.status, row.stripe_plan_id) == (
        user.id,
        "active",
        "ncm_vip_monthly_1500_cny",
    )


_ARABIC_INDIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)
_FULLWIDTH = str.maketrans(
    "0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19"
)


@pytest.mark.parametrize(
    "spelling",
    [
        lambda pk: str(pk).translate(_ARABIC_INDIC),
        lambda pk: str(pk).translate(_FULLWIDTH),
        lambda pk: str(pk).rjust(30, "0"),
        lambda pk: f" {pk}",
        lambda pk: f"{pk}.0",
        lambda pk: f"-{pk}",
    ],
    ids=["arabic-indic", "fullwidth", "30-digits", "space", "float", "negative"],
)
async def test_a_user_hint_that_is_not_plain_digits_links_nobody(
    http: Any, vip_plans: Any, spelling: Any
) -> None:
    """``client_reference_id`` and ``ncm_user_id`` name a user in ASCII digits (at most 18);
    any other spelling of the user's id links the customer to nobody (``int`` reads
    Arabic-Indic or full-width digits as the same number) and the event waits for a link,
    as the batch's own reading of hints does."""
    from ncm.billing.sync import user_hint

    user, customer, sub = await _member()
    await Customer.all().delete()
    hint = spelling(user.id)
    session = {
        "id": "cs_hint",
        "object": "checkout.session",
        "customer": customer,
        "client_reference_id": hint,
        "metadata": {"ncm_user_id": hint},
        "subscription": sub["id"],
    }
    assert user_hint(session) is None
    await post_event(http, event("checkout.session.completed", session))
    await process_pending()
    assert not await Customer.exists()
    assert not await Subscription.filter(user_id=user.id).exists()


def test_user_hints_read_metadata_then_the_reference() -> None:
    from ncm.billing.sync import user_hint

    assert user_hint({"metadata": {"ncm_user_id": "42"}, "client_reference_id": "7"}) == 42
    assert user_hint({"metadata": "junk", "client_reference_id": "7"}) == 7
    assert user_hint({"client_reference_id": 9}) == 9
    assert user_hint({"client_reference_id": True}) is None
    assert user_hint({"metadata": {"ncm_user_id": "9" * 18}}) == int("9" * 18)


async def test_paid_before_linked_waits_then_applies_when_the_link_appears(
    http: Any, vip_plans: Any
) -> None:
    """A customer made outside ncm: ``invoice.paid`` arrives before the event that links
    the customer to a user. It waits (not FAILED) and is applied once the link exists."""
    user, customer, sub = await _member()
    await Customer.all().delete()
    now = int(time.time())
    evt = event(
        "invoice.paid",
        invoice("in_9", customer=customer, subscription=sub["id"], start=now, end=now + DAY),
    )
    await post_event(http, evt)
    await process_pending()
    row = await StripeEvent.get()
    assert (row.status, row.waiting_on) == (EventStatus.WAITING, customer)
    assert not (await entitlement(user.id)).active
    session = {
        "id": "cs_9",
        "object": "checkout.session",
        "customer": customer,
        "client_reference_id": str(user.id),
        "subscription": sub["id"],
    }
    await post_event(http, event("checkout.session.completed", session))
    await process_pending()  # the link, then the waiting event's retry
    await row.refresh_from_db()
    assert (row.status, row.waiting_on) == (EventStatus.PROCESSED, None)
    assert await MembershipPeriod.filter(user_id=user.id, reference="in_9").exists()
    assert (await entitlement(user.id)).active


async def test_waiting_events_are_retried_by_the_sweep_and_replay(
    http: Any, vip_plans: Any
) -> None:
    """A link made some other way (an operator, a restore) is found by the 5-minute sweep."""
    user, customer, sub = await _member()
    await Customer.all().delete()
    now = int(time.time())
    evt = event(
        "invoice.paid",
        invoice("in_10", customer=customer, subscription=sub["id"], start=now, end=now + DAY),
    )
    await post_event(http, evt)
    await process_pending()
    assert (await StripeEvent.get()).status == EventStatus.WAITING
    assert await webhooks.replay(evt["id"]) == EventStatus.WAITING  # still no link
    await Customer.create(user_id=user.id, stripe_id=customer)
    assert await webhooks.requeue_stale() == 1
    await process_pending()
    assert (await StripeEvent.get()).status == EventStatus.PROCESSED
    assert await MembershipPeriod.filter(reference="in_10").exists()
    assert await webhooks.requeue_stale() == 0


async def test_an_event_naming_no_customer_fails_and_can_be_replayed(http: Any) -> None:
    evt = event("invoice.paid", {"id": "in_11", "object": "invoice", "status": "paid"})
    await post_event(http, evt)
    await process_pending()
    row = await StripeEvent.get()
    assert row.status == EventStatus.FAILED and "No user" in row.last_error
    assert await webhooks.replay(evt["id"]) == EventStatus.FAILED


async def test_stripe_unreachable_leaves_the_event_pending(
    vip_plans: Any, stripe_up: Any, request: pytest.FixtureRequest
) -> None:
    _user, _customer, sub = await _member()
    evt = event("customer.subscription.updated", sub)
    row = await StripeEvent.create(
        stripe_id=evt["id"], type=evt["type"], created=datetime.now(UTC), payload=json.dumps(evt)
    )
    request.getfixturevalue("stripe_down")
    from ncm.billing.errors import PaymentProviderUnavailable

    with pytest.raises(PaymentProviderUnavailable):
        await webhooks.process(row.id)
    await row.refresh_from_db()
    assert (row.status, row.attempts) == (EventStatus.PENDING, 1)
    assert not await Subscription.exists()  # nothing half-written
    stripe_up()
    assert await webhooks.process(row.id) == EventStatus.PROCESSED
    assert await Subscription.filter(stripe_id=sub["id"]).exists()


# the property: order, duplicates and concurrency do not change the final state ----------


def _universe(customer: str, sub: dict[str, Any], user_id: int) -> list[dict[str, Any]]:
    t = 1_760_000_000
    sid = sub["id"]
    inv = [
        invoice(
            f"in_p{i}",
            customer=customer,
            subscription=sid,
            start=t + i * 30 * DAY,
            end=t + (i + 1) * 30 * DAY,
            payment_intent=f"pi_p{i}",
            reason="subscription_create" if i == 0 else "subscription_cycle",
        )
        for i in range(3)
    ]
    failed = dict(
        invoice(
            "in_p3",
            customer=customer,
            subscription=sid,
            start=t + 90 * DAY,
            end=t + 120 * DAY,
            status="open",
        )
    )
    session = {
        "id": "cs_p",
        "customer": customer,
        "client_reference_id": str(user_id),
        "subscription": sid,
    }
    return [
        event("checkout.session.completed", session, event_id="evt_p_cs", created=t),
        event("customer.subscription.created", sub, event_id="evt_p_sc", created=t),
        event("customer.subscription.updated", sub, event_id="evt_p_su", created=t + 5),
        *[
            event("invoice.paid", i, event_id=f"evt_p_in{n}", created=t + n * 30 * DAY)
            for n, i in enumerate(inv)
        ],
        event("invoice.payment_failed", failed, event_id="evt_p_fail", created=t + 90 * DAY),
        event(
            "charge.refunded",
            charge(
                "ch_p1",
                customer=customer,
                payment_intent="pi_p1",
                amount=1500,
                refunded_amount=500,
                created=t + 40 * DAY,
            ),
            event_id="evt_p_r1",
            created=t + 40 * DAY,
        ),
        event(
            "charge.refunded",
            charge(
                "ch_p1",
                customer=customer,
                payment_intent="pi_p1",
                amount=1500,
                refunded_amount=1500,
                created=t + 41 * DAY,
            ),
            event_id="evt_p_r2",
            created=t + 41 * DAY,
        ),
    ]


async def _snapshot(user_id: int) -> Any:
    periods = (
        await MembershipPeriod.filter(user_id=user_id)
        .order_by("reference")
        .values_list(
            "reference", "source", "starts_at", "ends_at", "amount", "refunded", "revoked_at"
        )
    )
    subs = (
        await Subscription.all()
        .order_by("stripe_id")
        .values_list(
            "stripe_id", "status", "stripe_plan_id", "cancel_at_period_end", "current_period_end"
        )
    )
    refunds = await ChargeRefund.all().values_list(
        "charge_ref", "amount_refunded", "fully_refunded"
    )
    t = datetime.fromtimestamp(1_760_000_000, UTC)
    ents = [await entitlement(user_id, t + timedelta(days=d)) for d in (1, 35, 61, 91, 98)]
    return periods, subs, refunds, ents


async def _reset_billing() -> None:
    await StripeEvent.all().delete()
    await MembershipPeriod.all().delete()
    await ChargeRefund.all().delete()
    await Subscription.all().delete()


async def _deliver(deliveries: list[dict[str, Any]], concurrently: bool) -> None:
    received = []
    for evt in deliveries:
        payload = json.dumps(evt).encode()
        received.append(await webhooks.receive(payload, sign(payload.decode())))
    ids = sorted({r.event_id for r in received})
    if concurrently:
        await asyncio.gather(*(webhooks.process(r.event_id) for r in received))
    else:
        for event_id in ids:
            await webhooks.process(event_id)
    from ncm.kit import jobs

    await jobs.drain()


@pytest.fixture
async def property_member(vip_plans: Any) -> tuple[Any, list[dict[str, Any]], Any]:
    user, customer, sub = await _member()
    universe = _universe(customer, sub, user.id)
    await _deliver(universe, concurrently=False)
    expected = await _snapshot(user.id)
    assert not await StripeEvent.exclude(status=EventStatus.PROCESSED).exists()
    periods, subs, refunds, _ = expected  # the state under test is not trivial:
    assert {p[1] for p in periods} == {"PAID", "GRACE"} and len(periods) == 4
    assert [p[0] for p in periods if p[6] is not None] == ["in_p1"]  # fully refunded
    assert len(subs) == 1 and refunds == [("pi_p1", 1500, True)]
    return user, universe, expected


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_duplicated_shuffled_concurrent_events_end_in_one_state(
    property_member: tuple[Any, list[dict[str, Any]], Any], data: st.DataObject
) -> None:
    user, universe, expected = property_member
    deliveries = data.draw(
        st.lists(st.sampled_from(universe), min_size=len(universe), max_size=2 * len(universe))
    )
    missing = [e for e in universe if e not in deliveries]
    deliveries = data.draw(st.permutations(deliveries + missing))  # all of them, in any order
    await _reset_billing()
    await _deliver(deliveries, concurrently=True)
    assert await _snapshot(user.id) == expected
    assert await StripeEvent.filter(status=EventStatus.PROCESSED).count() == len(universe)


async def test_stale_pending_events_are_requeued_and_processed(http: Any, vip_plans: Any) -> None:
    _user, customer, sub = await _member()
    now = int(time.time())
    evt = event(
        "invoice.paid",
        invoice("in_late", customer=customer, subscription=sub["id"], start=now, end=now + DAY),
    )
    payload = json.dumps(evt)
    from ncm.billing.models import StripeEvent as Row

    await Row.create(
        stripe_id=evt["id"], type=evt["type"], created=datetime.now(UTC), payload=payload
    )  # as if the enqueue after the insert had been lost
    await Row.filter(stripe_id=evt["id"]).update(received_at=datetime.now(UTC) - timedelta(hours=1))
    assert await webhooks.requeue_stale() == 1
    await process_pending()
    assert (await Row.get()).status == EventStatus.PROCESSED
    assert await MembershipPeriod.filter(reference="in_late").exists()
    assert await webhooks.requeue_stale() == 0


async def test_odd_headers_and_events_are_refused_or_failed_never_errors(http: Any) -> None:
    payload = json.dumps(event("invoice.paid", {"id": "in_x"}))
    odd_header = await http.post(
        "/webhooks/stripe",
        content=payload,
        headers={"stripe-signature": f"t={int(time.time())},v1=é".encode()},
    )
    long_id = await post_event(http, event("invoice.paid", {"id": "in_x"}, event_id="e" * 300))
    assert [odd_header.status_code, long_id.status_code] == [400, 400]
    # Signed, but with an absurd timestamp and no data: recorded, then FAILED, not stuck.
    odd = event("invoice.paid", {"id": "in_x"}, event_id="evt_odd")
    odd["created"], odd["data"] = 10**20, None
    accepted = await post_event(http, odd)
    assert accepted.status_code == 200
    await process_pending()
    row = await StripeEvent.get(stripe_id="evt_odd")
    assert row.status == EventStatus.FAILED and row.attempts == 1


async def test_grace_runs_to_its_end_even_when_stripe_gives_up_first(
    http: Any, vip_plans: Any
) -> None:
    """The rule (docs/billing.md): a failed renewal's GRACE window lasts its 7 days; the
    membership lapses when it ends, even if ``customer.subscription.deleted`` comes first."""
    user, customer, sub = await _member()
    t = int(time.time()) - 32 * DAY
    paid = invoice(
        "in_g1",
        customer=customer,
        subscription=sub["id"],
        start=t,
        end=t + 30 * DAY,
        reason="subscription_create",
    )
    failed = invoice(
        "in_g2",
        customer=customer,
        subscription=sub["id"],
        start=t + 30 * DAY,
        end=t + 60 * DAY,
        status="open",
    )
    await post_event(http, event("invoice.paid", paid))
    await post_event(http, event("invoice.payment_failed", failed))
    await process_pending()
    grace = await MembershipPeriod.get(reference="grace:in_g2")
    # Stripe gives up on the renewal now (day 2 of the grace window) and deletes it.
    ended = await gateway().cancel_subscription(sub["id"], f"give-up:{sub['id']}")
    await post_event(http, event("customer.subscription.deleted", ended))
    await process_pending()
    assert (await Subscription.get(stripe_id=sub["id"])).status == "canceled"
    await grace.refresh_from_db()
    assert grace.ends_at - grace.starts_at == timedelta(days=7)  # not cut short
    now = datetime.now(UTC)
    e = await entitlement(user.id, now)
    assert e.active and e.source == "GRACE" and e.active_until == grace.ends_at
    assert not (await entitlement(user.id, grace.ends_at)).active
    # The paid month before it is untouched (it ended before the subscription did).
    assert (await MembershipPeriod.get(reference="in_g1")).ends_at == datetime.fromtimestamp(
        t + 30 * DAY, UTC
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "evt_\x00abc"), ("type", "invoice.\x00paid"), ("id", "evt abc"), ("type", "")],
)
async def test_a_signed_event_with_nul_or_junk_in_id_or_type_is_400(
    http: Any, field: str, value: str
) -> None:
    evt = event("invoice.paid", {"id": "in_x"})
    evt[field] = value
    response = await post_event(http, evt)
    assert response.status_code == 400, response.text
    assert not await StripeEvent.exists()
