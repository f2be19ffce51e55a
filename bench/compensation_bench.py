"""Issue #14 targets: a compensation campaign for many users.

``python -m bench.compensation_bench [--users 1000000] [--chunk 50000] [--concurrency 2]``

1. Creates (drops first) the PostgreSQL database ``ncm_bench_compensation``, migrates it and
   seeds ``--users`` users set-based (one ``INSERT ... SELECT generate_series``, not the ORM);
   10 % of them get a paid period, so the ledger has members.
2. Creates an ``--audience all`` campaign (claimable from yesterday, auto-apply) and runs its
   chunks (the same ``service.grant_chunk`` the arq job runs) ``--concurrency`` at a time:
   grants/s end to end (plan, chunk rows, inserts, the DONE check).
3. Re-runs every chunk (``force``): the set-based insert meets the unique constraint and
   inserts nothing; the time it takes.
4. Auto-apply: every chunk's grants into the ledger (``service.apply_chunk``: insert the
   COMPENSATION periods, mark the grants CLAIMED, plan Stripe moves), rows/s.
5. Checks: exactly one grant and one ledger period per user; prints the figures and a
   linear projection to 200M users.

The machine is shared (2 cores, other benchmarks and test suites run at the same time):
the figures say what this run measured, not what a dedicated database server does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import UTC, datetime, timedelta

DB_NAME = "ncm_bench_compensation"


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
    from ncm.compensation import service
    from ncm.compensation.models import CampaignChunk
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade
    from ncm.kit.sql import fetch

    await upgrade()
    await init_db()
    try:
        seeded = await _seed(args.users)
        print(f"seeded {args.users:,} users (10% members) in {seeded:.1f}s")
        now = datetime.now(UTC)

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
        inserted = await _each(
            los, args.concurrency, lambda lo: service.grant_chunk(campaign.id, lo)
        )
        grant_s = time.perf_counter() - started
        status = await service.status(campaign.id)
        assert status.campaign.status == "DONE", status.campaign.status
        total = sum(inserted)
        print(
            f"grants: {total:,} in {grant_s:.2f}s = {total / grant_s:,.0f} rows/s "
            f"({len(los)} chunks of {args.chunk:,}, concurrency {args.concurrency})"
        )

        started = time.perf_counter()
        again = await _each(
            los, args.concurrency, lambda lo: service.grant_chunk(campaign.id, lo, force=True)
        )
        rerun_s = time.perf_counter() - started
        print(f"re-run: {sum(again)} inserted in {rerun_s:.2f}s")

        await service.GrantCampaign.filter(id=campaign.id).update(auto_apply=True)
        started = time.perf_counter()
        applied = await _each(
            los, args.concurrency, lambda lo: service.apply_chunk(campaign.id, lo)
        )
        apply_s = time.perf_counter() - started
        print(
            f"auto-apply: {sum(applied):,} ledger periods in {apply_s:.2f}s = "
            f"{sum(applied) / apply_s:,.0f} rows/s"
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
        moves = 0.1 * 200_000_000  # if 10% are auto-renewing subscribers
        print(
            "Stripe moves (2 requests each: read + update) at the documented 100 req/s live "
            f"limit: 10k subscribers {10_000 * 2 / 100:.0f}s; 20M subscribers "
            f"{moves * 2 / 100 / 3600:.0f} h"
        )
    finally:
        await close_db()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=2)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
