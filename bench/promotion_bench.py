"""Issue #16 targets: ``promotions`` requests/s and p99 at 16 connections, tracking ingest.

``python -m bench.promotion_bench [--duration 20] [--connections 16] [--campaigns 40]
[--parts serve,track,track-packed,in-process,cpu] [--no-pin] [--py-spy DIR]``

1. Creates (drops first) the PostgreSQL database ``ncm_bench_promotion``, applies the
   migrations, claims an empty Redis database, and seeds one partner (KKBOX) with
   ``--campaigns`` live campaigns over the five placements (some targeted at regions, some
   booked and paced) and 64 listeners in four regions, each logged in (a bearer token).
2. Serves the app (``ncm serve``, one worker process, Redis configured) and drives
   ``promotions(placement: HOME_BANNER, limit: 3)`` with ``wrk`` (Debian package ``wrk``):
   ``--connections`` connections, two threads, each request with one of the 64 tokens.
   Reports requests/s, p50/p99 and non-2xx responses, and the database transactions the
   server ran meanwhile (``pg_stat_database.xact_commit + xact_rollback`` of the bench
   database before and after; every statement outside a transaction counts as one).
3. Tracking ingest over HTTP: ``wrk`` posts ``recordPromotionEvents`` with 100 distinct
   events per request (ids from a per-thread counter), and (part ``track-packed``) the same
   events packed as text to ``recordPromotionEventsPacked``, then one flush; events/s, and
   the database total beside the events sent.
4. Tracking ingest in-process (no HTTP or GraphQL): ``tracking.record`` with 100-event
   batches from 16 concurrent tasks into Redis: events/s, then the flush's events/s.

The server runs pinned to core 0 and ``wrk`` to the last core (``taskset``; ``--no-pin`` to
share every core). ``--py-spy DIR`` (needs ``py-spy`` on the PATH or in the venv; it is not a
project dependency) samples the server during each ``wrk`` run into ``DIR/<part>.txt``
(collapsed stacks) for a profile of where the time goes.

The machine is shared (2 cores, other work running): figures are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import harness
from bench.harness import HOST, NCM_PORT, Pinning, redis_database, server_env, start_ncm

DB_NAME = "ncm_bench_promotion"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
PORT = NCM_PORT
STATS_DELAY = 12.0
REGIONS = ["TW", "HK", "SG", "MY"]
PLACEMENTS = ["HOME_BANNER", "DISCOVER_FEED", "SEARCH_TOP", "PLAYLIST_HEADER", "NOW_PLAYING"]
PROMOTIONS = (
    "query($p: PromotionPlacement!) { promotions(placement: $p, limit: 3) "
    "{ campaignId kind title imageUrl linkUrl objectKind objectId } }"
)

SERVE_LUA = """
local tokens = {%(tokens)s}
local body = %(body)s
local n = 0
request = function()
  n = n + 1
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. tokens[(n %% #tokens) + 1]
  return wrk.format("POST", "/graphql", headers, body)
end
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"') then errors = (errors or 0) + 1 end
end
"""

TRACK_LUA = """
local tokens = {%(tokens)s}
local campaign = "%(campaign)s"
local counter = 0
local thread_id = 0
local threads = {}
setup = function(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
init = function(args) thread_id = tid end
request = function()
  counter = counter + 1
  local at = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ")
  local parts = {}
  for i = 1, 100 do
    parts[i] = string.format(
      '{"eventId":"t%%d-%%d-%%d","campaignId":"%%s","placement":"HOME_BANNER","kind":"%%s","at":"%%s"}',
      thread_id, counter, i, campaign, (i %% 20 == 0) and "CLICK" or "IMPRESSION", at)
  end
  local body = '{"query":"mutation($e:[PromotionEventInput!]!){recordPromotionEvents(events:$e){__typename ... on RecordPromotionEventsPayload{accepted duplicates}}}","variables":{"e":[' .. table.concat(parts, ",") .. ']}}'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. tokens[(counter %% #tokens) + 1]
  return wrk.format("POST", "/graphql", headers, body)
end
"""


# The same events as TRACK_LUA (ids starting with p, not t: the same viewer's ids would be
# duplicates of the list run's), sent to recordPromotionEventsPacked: one line per event, tab
# separated (written as JSON escapes in the body).
TRACK_PACKED_LUA = TRACK_LUA.replace(
    """    parts[i] = string.format(
      '{"eventId":"t%%d-%%d-%%d","campaignId":"%%s","placement":"HOME_BANNER","kind":"%%s","at":"%%s"}',""",
    """    parts[i] = string.format(
      'p%%d-%%d-%%d\\\\t%%s\\\\tHOME_BANNER\\\\t%%s\\\\t%%s',""",
).replace(
    """'{"query":"mutation($e:[PromotionEventInput!]!){recordPromotionEvents(events:$e){__typename ... on RecordPromotionEventsPayload{accepted duplicates}}}","variables":{"e":[' .. table.concat(parts, ",") .. ']}}'""",
    """'{"query":"mutation($e:String!){recordPromotionEventsPacked(events:$e){__typename ... on RecordPromotionEventsPayload{accepted duplicates}}}","variables":{"e":"' .. table.concat(parts, "\\\\n") .. '"}}'""",
)
assert TRACK_PACKED_LUA != TRACK_LUA and TRACK_PACKED_LUA.count("Packed") == 1


async def _create_database() -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    finally:
        await conn.close()


async def _seed(campaigns_n: int) -> dict[str, Any]:
    """Migrate and seed; returns the tokens and one campaign's global id."""
    from ncm.accounts import service as accounts
    from ncm.accounts.models import User
    from ncm.kit.db import close_db, init_db
    from ncm.kit.migrate import upgrade
    from ncm.promotion import campaigns, keys
    from ncm.promotion.access import SYSTEM
    from ncm.promotion.campaigns import CampaignSpec
    from ncm.promotion.models import CampaignKind, ObjectKind, Placement
    from ncm.schema.base import to_global_id

    await upgrade()
    await init_db()
    try:
        partner = await keys.add_partner(SYSTEM, "KKBOX", "KKBOX")
        now = datetime.now(UTC)
        first_id = None
        for n in range(campaigns_n):
            spec = CampaignSpec(
                name=f"campaign {n}",
                kind=CampaignKind.CONCERT_TOUR,
                object_kind=ObjectKind.LINK,
                link_url=f"https://tickets.example.com/{n}",
                title=f"Tour {n}",
                image_url=f"https://img.example.com/{n}.jpg",
                event_at=now + timedelta(days=30),
                venue="Taipei Arena",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(days=7),
                placements=[Placement(PLACEMENTS[n % 5]), Placement.HOME_BANNER],
                regions=[REGIONS[n % 4]] if n % 3 == 0 else [],
                priority=n % 3,
                weight=1 + n % 5,
                booked_impressions=50_000_000 if n % 2 else 0,
            )
            c = await campaigns.create_campaign(SYSTEM, spec, partner_id=partner.id)
            await campaigns.submit(SYSTEM, c.id)
            await campaigns.approve(SYSTEM, c.id)
            first_id = first_id or c.id
        tokens = []
        for n in range(64):
            user = await accounts.create_user(f"fan{n}@example.com", f"fan{n}", "correct-horse-42")
            await User.filter(id=user.id).update(region=REGIONS[n % 4], language="zh-Hant")
            session = await accounts.login(user.handle, "correct-horse-42", client_ip=f"10.0.0.{n}")
            tokens.append(session.access_token)
        return {"tokens": tokens, "campaign": str(to_global_id("Campaign", first_id or 0))}
    finally:
        from ncm.kit.redis import close_redis

        await close_redis()
        await close_db()


def _wrk(
    script: str,
    connections: int,
    duration: int,
    port: int,
    pinning: Pinning,
    profile: tuple[int, Path] | None = None,
) -> dict[str, Any]:
    """Runs ``wrk``; with ``profile`` (server pid, output file) py-spy samples the server
    meanwhile (the middle of the run, so the warm-up and the end are left out)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = f.name
    sampled = (
        harness.sampling(profile[0], profile[1], duration - 2, pinning)
        if profile is not None
        else contextlib.nullcontext()
    )
    try:
        with sampled:
            out = subprocess.run(
                [
                    *pinning.prefix(pinning.client),
                    "wrk",
                    "-t2",
                    f"-c{connections}",
                    f"-d{duration}s",
                    "--latency",
                    "-s",
                    path,
                    f"http://{HOST}:{port}/graphql",
                ],
                capture_output=True,
                text=True,
                timeout=duration + 60,
                check=True,
            ).stdout
    finally:
        os.unlink(path)
    figures: dict[str, Any] = {"raw": out}
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    figures["requests_per_s"] = float(match.group(1)) if match else None
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            value = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            figures[f"p{pct}_ms"] = round(value, 2)
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    figures["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", out)
    figures["requests"] = int(m.group(1)) if m else None
    return figures


async def _xact_commits() -> int:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        value = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", DB_NAME
        )
        return int(value)
    finally:
        await conn.close()


def _post(body: dict[str, Any], token: str) -> Any:
    import urllib.request

    request = urllib.request.Request(
        f"http://{HOST}:{PORT}/graphql",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


async def _flush_and_count() -> tuple[int, float, int]:
    from ncm.kit.db import close_db, init_db
    from ncm.promotion import tracking
    from ncm.promotion.models import CampaignDailyStats

    await init_db()
    try:
        started = time.perf_counter()
        result = await tracking.flush()
        seconds = time.perf_counter() - started
        rows = await CampaignDailyStats.all()
        return result.events, seconds, sum(r.impressions + r.clicks for r in rows)
    finally:
        from ncm.kit.redis import close_redis

        await close_redis()
        await close_db()


async def _ingest_in_process(batches: int, tasks: int) -> dict[str, Any]:
    from ncm.kit.db import close_db, init_db
    from ncm.kit.redis import close_redis
    from ncm.promotion import live, tracking
    from ncm.promotion.models import Campaign, EventKind
    from ncm.promotion.profiles import ViewerProfile

    await init_db()
    try:
        await live.ensure_fresh()
        campaign = await Campaign.filter(regions=[]).order_by("id").first()
        assert campaign is not None
        now = datetime.now(UTC)
        viewers = [
            ViewerProfile(f"b{n}", 10_000 + n, "TW", None, False, frozenset()) for n in range(64)
        ]

        async def worker(w: int) -> int:
            accepted = 0
            for b in range(batches // tasks):
                events = [
                    tracking.EventIn(
                        f"p{w}-{b}-{i}",
                        campaign.id,
                        "HOME_BANNER",
                        EventKind.CLICK if i % 20 == 0 else EventKind.IMPRESSION,
                        now,
                    )
                    for i in range(100)
                ]
                accepted += (await tracking.record(viewers[(w + b) % 64], events)).accepted
            return accepted

        started = time.perf_counter()
        accepted = sum(await asyncio.gather(*(worker(w) for w in range(tasks))))
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        flushed = await tracking.flush()
        flush_s = time.perf_counter() - started
        return {
            "events": accepted,
            "events_per_s": round(accepted / ingest_s),
            "flush_events": flushed.events,
            "flush_seconds": round(flush_s, 2),
            "flush_events_per_s": round(flushed.events / flush_s) if flush_s else None,
        }
    finally:
        await close_redis()
        await close_db()


TRACK_MUTATION = (
    "mutation($e:[PromotionEventInput!]!){recordPromotionEvents(events:$e){__typename "
    "... on RecordPromotionEventsPayload{accepted duplicates}}}"
)


async def _cpu_shares(token: str, campaign: str, requests: int) -> dict[str, Any]:
    """Python CPU per request through the ASGI app (no HTTP server, no wrk), and the share
    of it spent in the promotion resolvers (cProfile), against ``{ __typename }`` with the
    same token: what every query pays before and after its resolvers."""
    import cProfile
    import pstats

    from bench.profile import _call
    from ncm.app import create_app
    from ncm.kit.db import close_db, init_db
    from ncm.kit.redis import close_redis

    await init_db()
    try:
        app = create_app(manage_db=False)
        serial = iter(range(10**9))

        def track() -> bytes:
            n, at = next(serial), datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            events = [
                {
                    "eventId": f"cpu{n}-{i}",
                    "campaignId": campaign,
                    "placement": "HOME_BANNER",
                    "kind": "CLICK" if i % 20 == 0 else "IMPRESSION",
                    "at": at,
                }
                for i in range(100)
            ]
            return json.dumps({"query": TRACK_MUTATION, "variables": {"e": events}}).encode()

        promotions = json.dumps({"query": PROMOTIONS, "variables": {"p": "HOME_BANNER"}})
        kinds = {
            "typename": (lambda: b'{"query": "{ __typename }"}', None),
            "promotions": (promotions.encode, "PromotionQuery.promotions"),
            "track_100_events": (track, "record_promotion_events"),
        }
        out: dict[str, Any] = {}
        for name, (body, resolver) in kinds.items():
            n = requests // 10 if name.startswith("track") else requests
            bodies = [body() for _ in range(n + 20)]
            for b in bodies[:20]:
                status, answer = await _call(app, b, token)
                assert status == 200 and b'"errors"' not in answer, answer[:300]
            started = time.process_time()
            for b in bodies[20:]:
                await _call(app, b, token)
            figures: dict[str, Any] = {
                "cpu_ms": round((time.process_time() - started) * 1000 / n, 3)
            }
            if resolver:
                profiler = cProfile.Profile()
                profiler.enable()
                for b in [body() for _ in range(n)]:
                    await _call(app, b, token)
                profiler.disable()
                stats: Any = pstats.Stats(profiler).stats
                total = max(v[3] for v in stats.values())
                inside = max(
                    (
                        v[3]
                        for k, v in stats.items()
                        if k[2].endswith(resolver.split(".")[-1]) and "promotion" in k[0]
                    ),
                    default=0.0,
                )
                figures["resolver_share"] = round(inside / total, 3)
            out[name] = figures
        return out
    finally:
        await close_redis()
        await close_db()


PARTS = ("serve", "track", "track-packed", "in-process", "cpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--campaigns", type=int, default=40)
    parser.add_argument("--ingest-batches", type=int, default=2000)
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"which parts to run ({', '.join(PARTS)})"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk")
    parser.add_argument("--py-spy", type=Path, help="sample the server into this folder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if unknown := parts - set(PARTS):
        sys.exit(f"unknown parts: {', '.join(sorted(unknown))}")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install wrk")
    if args.py_spy is not None:
        if harness.py_spy() is None:
            sys.exit("py-spy is missing: pip install py-spy (not a project dependency)")
        args.py_spy.mkdir(parents=True, exist_ok=True)
    pinning = Pinning.choose(1, not args.no_pin)
    results: dict[str, Any] = {
        "conditions": (
            f"{os.cpu_count()} cores shared with other work (load average "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} at start); {pinning.describe()};"
            " Redis on the same machine; one uvicorn worker"
        )
    }
    asyncio.run(_create_database())
    with redis_database("auto") as redis_url:
        env = server_env(DATABASE_URL, redis_url)
        os.environ.update({k: v for k, v in env.items() if k.startswith("NCM_")})
        from ncm.config import reset_settings

        reset_settings()
        seeded = asyncio.run(_seed(args.campaigns))
        tokens = seeded["tokens"]
        server = start_ncm(DATABASE_URL, redis_url, 1, pinning)

        def profile(name: str) -> tuple[int, Path] | None:
            return (server.process.pid, args.py_spy / f"{name}.txt") if args.py_spy else None

        try:
            body = json.dumps({"query": PROMOTIONS, "variables": {"p": "HOME_BANNER"}})
            for token in tokens:  # warm every viewer's cached profile (three queries each)
                answer = _post(json.loads(body), token)
                assert "errors" not in answer, answer
            results["sample"] = answer["data"]["promotions"]
            if "serve" in parts:
                # A backend reports its transaction counts when idle for a while (PostgreSQL
                # batches them): wait so the warm-up's count is in before the run starts.
                time.sleep(STATS_DELAY)
                before = asyncio.run(_xact_commits())
                lua = SERVE_LUA % {
                    "tokens": ", ".join(json.dumps(t) for t in tokens),
                    "body": json.dumps(body),
                }
                serving = _wrk(
                    lua, args.connections, args.duration, PORT, pinning, profile("serve")
                )
                serving["load_average_after"] = os.getloadavg()[0]
                time.sleep(STATS_DELAY)
                after = asyncio.run(_xact_commits())
                serving["database_transactions_during_run"] = after - before
                results["promotions"] = serving
            for part, lua_form, key in (
                ("track", TRACK_LUA, "tracking_http"),
                ("track-packed", TRACK_PACKED_LUA, "tracking_http_packed"),
            ):
                if part not in parts:
                    continue
                track = lua_form % {
                    "tokens": ", ".join(json.dumps(t) for t in tokens),
                    "campaign": seeded["campaign"],
                }
                ingest = _wrk(
                    track,
                    args.connections,
                    max(5, args.duration // 2),
                    PORT,
                    pinning,
                    profile(part),
                )
                ingest["load_average_after"] = os.getloadavg()[0]
                ingest["events_per_s"] = (
                    round(ingest["requests_per_s"] * 100) if ingest["requests_per_s"] else None
                )
                results[key] = ingest
        finally:
            server.stop()
        if tracked := [k for k in ("tracking_http", "tracking_http_packed") if k in results]:
            flushed, seconds, in_db = asyncio.run(_flush_and_count())
            results[tracked[-1]]["flushed_events"] = flushed  # both forms' events
            results[tracked[-1]]["flush_seconds"] = round(seconds, 2)
            results[tracked[-1]]["database_total"] = in_db
            results[tracked[-1]]["events_sent"] = sum(
                (results[k]["requests"] or 0) * 100 for k in tracked
            )
        if "cpu" in parts:
            results["cpu"] = asyncio.run(_cpu_shares(tokens[0], seeded["campaign"], 2000))
        if "in-process" in parts:
            results["tracking_in_process"] = asyncio.run(
                _ingest_in_process(args.ingest_batches, 16)
            )
    for part in ("promotions", "tracking_http", "tracking_http_packed"):
        if part in results and not args.json:
            results[part].pop("raw", None)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return
    print(results["conditions"])
    if p := results.get("promotions"):
        print(
            f"promotions: {p['requests_per_s']} req/s, p50 {p.get('p50_ms')} ms, "
            f"p99 {p.get('p99_ms')} ms, non-2xx {p['non_2xx']}, "
            f"database transactions during the run: {p['database_transactions_during_run']}; "
            f"load average after {p['load_average_after']:.1f}"
        )
    for key, form in (("tracking_http", "list"), ("tracking_http_packed", "packed")):
        if t := results.get(key):
            flush = (
                f"; flush {t['flushed_events']} events in {t['flush_seconds']} s; database "
                f"total {t['database_total']} (events sent by both forms: {t['events_sent']})"
                if "flushed_events" in t
                else ""
            )
            print(
                f"tracking over HTTP ({form}): {t['requests_per_s']} req/s x 100 = "
                f"{t['events_per_s']} events/s, p99 {t.get('p99_ms')} ms, non-2xx "
                f"{t['non_2xx']}{flush}; load average after {t['load_average_after']:.1f}"
            )
    if c := results.get("cpu"):
        base = c["typename"]["cpu_ms"]
        for name in ("promotions", "track_100_events"):
            figures = c[name]
            print(
                f"in-process {name}: {figures['cpu_ms']} ms of Python per request "
                f"({'{ __typename }'}: {base} ms); its resolver "
                f"{figures['resolver_share'] * 100:.1f} % of it (cProfile)"
            )
    if i := results.get("tracking_in_process"):
        print(
            f"tracking in-process: {i['events_per_s']} events/s ({i['events']} events); flush "
            f"{i['flush_events']} events in {i['flush_seconds']} s ({i['flush_events_per_s']}/s)"
        )


if __name__ == "__main__":
    main()
