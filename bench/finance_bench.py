"""Issue #15 targets: the 12-month revenue report over 1M paying users / 12M paid periods
(< 3 s, from the report's rollup) and the listening mix over 100M plays (from the rollups).

``python -m bench.finance_bench [--paying 1000000] [--free 1000000] [--plays 10000000]
[--activity-days 1] [--reuse] [--seed-only] [--parts report,mix]
[--groupings currency,plan,region] [--baseline] [--rollup-plays 100000000]
[--mix-from-events] [--verify] [--repeat 3]``

1. Creates (drops first, unless ``--reuse``) the PostgreSQL database ``ncm_bench_finance``
   and applies the migrations (``--reuse`` applies any new ones).
2. Drops the bulk tables' secondary indexes and unique constraints, seeds with set-based
   SQL only (``INSERT ... SELECT ... FROM generate_series``), timed:
   ``paying + free`` users; two plans; one subscription per paying user; twelve consecutive
   monthly PAID periods per paying user in 2024 (start day and hour spread over the month;
   4 % USD, 1 % JPY; 5 % change plan and price in July; 3 % partially and 1 % fully
   refunded; tax on all), a TRIAL period for 10 %; ``activity-days`` activity days a month
   for every user (MAU); a catalog of 200,000 tracks by 10,000 artists (regions
   CN/HK/TW/MO/international), 18 genres; ``plays`` play events in 2024; then rebuilds the
   indexes and runs ``VACUUM (ANALYZE)``. ``--rollup-plays N`` seeds the daily play rollup
   of 2024 directly, as ``rollup_day`` would leave it after N counted plays (days marked
   final), instead of N play events.
3. ``report``: builds the report's rollup for 2024 (each grouping, timed), then times the
   12-month report (``ncm.finance.report.revenue_report``) first and warm, by region, plan
   and converted to CNY; then writes one late December invoice and times the report with
   ``refresh=False`` (December named stale) and with December computed first (its user's
   bucket folded); then refunds part of user 2's first period from March on and times the
   report (March to December folded), and by plan and region. ``--verify`` then compares
   the twelve folded months with one computation from the whole ledger (timed).
   ``--baseline`` also times the twelve months computed from the ledger without the rollup.
4. ``mix``: advances the listening watermark over 2024 (final days are not rolled again;
   each month is summed into the monthly rollup, timed), then times the 12-month mix.
   ``--mix-from-events`` also times it from ``play_events`` first.

The machine is shared (2 cores, other helpers' tests and benches): figures are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import date
from typing import Any

DB_NAME = "ncm_bench_finance"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"


async def _create_database() -> None:
    import asyncpg

    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await conn.close()


SEED = {
    "users": """
        INSERT INTO users (id, email, handle, password_hash, display_name, region, role,
            follower_count, following_count, search_text, created_at, updated_at)
        SELECT g, 'u' || g || '@bench.example', 'u' || g, 'x', '', (ARRAY['CN','CN','CN','CN',
            'CN','CN','HK','TW','US','JP'])[1 + g % 10], 'listener', 0, 0, '', now(), now()
        FROM generate_series(1, $1::bigint) g
    """,
    "plans": """
        INSERT INTO billing_plans (code, name, tier, interval, amount, currency, active,
            stripe_plan_id, created_at)
        VALUES ('vip_monthly', 'VIP monthly', 'VIP', 'MONTH', 1500, 'CNY', TRUE,
                'ncm_vip_monthly', now()),
               ('svip_monthly', 'SVIP monthly', 'SVIP', 'MONTH', 1800, 'CNY', TRUE,
                'ncm_svip_monthly', now())
    """,
    "subscriptions": """
        INSERT INTO billing_subscriptions (user_id, stripe_id, stripe_plan_id, status,
            cancel_at_period_end, created_at, updated_at)
        SELECT g, 'sub_' || g, CASE WHEN g % 3 = 0 THEN 'ncm_svip_monthly'
            ELSE 'ncm_vip_monthly' END, 'active', FALSE, now(), now()
        FROM generate_series(1, $1::bigint) g
    """,
    "paid_periods": """
        INSERT INTO membership_periods (user_id, source, reference, tier, starts_at, ends_at,
            amount, currency, discount, tax, refunded, revoked_at, subscription_ref,
            plan_ref, charge_ref, note, created_at)
        SELECT u, 'PAID', 'in_' || u || '_' || m, 'VIP', s, s + interval '1 month',
            a, c, 0, a * 6 / 106,
            CASE WHEN u % 100 = 7 THEN a WHEN u % 100 < 3 THEN a / 3 ELSE 0 END,
            CASE WHEN u % 100 = 7 THEN s + interval '3 days' END,
            'sub_' || u, CASE WHEN u % 3 = 0 OR (u % 20 = 3 AND m >= 7) THEN 'ncm_svip_monthly'
                ELSE 'ncm_vip_monthly' END, 'pi_' || u || '_' || m, '', s
        FROM (
            SELECT u, m,
                timestamptz '2024-01-01 00:00+00' + (u % 28) * interval '1 day'
                    + (u % 24) * interval '1 hour' + (m - 1) * interval '1 month' AS s,
                CASE WHEN u % 100 < 95 THEN 'CNY' WHEN u % 100 < 99 THEN 'USD' ELSE 'JPY' END
                    AS c,
                CASE WHEN u % 100 < 95 THEN 1500 WHEN u % 100 < 99 THEN 299 ELSE 500 END
                    * CASE WHEN u % 20 = 3 AND m >= 7 THEN 2 ELSE 1 END AS a
            FROM generate_series(1, $1::bigint) u, generate_series(1, 12) m
        ) x
    """,
    "trial_periods": """
        INSERT INTO membership_periods (user_id, source, reference, tier, starts_at, ends_at,
            amount, currency, discount, tax, refunded, note, created_at)
        SELECT u, 'TRIAL', 'trial:sub_' || u, 'VIP', timestamptz '2023-12-01 00:00+00',
            timestamptz '2023-12-08 00:00+00', 0, '', 0, 0, 0, '', now()
        FROM generate_series(1, $1::bigint) u WHERE u % 10 = 0
    """,
    "activity": """
        INSERT INTO user_daily_activity (user_id, day, plays)
        SELECT u, date '2024-01-01' + ((m - 1) * 30 + ((u * 7 + d * 11) % 28))::int, 3
        FROM generate_series(1, $1::bigint) u, generate_series(1, 12) m,
            generate_series(1, $2::int) d
        ON CONFLICT DO NOTHING
    """,
    "genres": """
        INSERT INTO genres (slug, name)
        SELECT s, initcap(s) FROM unnest(ARRAY['pop','c-pop','mandopop','cantopop',
            'electronic','dance','hip-hop','soundtrack','rock','folk','r-and-b','jazz',
            'classical','metal','indie','k-pop','j-pop','ambient']) s
    """,
    "artists": """
        INSERT INTO artists (id, name, bio, region, subscriber_count, search_text, created_at)
        SELECT g, 'Artist ' || g, '', (ARRAY['CN','CN','CN','CN','CN','HK','TW','MO','US',
            'GB','KR','JP','US','SE','FR'])[1 + g % 15], 0, '', now()
        FROM generate_series(1, $1::bigint) g
    """,
    "tracks": """
        INSERT INTO tracks (id, title, disc_number, track_number, duration_ms, explicit,
            fee_policy, status, play_count, like_count, comment_count, subscriber_count,
            share_count, search_text, created_at, updated_at)
        SELECT g, 'Track ' || g, 1, 1, 200000, FALSE, 'FREE', 'AVAILABLE', 0, 0, 0, 0, 0, '',
            now(), now()
        FROM generate_series(1, $1::bigint) g
    """,
    "track_artists": """
        INSERT INTO track_artists (track_id, artist_id, position)
        SELECT g, 1 + (g * 7919) % $2::bigint, 0 FROM generate_series(1, $1::bigint) g
        UNION ALL
        SELECT g, 1 + (g * 104729 + 1) % $2::bigint, 1 FROM generate_series(1, $1::bigint) g
        WHERE g % 4 = 0 AND (g * 104729 + 1) % $2::bigint <> (g * 7919) % $2::bigint
    """,
    "track_genres": """
        INSERT INTO track_genres (track_id, genre_id)
        SELECT g, (SELECT MIN(id) FROM genres) + (g % 18) FROM generate_series(1, $1::bigint) g
        UNION ALL
        SELECT g, (SELECT MIN(id) FROM genres) + ((g / 18 + 5) % 18)
        FROM generate_series(1, $1::bigint) g
        WHERE g % 3 = 0 AND (g / 18 + 5) % 18 <> g % 18
    """,
    "plays": """
        INSERT INTO play_events (play_id, user_id, track_id, started_at, day, seconds_played,
            counted, source, aggregated, created_at)
        SELECT 'p' || g, 1 + g % $3::bigint, 1 + floor($2::bigint * power(random(), 3))::bigint,
            t, (t AT TIME ZONE 'UTC')::date, CASE WHEN g % 20 < 17 THEN 180 ELSE 12 END,
            g % 20 < 17, 'OTHER', TRUE, t
        FROM (SELECT g, timestamptz '2024-01-01 00:00+00'
                  + (g::float8 / $1::bigint) * interval '366 days' AS t
              FROM generate_series(1, $1::bigint) g) x
    """,
}


BULK_TABLES = ("membership_periods", "user_daily_activity", "play_events", "users")


async def _drop_secondary_indexes(conn: Any, tables: tuple[str, ...]) -> list[str]:
    """Drop the tables' unique constraints and indexes (not primary keys) for the bulk load;
    return the statements that put them back (a bulk load then one build is much faster)."""
    back: list[str] = []
    constraints = await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def"
        " FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text = ANY($1)",
        list(tables),
    )
    for c in constraints:
        await conn.execute(f'ALTER TABLE {c["tbl"]} DROP CONSTRAINT "{c["conname"]}"')
        back.append(f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
    indexes = await conn.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY($1)"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
        list(tables),
    )
    for i in indexes:
        await conn.execute(f'DROP INDEX "{i["indexname"]}"')
        # a partitioned table's index reads "ON ONLY" (the parent alone): build it everywhere
        back.append(i["indexdef"].replace(" ON ONLY ", " ON ", 1))
    return back


async def _seed(args: argparse.Namespace) -> dict[str, Any]:
    import asyncpg

    users = args.paying + args.free
    steps: list[tuple[str, list[Any]]] = [
        ("users", [users]),
        ("plans", []),
        ("subscriptions", [args.paying]),
        ("paid_periods", [args.paying]),
        ("trial_periods", [args.paying]),
        ("activity", [users, args.activity_days]),
        ("genres", []),
        ("artists", [args.artists]),
        ("tracks", [args.tracks]),
        ("track_artists", [args.tracks, args.artists]),
        ("track_genres", [args.tracks]),
        ("plays", [args.plays, args.tracks, users]),
    ]
    out: dict[str, Any] = {}
    conn = await asyncpg.connect(DSN)
    try:
        rebuild = await _drop_secondary_indexes(conn, BULK_TABLES)
        for name, params in steps:
            started = time.perf_counter()
            status = await conn.execute(SEED[name], *params)
            seconds = time.perf_counter() - started
            out[name] = {"rows": int(status.split()[-1]), "seconds": round(seconds, 1)}
            print(f"seed {name}: {out[name]}", flush=True)
        started = time.perf_counter()
        for statement in rebuild:
            await conn.execute(statement)
        out["rebuild_indexes_seconds"] = round(time.perf_counter() - started, 1)
        print(f"indexes rebuilt: {out['rebuild_indexes_seconds']} s", flush=True)
        for table in ("users", "billing_subscriptions", "artists", "tracks"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT MAX(id) FROM {table}))"
            )
        started = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        out["vacuum_analyze_seconds"] = round(time.perf_counter() - started, 1)
        sizes = await conn.fetch(
            "SELECT relname, pg_total_relation_size(oid) AS bytes FROM pg_class"
            " WHERE relname IN ('membership_periods', 'play_events', 'user_daily_activity',"
            " 'finance_play_rollup')"
        )
        out["sizes_mb"] = {r["relname"]: r["bytes"] // 2**20 for r in sizes}
    finally:
        await conn.close()
    return out


async def _seed_play_rollup(args: argparse.Namespace) -> dict[str, Any]:
    """The daily play rollup of 2024 as ``rollup_day`` would leave it after
    ``--rollup-plays`` counted plays (set-based): each day, every other track (a different
    half each day) with plays skewed towards popular tracks, the days marked rolled 40 days
    later (final)."""
    import asyncpg

    conn = await asyncpg.connect(DSN)
    out: dict[str, Any] = {}
    try:
        scale = args.rollup_plays / 366 / (1.5 * args.tracks)
        for table in (
            "finance_play_rollup",
            "finance_play_rollup_days",
            "finance_play_rollup_months",
            "finance_play_rollup_watermark",
        ):
            await conn.execute(f"TRUNCATE {table}")
        started = time.perf_counter()
        await conn.execute(
            "ALTER TABLE finance_play_rollup DROP CONSTRAINT IF EXISTS"
            " finance_play_rollup_day_track_id_key"
        )
        back = await _drop_secondary_indexes(conn, ("finance_play_rollup",))
        await conn.execute(
            "INSERT INTO finance_play_rollup (day, track_id, plays)"
            " SELECT d, t, GREATEST(1, round($2::float8 * power($1::float8 / t, 0.667)))::bigint"
            " FROM generate_series(date '2024-01-01', date '2024-12-31', interval '1 day') d,"
            " generate_series(1, $1::bigint) t"
            " WHERE (t + extract(doy FROM d)::bigint) % 2 = 0",
            args.tracks,
            scale,
        )
        for statement in back:
            await conn.execute(statement)
        await conn.execute(
            "INSERT INTO finance_play_rollup_days (day, rolled_at)"
            " SELECT d, d + interval '40 days' FROM generate_series(date '2024-01-01',"
            " date '2024-12-31', interval '1 day') d"
        )
        await conn.execute("VACUUM (ANALYZE) finance_play_rollup")
        out["seconds"] = round(time.perf_counter() - started, 1)
        row = await conn.fetchrow("SELECT COUNT(*) AS n, SUM(plays) AS p FROM finance_play_rollup")
        out["rows"], out["plays"] = int(row["n"]), int(row["p"])
        out["mb"] = await conn.fetchval(
            "SELECT pg_total_relation_size('finance_play_rollup') / 1048576"
        )
        print(f"seed play rollup: {out}", flush=True)
    finally:
        await conn.close()
    return out


async def _timed(label: str, work: Any, repeat: int) -> dict[str, Any]:
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await work()
        times.append(time.perf_counter() - started)
    figures = {"best_s": round(min(times), 3), "all_s": [round(t, 3) for t in times]}
    print(f"{label}: {figures}", flush=True)
    return {"label": label, **figures, "result": result}


async def _report_parts(args: argparse.Namespace) -> dict[str, Any]:
    """The rollup build (every grouping), then the 12-month report warm (from the fresh
    rollup), after a ledger write (the written month is computed again first) and stale
    (``refresh=False``: read as stored, the stale month named)."""
    from ncm.finance import figures, rollup
    from ncm.finance.money import parse_month
    from ncm.finance.report import revenue_report
    from ncm.kit.sql import fetch

    out: dict[str, Any] = {}
    lo, hi = parse_month("2024-01"), parse_month("2024-12")

    def report(**kw: Any) -> Any:
        async def go() -> Any:
            r = await revenue_report("2024-01", "2024-12", **kw)
            m = r.months[11]
            return {
                "december": [*m["rows"][:2], {"paying_users": m["paying_users"], "mau": m["mau"]}],
                "stale": r.stale,
            }

        return go

    if args.baseline:  # the report without the rollup: every month from the ledger
        out["no_rollup"] = await _timed(
            "12 months from the ledger (no rollup)",
            lambda: figures.compute(lo, hi, ""),
            1,
        )
        out["no_rollup"].pop("result")
    build = {}
    for group in args.groupings.split(","):
        group = "" if group == "currency" else group
        await fetch("DELETE FROM finance_month_rollup WHERE grouping = $1", [group])
        await fetch("DELETE FROM finance_month_rollup_parts WHERE grouping = $1", [group])
        started = time.perf_counter()
        await rollup.refresh(lo, hi, group)
        build[group or "currency"] = round(time.perf_counter() - started, 1)
        print(
            f"rollup build, 12 months, by {group or 'currency'}: {build[group or 'currency']} s",
            flush=True,
        )
    out["rollup_build_s"] = build
    out["report_first"] = await _timed("report 12 months, first read", report(), 1)
    out["report_warm"] = await _timed("report 12 months, warm", report(), args.repeat)
    for name, kw in (("region", {"by": "region"}), ("plan", {"by": "plan"})):
        if name in args.groupings.split(","):
            out[f"report_{name}"] = await _timed(f"report by {name}", report(**kw), args.repeat)
    out["report_cny"] = await _timed("report converted to CNY", report(currency="CNY"), 1)
    # one late invoice in December: December is stale until computed again
    await fetch(
        "INSERT INTO membership_periods (user_id, source, reference, tier, starts_at, ends_at,"
        " amount, currency, discount, tax, refunded, plan_ref, note, created_at)"
        " VALUES (1, 'PAID', 'in_bench_late_' || md5(random()::text), 'VIP',"
        " timestamptz '2024-12-20 00:00+00', timestamptz '2025-01-20 00:00+00', 1500, 'CNY', 0,"
        " 85, 0, 'ncm_vip_monthly', '', now())",
        [],
    )
    out["report_stale_read"] = await _timed(
        "report after a December write, refresh=False (stale named)", report(refresh=False), 1
    )
    out["report_after_write"] = await _timed(
        "report after a December write (December computed first)", report(), 1
    )
    out["report_warm_again"] = await _timed("report 12 months, warm again", report(), 1)
    # a late refund of a March period: March to December are stale for that user's bucket
    await fetch(
        "UPDATE membership_periods SET refunded = refunded + 100 WHERE id = (SELECT id FROM"
        " membership_periods WHERE user_id = 2 AND source = 'PAID' AND amount > refunded + 100"
        " AND starts_at >= timestamptz '2024-03-01 00:00+00' ORDER BY starts_at LIMIT 1)",
        [],
    )
    out["report_after_march_refund"] = await _timed(
        "report after a March refund (March-December folded)", report(), 1
    )
    if args.verify:  # the folded months against one computation from the whole ledger
        started = time.perf_counter()
        whole = await figures.compute(lo, hi, "")
        folded = (await rollup.blocks(lo, hi, "")).blocks
        same = []
        for k in range(lo, hi + 1):
            whole[k].prune("")
            a, b = whole[k].to_json(), folded[k].to_json()
            for j in (a, b):
                j["rows"] = sorted(j["rows"], key=lambda r: (r["currency"], r["group"]))
                j["daily"] = sorted(j["daily"])
            same.append(a == b)
        out["verify"] = {"equal_months": sum(same), "of": len(same)}
        out["verify"]["seconds"] = round(time.perf_counter() - started, 1)
        print(f"folded months equal to the whole computation: {out['verify']}", flush=True)
    for name in args.groupings.split(","):
        if name != "currency":
            out[f"report_{name}_after_writes"] = await _timed(
                f"report by {name} after the writes (folded)", report(by=name), 1
            )
    return out


async def _mix_parts(args: argparse.Namespace) -> dict[str, Any]:
    from ncm.finance import mix

    out: dict[str, Any] = {}
    if args.mix_from_events:
        out["mix_from_events"] = await _timed(
            "listening mix 2024 from play_events",
            lambda: mix.listening_mix("2024-01", "2024-12"),
            1,
        )
        out["mix_from_events"].pop("result")
    started = time.perf_counter()
    rows = await mix.advance_watermark(date(2025, 2, 1))
    out["rollup_build"] = {"rows": rows, "seconds": round(time.perf_counter() - started, 1)}
    print(f"listening rollup through 2024-12-31: {out['rollup_build']}", flush=True)
    out["mix_from_rollup"] = await _timed(
        "listening mix 2024 from the rollup",
        lambda: mix.listening_mix("2024-01", "2024-12"),
        args.repeat,
    )
    result = out["mix_from_rollup"].pop("result")
    out["plays_2024"] = sum(m["plays"] for m in result)
    one = result[11]
    out["mix_december"] = {
        "plays": one["plays"],
        "domestic": one["domestic_share"],
        "international": one["international_share"],
    }
    return out


async def _measure(args: argparse.Namespace) -> dict[str, Any]:
    from ncm.finance import rates
    from ncm.kit.db import close_db, init_db

    await init_db(DSN + "?maxsize=3")
    out: dict[str, Any] = {}
    try:
        for base, rate, day in (
            ("USD", "7.1", date(2023, 1, 1)),
            ("USD", "7.25", date(2024, 7, 1)),
            ("JPY", "0.048", date(2023, 1, 1)),
        ):
            await rates.set_rate(base, "CNY", rate, day)  # an upsert
        if "report" in args.parts.split(","):
            out.update(await _report_parts(args))
        if "mix" in args.parts.split(","):
            out.update(await _mix_parts(args))
    finally:
        await close_db()
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["NCM_DATABASE_URL"] = DSN
    from ncm.config import reset_settings

    reset_settings()
    result: dict[str, Any] = {"args": vars(args)}
    from ncm.kit.migrate import upgrade

    if not args.reuse:
        await _create_database()
        await upgrade()
        result["seed"] = await _seed(args)
    else:
        await upgrade()
    if args.rollup_plays:
        result["seed_play_rollup"] = await _seed_play_rollup(args)
    if not args.seed_only:
        result["measure"] = await _measure(args)
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paying", type=int, default=1_000_000)
    parser.add_argument("--free", type=int, default=1_000_000)
    parser.add_argument("--activity-days", type=int, default=1)
    parser.add_argument("--plays", type=int, default=10_000_000)
    parser.add_argument("--tracks", type=int, default=200_000)
    parser.add_argument("--artists", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="Measure the existing database.")
    parser.add_argument("--seed-only", action="store_true", help="Seed, do not measure.")
    parser.add_argument("--parts", default="report,mix", help="report, mix (comma-separated).")
    parser.add_argument(
        "--groupings", default="currency,plan,region", help="The rollup groupings to build."
    )
    parser.add_argument(
        "--baseline", action="store_true", help="Also time 12 months from the ledger."
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="After the writes, compare the folded months with the whole computation.",
    )
    parser.add_argument(
        "--mix-from-events", action="store_true", help="Also time the mix from play_events."
    )
    parser.add_argument(
        "--rollup-plays",
        type=int,
        default=0,
        help="Seed the daily play rollup of 2024 directly, as if from this many plays "
        "(replaces play_events for days it covers).",
    )
    args = parser.parse_args()
    result = asyncio.run(main(args))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    cli()
