"""Issue #14 targets: a compensation campaign for many users.

``python -m bench.compensation_bench [--users 1000000] [--chunk 50000] [--concurrency 2]
[--database ncm_bench_compensation] [--max-wal-size 8GB|keep]``

1. Creates (drops first) the PostgreSQL database ``--database``, migrates it and seeds
   ``--users`` users set-based (one ``INSERT ... SELECT generate_series``, not the ORM);
   10 % of them get a paid period, so the ledger has members.
2. Raises the server's ``max_wal_size`` to ``--max-wal-size`` for the phases below and puts
   it back afterwards, also on failure (``docs/scaling.md``, "Checkpoints during bulk work");
   each phase starts after a ``CHECKPOINT`` and prints its WAL and the checkpoints started
   during it (any database's: the server is shared).
3. Creates an ``--audience all`` campaign (claimable from yesterday, auto-apply) and runs its
   chunks (the same ``service.grant_chunk`` the arq job runs) ``--concurrency`` at a time:
   grants/s end to end (plan, chunk rows, inserts, the DONE check).
4. Re-runs every chunk (``force``): the insert skips the users granted already (one
   anti-join) and inserts nothing; the time it takes.
5. Auto-apply: every chunk's grants into the ledger (``service.apply_chunk``: insert the
   COMPENSATION periods, plan Stripe moves), rows/s.
6. Checks: exactly one grant and one ledger period per user; prints the figures and a
   linear projection to 200M users.

``--stripe N`` (``--users 0`` to skip the above) measures the Stripe ``trial_end`` moves for
N auto-renewing subscribers against localstripe (``tests/billing/localstripe_runner.py``) in
the database ``ncm_bench_compensation_stripe``: N customers with a monthly subscription are
made in localstripe, mirrored in ``billing_subscriptions``, granted and auto-applied (one
Stripe move planned each); then the one mover (``service.move_next_charges``, unpaced)
makes every move through the wrapper (a read and an update each), the moved ``trial_end`` is
checked on every subscription, and the time at Stripe's documented rate limits is computed.

The machine is shared (2 cores, other benchmarks and test suites run at the same time):
the figures say what this run measured, not what a dedicated database server does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

DB_NAME = "ncm_bench_compensation"
PM = "pm_card_visa"


async def _create_database() -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await conn.close()


async def _seed(users: int) -> float:
    from ncm.kit.sql import fetch

    started = time.perf_counter()
    step = 1_000_000
    for lo in range(1, users + 1, step):
        hi = min(users, lo + step - 1)
        await fetch(
            "INSERT INTO users (email, handle, password_hash, display_name, role,"
            " follower_count, following_count, search_text, created_at, updated_at)"
            " SELECT 'u' || g || '@example.com', 'u' || g, 'x', '', 'LISTENER', 0, 0, '',"
            " now(), now() FROM generate_series($1::bigint, $2::bigint) AS g",
            [lo, hi],
        )
    await fetch(
        "INSERT INTO membership_periods (user_id, source, reference, tier, starts_at, ends_at,"
        " amount, currency, discount, tax, refunded, note, created_at)"
        " SELECT id, 'PAID', 'in_' || id, 'VIP', now() - interval '10 days',"
        " now() + interval '20 days', 1500, 'CNY', 0, 0, 0, '', now() FROM users"
        " WHERE id % 10 = 0",
        [],
    )
    await fetch("ANALYZE", [])
    return time.perf_counter() - started


WAL_ROOM = "8GB"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@asynccontextmanager
async def _wal_room(size: str) -> AsyncIterator[None]:
    """``max_wal_size`` raised to ``size`` for the run (``ALTER SYSTEM`` and a reload; the
    setting is the server's, so every database on it gets the room meanwhile), and put back
    as it was afterwards, also when the run fails: to the value ``postgresql.auto.conf`` had,
    or reset to ``postgresql.conf``'s. With the default 1 GB a million-row phase writes more
    WAL than that and a checkpoint lands in the middle of it (``docs/scaling.md``)."""
    import asyncpg

    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        before = await conn.fetchval("SELECT current_setting('max_wal_size')")
        auto = await conn.fetchval(
            "SELECT setting FROM pg_file_settings WHERE name = 'max_wal_size'"
            " AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1"
        )
        await conn.execute(f"ALTER SYSTEM SET max_wal_size = '{size}'")
        await conn.execute("SELECT pg_reload_conf()")
        print(f"max_wal_size {before} -> {size} for the run")
        try:
            yield
        finally:
            if auto is None:
                await conn.execute("ALTER SYSTEM RESET max_wal_size")
            else:
                await conn.execute(f"ALTER SYSTEM SET max_wal_size = '{auto}'")
            await conn.execute("SELECT pg_reload_conf()")
            print(f"max_wal_size back to {before}")
    finally:
        await conn.close()


COUNTED = "SELECT checkpoints_timed + checkpoints_req AS n FROM pg_stat_bgwriter"


async def _checkpoints() -> int:
    """Checkpoints so far, once the count stops moving: the checkpointer reports one after it
    has woken the backend that asked for it, so a fresh count may still lag by one."""
    from ncm.kit.sql import fetch

    n = int((await fetch(COUNTED, []))[0]["n"])
    for _ in range(15):
        await asyncio.sleep(0.2)
        again = int((await fetch(COUNTED, []))[0]["n"])
        if again == n:
            break
        n = again
    return n


async def _checkpoint() -> tuple[str, int]:
    """A ``CHECKPOINT`` (so a phase starts with no dirty pages of the last one and no
    checkpoint due), then the WAL position and the checkpoints counted so far."""
    from ncm.kit.sql import fetch

    await fetch("CHECKPOINT", [])
    n = await _checkpoints()
    rows = await fetch("SELECT pg_current_wal_lsn()::text AS lsn", [])
    return rows[0]["lsn"], n


async def _wal_since(mark: tuple[str, int]) -> str:
    """MB of WAL written and checkpoints started since ``mark`` (the whole server's; one
    still running at the end is counted only if the server has reported it)."""
    from ncm.kit.sql import fetch

    rows = await fetch(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST($1::text AS pg_lsn)) AS d", [mark[0]]
    )
    mb, checkpoints = float(rows[0]["d"]) / 1e6, await _checkpoints() - mark[1]
    return f"{mb:,.0f} MB of WAL, {checkpoints} checkpoint(s) started"


async def _each(work: list[int], concurrency: int, run: object) -> list[int]:
    sem = asyncio.Semaphore(concurrency)

    async def one(lo: int) -> int:
        async with sem:
            return await run(lo)  # type: ignore[operator]

    return list(await asyncio.gather(*(one(lo) for lo in work)))


async def main(args: argparse.Namespace) -> None:
    await _create_database()
    os.environ["NCM_DATABASE_URL"] = (
        f"postgres://postgres@127.0.0.1:5432/{DB_NAME}?maxsize={max(4, args.concurrency + 2)}"
    )
    os.environ.pop("NCM_REDIS_URL", None)
    os.environ.pop("NCM_STRIPE_API_KEY", None)
    from ncm.config import reset_settings

    reset_settings()
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade

    await upgrade()
    await init_db()
    try:
        seeded = await _seed(args.users)
        print(f"seeded {args.users:,} users (10% members) in {seeded:.1f}s")
        if args.max_wal_size == "keep":
            await _phases(args)
        else:
            async with _wal_room(args.max_wal_size):
                await _phases(args)
    finally:
        await close_db()


async def _phases(args: argparse.Namespace) -> None:
    """Grants, re-run, auto-apply: each timed after a ``CHECKPOINT``, with its WAL."""
    from ncm.compensation import service
    from ncm.compensation.models import CampaignChunk
    from ncm.kit.sql import fetch

    now = datetime.now(UTC)
    wal = await _checkpoint()
    started = time.perf_counter()
    p = await service.plan(
        days=7,
        audience="all",
        claimable_from=now - timedelta(days=1),
        claim_until=now + timedelta(days=30),
        chunk_size=args.chunk,
    )
    campaign = await service.create(p, by="bench")
    # execute() without Redis queues one in-process job; run the chunks here instead,
    # ``--concurrency`` at a time, as that many arq workers would.
    campaign.auto_apply = False  # measure apply on its own below
    lo_hi = await fetch("SELECT MIN(id) AS lo, MAX(id) AS hi FROM users", [])
    los = list(range(int(lo_hi[0]["lo"]), int(lo_hi[0]["hi"]) + 1, args.chunk))
    await CampaignChunk.bulk_create(
        [CampaignChunk(campaign_id=campaign.id, lo=lo, hi=lo + args.chunk) for lo in los]
    )
    await service.GrantCampaign.filter(id=campaign.id).update(
        status="RUNNING", chunks_total=len(los), executed_at=now, executed_by="bench"
    )
    inserted = await _each(los, args.concurrency, lambda lo: service.grant_chunk(campaign.id, lo))
    grant_s = time.perf_counter() - started
    status = await service.status(campaign.id)
    assert status.campaign.status == "DONE", status.campaign.status
    total = sum(inserted)
    print(
        f"grants: {total:,} in {grant_s:.2f}s = {total / grant_s:,.0f} rows/s "
        f"({len(los)} chunks of {args.chunk:,}, concurrency {args.concurrency});"
        f" {await _wal_since(wal)}"
    )

    wal = await _checkpoint()
    started = time.perf_counter()
    again = await _each(
        los, args.concurrency, lambda lo: service.grant_chunk(campaign.id, lo, force=True)
    )
    rerun_s = time.perf_counter() - started
    print(f"re-run: {sum(again)} inserted in {rerun_s:.2f}s; {await _wal_since(wal)}")

    await service.GrantCampaign.filter(id=campaign.id).update(auto_apply=True)
    wal = await _checkpoint()
    started = time.perf_counter()
    applied = await _each(los, args.concurrency, lambda lo: service.apply_chunk(campaign.id, lo))
    apply_s = time.perf_counter() - started
    print(
        f"auto-apply: {sum(applied):,} ledger periods in {apply_s:.2f}s = "
        f"{sum(applied) / apply_s:,.0f} rows/s; {await _wal_since(wal)}"
    )

    check = await fetch(
        "SELECT (SELECT count(*) FROM compensation_grants WHERE campaign_id = $1) AS grants,"
        " (SELECT count(DISTINCT user_id) FROM compensation_grants WHERE campaign_id = $2)"
        " AS users,"
        " (SELECT count(*) FROM membership_periods WHERE reference = $3) AS periods",
        [campaign.id, campaign.id, service.reference(campaign.id)],
    )
    row = check[0]
    assert row["grants"] == row["users"] == row["periods"] == args.users, row
    print(f"check: {row['grants']:,} grants, one per user, {row['periods']:,} periods")

    factor = 200_000_000 / args.users
    print(
        "projection to 200M users (linear, same machine): "
        f"grants {grant_s * factor / 60:.1f} min, re-run {rerun_s * factor / 60:.1f} min, "
        f"auto-apply {apply_s * factor / 60:.1f} min"
    )


async def stripe_moves(
    subscribers: int, stripe_url: str, distinct: int = 0, concurrency: int = 4
) -> None:
    """The ``--stripe`` part (see the module docstring)."""
    import httpx

    global DB_NAME
    DB_NAME = f"{DB_NAME}_stripe"
    await _create_database()
    os.environ["NCM_DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}?maxsize=20"
    os.environ.pop("NCM_REDIS_URL", None)
    os.environ["NCM_STRIPE_API_KEY"] = "sk_test_bench"
    os.environ["NCM_STRIPE_API_BASE"] = stripe_url
    from ncm.config import reset_settings

    reset_settings()
    from ncm.billing import plans
    from ncm.billing import stripe as stripe_wrapper
    from ncm.compensation import service
    from ncm.compensation.models import StripeShift
    from ncm.kit.db import close_db, init_db
    from ncm.kit.jobs import drain
    from ncm.kit.migrate import upgrade
    from ncm.kit.sql import fetch

    await upgrade()
    await init_db()
    try:
        await _seed(subscribers)
        await fetch("DELETE FROM membership_periods", [])  # the subscriptions' periods below
        await plans.ensure_default_plans()
        await plans.sync()
        plan = next(p for p in await plans.list_plans() if p.interval == "MONTH")
        gw = stripe_wrapper.gateway()
        user_ids = [int(r["id"]) for r in await fetch("SELECT id FROM users ORDER BY id", [])]
        subs: list[tuple[int, str, int, int]] = []
        sem = asyncio.Semaphore(concurrency)
        plan_id = plans.stripe_plan_id(plan)

        # the setup posts straight to localstripe (2 requests a subscriber, not the SDK's 4):
        # it is not what is measured
        async def subscribe(http: httpx.AsyncClient, user_id: int) -> None:
            async with sem:
                customer = await http.post(
                    "/v1/customers",
                    data={
                        "email": f"u{user_id}@x.test",
                        "payment_method": PM,
                        "invoice_settings[default_payment_method]": PM,
                    },
                )
                sub = await http.post(
                    "/v1/subscriptions",
                    data={"customer": customer.json()["id"], "items[0][plan]": plan_id},
                )
                body = sub.json()
                assert sub.status_code == 200, body
                subs.append(
                    (user_id, body["id"], body["current_period_start"], body["current_period_end"])
                )

        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=stripe_url, auth=("sk_test_bench", "")) as http:
            await asyncio.gather(*(subscribe(http, u) for u in user_ids[: distinct or None]))
        print(
            f"setup: {len(subs):,} localstripe subscriptions in"
            f" {time.perf_counter() - started:.1f}s"
        )
        made = list(subs)
        for i, user_id in enumerate(user_ids[len(made) :]):
            # --stripe-subscriptions M < N: the other users get their own mirror row whose
            # moves go to one of the M (localstripe keeps a moved subscription's period end,
            # so each move still finds it due; its cost does not depend on which one)
            _, _, start, end = made[i % len(made)]
            subs.append((user_id, f"{made[i % len(made)][1]}~{user_id}", start, end))
        await fetch(
            "INSERT INTO billing_subscriptions (user_id, stripe_id, stripe_plan_id, status,"
            " current_period_start, current_period_end, cancel_at_period_end, created_at,"
            " updated_at) SELECT u, s, $1, 'active', to_timestamp(a), to_timestamp(b), FALSE,"
            " now(), now() FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[])"
            " AS t(u, s, a, b)",
            [
                plans.stripe_plan_id(plan),
                [x[0] for x in subs],
                [x[1] for x in subs],
                [x[2] for x in subs],
                [x[3] for x in subs],
            ],
        )
        os.environ["NCM_STRIPE_API_KEY"] = ""  # no background mover while granting
        reset_settings()
        now = datetime.now(UTC)
        p = await service.plan(
            days=7,
            audience="all",
            claimable_from=now - timedelta(days=1),
            claim_until=now + timedelta(days=30),
            auto_apply=True,
        )
        campaign = await service.create(p, by="bench")
        await service.execute(campaign.id, by="bench")  # in-process: grants and applies
        await drain()
        await fetch(
            "UPDATE compensation_stripe_shifts SET subscription_ref ="
            " split_part(subscription_ref, '~', 1) WHERE subscription_ref LIKE '%~%'",
            [],
        )
        os.environ["NCM_STRIPE_API_KEY"] = "sk_test_bench"
        reset_settings()
        planned = await StripeShift.all().count()
        paced = min(250, planned // 2)
        started = time.perf_counter()
        first = await service.move_next_charges(rate=25, limit=paced)
        took = time.perf_counter() - started
        print(f"paced at 25 moves/s: {first} in {took:.1f}s = {paced / took:,.1f} moves/s")
        started = time.perf_counter()
        counts = await service.move_next_charges(rate=0)
        while counts["retry"] and await StripeShift.filter(status="PENDING").exists():
            more = await service.move_next_charges(rate=0)  # deferred: same subscription
            counts = {k: counts[k] + more[k] for k in counts}
        took = time.perf_counter() - started
        print(
            f"moves: {planned:,} planned, the rest unpaced: {counts} in {took:.1f}s ="
            f" {counts['done'] / took:,.0f} moves/s against localstripe"
            f" ({service.MOVERS} in flight)"
        )
        counts["done"] += first["done"]
        wrong = 0
        by_ref = {shift.subscription_ref: shift for shift in await StripeShift.all()}
        sample = random.sample(sorted(by_ref), min(500, len(by_ref)))
        for ref in sample:
            shift = by_ref[ref]
            sub = await gw.retrieve_subscription(ref)
            expected = int((shift.expected_period_end + timedelta(days=shift.days)).timestamp())
            wrong += int(sub is None or sub.get("trial_end") != expected)
        print(f"check: {len(sample) - wrong} of {len(sample)} sampled subscriptions moved right")
        assert wrong == 0 and counts["done"] == planned == subscribers
        # docs.stripe.com/rate-limits: live 100 requests/s per account and 25/s per endpoint,
        # test mode 25/s per account; a move is a GET and a POST on two endpoints
        for name, moves_per_s in (("live", 25.0), ("test mode", 12.5)):
            print(
                f"at Stripe's {name} limits ({moves_per_s:g} moves/s): {subscribers:,} moves"
                f" {subscribers / moves_per_s:,.0f}s; 20M (10% of 200M users)"
                f" {20_000_000 / moves_per_s / 86400:.1f} days"
            )
    finally:
        await close_db()


def _with_localstripe(subscribers: int, distinct: int) -> None:
    import subprocess
    import sys
    from pathlib import Path

    from bench.billing_bench import _free_port, _wait_http

    runner = Path(__file__).resolve().parent.parent / "tests" / "billing" / "localstripe_runner.py"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(runner), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/v1/plans", proc)
        asyncio.run(stripe_moves(subscribers, url, distinct))
    finally:
        proc.terminate()
        proc.wait(10)


def cli() -> None:
    global DB_NAME
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument(
        "--database",
        default=DB_NAME,
        help=f"the bench database, dropped and created (a name starting ncm_bench; {DB_NAME})",
    )
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument(
        "--max-wal-size",
        default=WAL_ROOM,
        help=f"the server's max_wal_size during the run (ALTER SYSTEM, put back after; default"
        f" {WAL_ROOM}); 'keep' leaves it as it is",
    )
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--stripe", type=int, default=0, help="subscribers to move (localstripe)")
    parser.add_argument(
        "--stripe-subscriptions",
        type=int,
        default=0,
        help="distinct localstripe subscriptions behind them (default: one each)",
    )
    args = parser.parse_args()
    if not args.database.startswith("ncm_bench"):
        parser.error("--database must start with ncm_bench (the bench drops it)")
    DB_NAME = args.database
    if args.users:
        asyncio.run(main(args))
    if args.stripe:
        _with_localstripe(args.stripe, args.stripe_subscriptions)


if __name__ == "__main__":
    cli()
