"""The webhook drain: events applied in batches give the ledger one-by-one processing gives,
whatever the duplicates and the order; two drains at once never apply an event twice; an
event that fails inside a batch is recorded alone and the others are applied."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest

from ncm.billing import webhooks
from ncm.billing.models import Customer, EventStatus, MembershipPeriod, StripeEvent
from tests.billing.helpers import event, invoice, sign
from tests.billing.test_webhooks import DAY, _member, _reset_billing, _snapshot, _universe


async def _receive(deliveries: list[dict[str, Any]]) -> None:
    """Record the deliveries as the endpoint does, without waking a drain (the test runs
    the batches itself)."""
    for evt in deliveries:
        payload = json.dumps(evt)
        await webhooks.receive(payload.encode(), sign(payload))


@pytest.fixture
def no_wake(monkeypatch: pytest.MonkeyPatch) -> None:
    async def asleep(*, now: bool = False) -> None:
        return None

    monkeypatch.setattr(webhooks, "wake_drain", asleep)


def _paid(name: str, customer: str, sub_id: str, day: int) -> dict[str, Any]:
    """``invoice.paid`` (event ``evt_<name>``) of invoice ``in_<name>``: a renewal paying
    for the ``day``-th day from now."""
    start = int(time.time()) + day * DAY
    inv = invoice(
        f"in_{name}", customer=customer, subscription=sub_id, start=start, end=start + DAY
    )
    return event("invoice.paid", inv, event_id=f"evt_{name}")


OWN = ("evt_p", "in_p", "pi_p", "ch_p", "cs_p", "re_ch_p", "il_in_p")


def _renamed(value: Any, n: int) -> Any:
    """``value`` with the universe's own ids made member ``n``'s (``in_p1`` -> ``in_2p1``)."""
    if isinstance(value, dict):
        return {k: _renamed(v, n) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, n) for v in value]
    if isinstance(value, str) and value.startswith(OWN):
        head, _, tail = value.rpartition("_p")
        return f"{head}_{n}p{tail}"
    return value


async def _one_by_one(user_id: int, universe: list[dict[str, Any]]) -> Any:
    await _receive(universe)
    for row in await StripeEvent.all().order_by("id"):
        assert await webhooks.process(row.id) == EventStatus.PROCESSED
    return await _snapshot(user_id)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_with_duplicates_in_any_order_ends_as_one_by_one(
    vip_plans: Any, no_wake: None, seed: int
) -> None:
    user, customer, sub = await _member()
    universe = _universe(customer, sub, user.id)
    expected = await _one_by_one(user.id, universe)
    await _reset_billing()

    rng = random.Random(seed)
    deliveries = universe + [rng.choice(universe) for _ in range(len(universe))]
    rng.shuffle(deliveries)
    await _receive(deliveries)
    batch = await webhooks.process_batch()

    assert batch.claimed == len(universe)  # one batch, every distinct event once
    assert set(batch.statuses.values()) == {EventStatus.PROCESSED}
    assert await _snapshot(user.id) == expected
    assert await StripeEvent.filter(status=EventStatus.PROCESSED, attempts=1).count() == len(
        universe
    )
    assert (await webhooks.process_batch()).claimed == 0  # nothing left pending


async def test_two_drains_at_once_never_apply_an_event_twice(
    vip_plans: Any, no_wake: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [await _member(handle) for handle in ("alice", "bob", "carol")]
    universes = [_universe(customer, sub, user.id) for user, customer, sub in members]
    # the universe names its events, invoices and charges alike: give each member its own
    deliveries = [_renamed(evt, n) for n, universe in enumerate(universes) for evt in universe]
    applied: list[str] = []
    for type_, handler in list(webhooks.HANDLERS.items()):

        async def counted(conn: Any, obj: dict[str, Any], handler: Any = handler) -> None:
            await handler(conn, obj)
            applied.append(str(obj.get("id")))
            await asyncio.sleep(0)  # let the other drain run between events

        monkeypatch.setitem(webhooks.HANDLERS, type_, counted)
    monkeypatch.setattr(webhooks, "BATCH", 4)
    await _receive(deliveries + deliveries[::3])

    claimed = await asyncio.gather(webhooks.drain(), webhooks.drain())

    assert sum(claimed) == len(deliveries)  # each event claimed by one drain only
    assert await StripeEvent.filter(status=EventStatus.PROCESSED, attempts=1).count() == len(
        deliveries
    )
    assert not await StripeEvent.exclude(status=EventStatus.PROCESSED).exists()
    # every event's handler ran once (a few objects are named by two events)
    assert len(applied) == len(deliveries)
    for (user, _customer, _sub), n in zip(members, range(3), strict=True):
        periods = await MembershipPeriod.filter(user_id=user.id).values_list("reference", flat=True)
        assert sorted(periods) == sorted([f"in_{n}p0", f"in_{n}p1", f"in_{n}p2", f"grace:in_{n}p3"])


async def test_a_failing_event_leaves_the_rest_of_its_batch_applied(
    vip_plans: Any, no_wake: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, customer, sub = await _member()

    def paid(n: int, customer: str = customer) -> dict[str, Any]:
        return _paid(f"b{n}", customer, sub["id"], n)

    broken = paid(2)
    broken["data"]["object"]["customer"] = None  # names no customer and no user: FAILED
    poisoned = paid(4)  # its handler breaks the transaction (PostgreSQL aborts it)
    waiting = paid(5, customer="cus_not_linked_yet")  # paid before linked: WAITING
    deliveries = [paid(1), broken, paid(3), poisoned, waiting, paid(6)]
    on_invoice_paid = webhooks.HANDLERS["invoice.paid"]

    async def poison(conn: Any, obj: dict[str, Any]) -> None:
        if obj["id"] == "in_b4":  # a duplicate unique key, inside the batch's transaction
            first = await StripeEvent.filter(stripe_id="evt_b1").using_db(conn).get()
            await StripeEvent.create(
                stripe_id=first.stripe_id,
                type=first.type,
                created=first.created,
                payload="{}",
                using_db=conn,
            )
        await on_invoice_paid(conn, obj)

    monkeypatch.setitem(webhooks.HANDLERS, "invoice.paid", poison)
    await _receive(deliveries)

    batch = await webhooks.process_batch()

    by_id = {row.stripe_id: row for row in await StripeEvent.all()}
    assert batch.claimed == len(deliveries)
    assert {k: v.status for k, v in by_id.items()} == {
        "evt_b1": EventStatus.PROCESSED,
        "evt_b2": EventStatus.FAILED,
        "evt_b3": EventStatus.PROCESSED,
        "evt_b4": EventStatus.FAILED,
        "evt_b5": EventStatus.WAITING,
        "evt_b6": EventStatus.PROCESSED,
    }
    assert "No user" in by_id["evt_b2"].last_error
    assert "IntegrityError" in by_id["evt_b4"].last_error
    assert by_id["evt_b5"].waiting_on == "cus_not_linked_yet"
    assert all(row.attempts == 1 for row in by_id.values())
    periods = await MembershipPeriod.filter(user_id=user.id).values_list("reference", flat=True)
    assert sorted(periods) == ["in_b1", "in_b3", "in_b6"]  # the failures wrote nothing

    # the link appears (here: an operator): the waiting event is retried and applied
    monkeypatch.setitem(webhooks.HANDLERS, "invoice.paid", on_invoice_paid)
    await Customer.filter(user_id=user.id).delete()
    await Customer.create(user_id=user.id, stripe_id="cus_not_linked_yet")
    assert await webhooks.release_waiting(["cus_not_linked_yet"]) == 1
    assert (await webhooks.process_batch()).statuses == {by_id["evt_b5"].id: EventStatus.PROCESSED}
    assert await MembershipPeriod.filter(user_id=user.id, reference="in_b5").exists()


async def test_stripe_unavailable_stops_the_batch_at_that_event(
    vip_plans: Any, no_wake: None, stripe_up: Any, request: pytest.FixtureRequest
) -> None:
    user, customer, sub = await _member()
    deliveries = [_paid(f"u{n}", customer, sub["id"], n) for n in range(2)]
    deliveries.insert(1, event("customer.subscription.updated", sub, event_id="evt_u_sub"))
    await _receive(deliveries)
    request.getfixturevalue("stripe_down")

    batch = await webhooks.process_batch()

    assert batch.unavailable is not None
    rows = {r.stripe_id: (r.status, r.attempts) for r in await StripeEvent.all()}
    assert rows == {
        "evt_u0": (EventStatus.PROCESSED, 1),
        "evt_u_sub": (EventStatus.PENDING, 1),  # retried later, as one event's job was
        "evt_u1": (EventStatus.PENDING, 0),  # not tried: the next run takes it
    }
    stripe_up()
    assert await webhooks.drain() == 2
    assert not await StripeEvent.exclude(status=EventStatus.PROCESSED).exists()
    assert await MembershipPeriod.filter(user_id=user.id, reference="in_u1").exists()


async def test_the_endpoint_wakes_one_drain_for_a_burst(http: Any, vip_plans: Any) -> None:
    """Deliveries wake the drain (``process_stripe_events``), not a job per event; with
    Redis, a burst leaves one run queued; the drain applies them all."""
    from ncm.kit import jobs
    from ncm.kit.redis import get_redis
    from tests.billing.helpers import post_event, process_pending

    user, customer, sub = await _member()
    calls: list[tuple[str, str]] = []
    wake, enqueue = jobs.wake, jobs.enqueue

    async def spy_wake(func: Any, **kwargs: Any) -> bool:
        calls.append(("wake", func.__name__))
        return await wake(func, **kwargs)

    async def spy_enqueue(func: Any, *args: Any, **kwargs: Any) -> str:
        calls.append(("enqueue", func if isinstance(func, str) else func.__name__))
        return await enqueue(func, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jobs, "wake", spy_wake)
        mp.setattr(jobs, "enqueue", spy_enqueue)
        for n in range(5):
            delivery = _paid(f"w{n}", customer, sub["id"], n)
            assert (await post_event(http, delivery)).status_code == 200
        redis = await get_redis()
        if redis is not None:
            from arq.constants import default_queue_name

            assert await redis.zcard(default_queue_name) == 1
        await process_pending()
    assert calls == [("wake", "process_stripe_events")] * 5
    assert not await StripeEvent.exclude(status=EventStatus.PROCESSED).exists()
    assert await MembershipPeriod.filter(user_id=user.id).count() == 5
