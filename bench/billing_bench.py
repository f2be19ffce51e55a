"""Issue #6 targets: webhook acknowledgement latency and event processing throughput.

``python -m bench.billing_bench [--events 10000] [--users 100] [--concurrency 8]``

1. Creates (drops first) the PostgreSQL database ``ncm_bench_billing``, claims an empty
   Redis database, starts localstripe (tests/billing/localstripe_runner.py) and syncs the
   plans; creates ``--users`` users, each with a Stripe customer and a subscription.
2. Builds ``--events`` distinct Stripe-shaped events (subscription created/updated, paid
   invoices, failed renewals, partial and full refunds) and delivers them with 10 % more
   redeliveries, shuffled, signed as Stripe signs them.
3. Serves the app (``ncm serve``, one process) and POSTs every delivery to
   ``/webhooks/stripe`` with ``--concurrency`` connections: acknowledgement latency p50/p99
   (verify + insert + wake the drain; no worker runs meanwhile, processing is deferred).
4. Runs one arq worker (burst) over the queue: events/s (events the worker processed over
   its run time, however many jobs carried them: one drain runs batches of 100), then checks
   the final state against what the events imply (every period, refund and subscription).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import HOST, ROOT, redis_database

DB_NAME = "ncm_bench_billing"
SECRET = "whsec_bench_billing"
DAY = 86400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _sign(payload: str) -> str:
    t = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


async def _create_database() -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await conn.close()


def _event(evt_id: str, type_: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": evt_id,
        "object": "event",
        "type": type_,
        "created": created,
        "livemode": False,
        "data": {"object": obj},
    }


def _invoice(
    inv_id: str, customer: str, sub: str, start: int, status: str, reason: str
) -> dict[str, Any]:
    return {
        "id": inv_id,
        "object": "invoice",
        "customer": customer,
        "subscription": sub,
        "status": status,
        "billing_reason": reason,
        "amount_paid": 1500 if status == "paid" else 0,
        "currency": "cny",
        "tax": 0,
        "total_discount_amounts": [],
        "payment_intent": f"pi_{inv_id}",
        "lines": {
            "data": [{"proration": False, "period": {"start": start, "end": start + 30 * DAY}}]
        },
    }


def build_events(
    members: list[tuple[int, str, dict[str, Any]]], total: int, rng: random.Random
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``total`` distinct events over the members, delivered with 10 % redelivered on top,
    and the final state they imply."""
    t0 = int(time.time()) - 400 * DAY
    distinct_target = total
    per_member = max(4, distinct_target // len(members))
    events: list[dict[str, Any]] = []
    expected: dict[str, Any] = {"paid": set(), "grace": set(), "revoked": set(), "partial": {}}
    for user_id, customer, sub in members:
        sid = sub["id"]
        events.append(_event(f"evt_{sid}_c", "customer.subscription.created", sub, t0))
        for n in range(per_member - 1):
            kind = n % 8
            created = t0 + n * DAY
            key = f"{sid}_{n}"
            if kind in (0, 1, 2, 3):
                inv = _invoice(
                    f"in_{key}", customer, sid, t0 + n * 30 * DAY, "paid", "subscription_cycle"
                )
                events.append(_event(f"evt_{key}", "invoice.paid", inv, created))
                expected["paid"].add((user_id, inv["id"]))
            elif kind == 4:
                events.append(_event(f"evt_{key}", "customer.subscription.updated", sub, created))
            elif kind == 5:
                inv = _invoice(
                    f"in_{key}", customer, sid, t0 + n * 30 * DAY, "open", "subscription_cycle"
                )
                events.append(_event(f"evt_{key}", "invoice.payment_failed", inv, created))
                expected["grace"].add((user_id, f"grace:{inv['id']}"))
            else:  # refund the invoice of n-4 (kind 2 or 3): partial, then full for kind 7
                target = f"in_{sid}_{n - 4}"
                full = kind == 7
                charge = {
                    "id": f"ch_{target}",
                    "object": "charge",
                    "customer": customer,
                    "payment_intent": f"pi_{target}",
                    "amount": 1500,
                    "amount_refunded": 1500 if full else 500,
                    "refunded": full,
                    "currency": "cny",
                    "created": created,
                    "refunds": {"data": []},
                }
                events.append(_event(f"evt_{key}", "charge.refunded", charge, created))
                if full:
                    expected["revoked"].add((user_id, target))
                else:
                    expected["partial"][(user_id, target)] = 500
    events = events[:distinct_target] if len(events) > distinct_target else events
    kept = {e["id"] for e in events}
    _prune(expected, kept, events)
    deliveries = events + [rng.choice(events) for _ in range(len(events) // 10)]
    rng.shuffle(deliveries)
    return deliveries, expected


def _prune(expected: dict[str, Any], kept: set[str], events: list[dict[str, Any]]) -> None:
    """Drop expectations of events cut by the ``total`` limit."""
    invoices = {e["data"]["object"]["id"] for e in events if e["type"].startswith("invoice.")}
    charges = {
        e["data"]["object"]["payment_intent"]: e for e in events if e["type"] == "charge.refunded"
    }
    expected["paid"] = {p for p in expected["paid"] if p[1] in invoices}
    expected["grace"] = {g for g in expected["grace"] if g[1].removeprefix("grace:") in invoices}
    expected["revoked"] = {
        r for r in expected["revoked"] if r[1] in invoices and f"pi_{r[1]}" in charges
    }
    expected["partial"] = {
        k: v for k, v in expected["partial"].items() if k[1] in invoices and f"pi_{k[1]}" in charges
    }
    expected["events"] = len(kept)


async def setup(users: int) -> list[tuple[int, str, dict[str, Any]]]:
    from ncm.accounts.models import User
    from ncm.billing import plans
    from ncm.billing.models import Customer
    from ncm.billing.stripe import gateway

    await plans.ensure_default_plans()
    await plans.sync()
    await User.bulk_create(
        [
            User(
                email=f"bench{i}@example.com",
                handle=f"bench{i}",
                display_name=f"bench {i}",
                password_hash="x",
            )
            for i in range(users)
        ]
    )
    stripe = gateway()
    members = []
    for user in await User.all().order_by("id"):
        cus = await stripe.create_customer(
            user_id=user.id, email=user.email, name=user.handle, key=f"bench-c{user.id}"
        )
        await Customer.create(user_id=user.id, stripe_id=cus["id"])
        await stripe.attach_payment_method(cus["id"], "pm_card_visa", f"bench-pm{user.id}")
        sub = await stripe.create_subscription(
            customer=cus["id"],
            plan_id="ncm_vip_monthly_1500_cny",
            user_id=user.id,
            key=f"bench-s{user.id}",
        )
        members.append((user.id, cus["id"], sub))
    return members


async def post_all(url: str, deliveries: list[dict[str, Any]], concurrency: int) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[str] = asyncio.Queue()
    for d in deliveries:
        queue.put_nowait(json.dumps(d))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            while not queue.empty():
                payload = queue.get_nowait()
                start = time.perf_counter()
                response = await http.post(
                    "/webhooks/stripe",
                    content=payload,
                    headers={
                        "stripe-signature": _sign(payload),
                        "content-type": "application/json",
                    },
                )
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


async def process_with_one_worker() -> tuple[float, int]:
    from arq.worker import Worker

    from ncm.kit.redis import get_redis
    from ncm.worker import WorkerSettings

    redis = await get_redis()
    assert redis is not None
    worker = Worker(
        functions=WorkerSettings.functions,
        redis_pool=redis,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
    )
    start = time.perf_counter()
    await worker.main()
    return time.perf_counter() - start, worker.jobs_complete


async def _processed() -> int:
    from ncm.billing.models import EventStatus, StripeEvent

    return await StripeEvent.filter(status=EventStatus.PROCESSED).count()


async def check(expected: dict[str, Any], users: int) -> list[str]:
    from ncm.billing.models import EventStatus, MembershipPeriod, StripeEvent, Subscription

    problems = []
    processed = await StripeEvent.filter(status=EventStatus.PROCESSED).count()
    if processed != expected["events"]:
        problems.append(f"processed {processed} events, expected {expected['events']}")
    rows = await MembershipPeriod.all().values(
        "user_id", "reference", "source", "refunded", "revoked_at"
    )
    paid = {(r["user_id"], r["reference"]) for r in rows if r["source"] == "PAID"}
    grace = {(r["user_id"], r["reference"]) for r in rows if r["source"] == "GRACE"}
    revoked = {(r["user_id"], r["reference"]) for r in rows if r["revoked_at"] is not None}
    partial = {
        (r["user_id"], r["reference"]): r["refunded"]
        for r in rows
        if r["refunded"] and r["revoked_at"] is None
    }
    for name, got in (("paid", paid), ("grace", grace), ("revoked", revoked), ("partial", partial)):
        if got != expected[name]:
            problems.append(f"{name}: {len(got)} rows, expected {len(expected[name])}")
    subs = await Subscription.filter(status="active").count()
    if subs != users:
        problems.append(f"{subs} active subscriptions, expected {users}")
    return problems


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(args: argparse.Namespace, redis_url: str, stripe_url: str) -> dict[str, Any]:
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade
    from ncm.kit.redis import close_redis

    await _create_database()
    await upgrade()
    await init_db()
    try:
        members = await setup(args.users)
        deliveries, expected = build_events(members, args.events, random.Random(6))
        port = _free_port()
        server = subprocess.Popen(  # noqa: ASYNC220 (once, before timing)
            [sys.executable, "-m", "ncm.cli", "serve", "--host", HOST, "--port", str(port)],
            env=os.environ.copy(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_http(f"http://{HOST}:{port}/healthz", server)
            started = time.perf_counter()
            latencies = await post_all(f"http://{HOST}:{port}", deliveries, args.concurrency)
            ack_seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(10)
        seconds, jobs = await process_with_one_worker()
        processed = await _processed()
        problems = await check(expected, args.users)
    finally:
        await close_redis()
        await close_db()
    return {
        "deliveries": len(deliveries),
        "distinct_events": expected["events"],
        "ack_p50_ms": round(pct(latencies, 0.50), 2),
        "ack_p99_ms": round(pct(latencies, 0.99), 2),
        "ack_max_ms": round(max(latencies) * 1000, 2),
        "ack_requests_per_s": round(len(deliveries) / ack_seconds, 1),
        "worker_jobs": jobs,
        "worker_seconds": round(seconds, 2),
        "events_processed": processed,
        "events_per_s": round(processed / seconds, 1),
        "final_state_exact": not problems,
        "problems": problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    runner = ROOT / "tests" / "billing" / "localstripe_runner.py"
    ls_port = _free_port()
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / "bench-localstripe.log", "wb")  # noqa: SIM115
    stripe_proc = subprocess.Popen(
        [sys.executable, str(runner), "--port", str(ls_port), "--from-scratch"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        stripe_url = f"http://{HOST}:{ls_port}"
        _wait_http(f"{stripe_url}/v1/plans", stripe_proc)
        with redis_database("auto") as redis_url:
            assert redis_url is not None
            os.environ.update(
                {
                    "NCM_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}?maxsize=20",
                    "NCM_REDIS_URL": redis_url,
                    "NCM_STRIPE_API_KEY": "sk_test_bench",
                    "NCM_STRIPE_API_BASE": stripe_url,
                    "NCM_STRIPE_WEBHOOK_SECRET": SECRET,
                    "NCM_LOG_LEVEL": "WARNING",
                    "NCM_LOG_JSON": "0",
                }
            )
            from ncm.config import reset_settings

            reset_settings()
            result = asyncio.run(run(args, redis_url, stripe_url))
    finally:
        stripe_proc.terminate()
        stripe_proc.wait(10)
        log.close()
    print(json.dumps(result, indent=2))
    ok = result["ack_p99_ms"] < 30 and result["events_per_s"] >= 200 and result["final_state_exact"]
    print("targets met" if ok else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
