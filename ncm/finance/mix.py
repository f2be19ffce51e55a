"""The listening mix: the share of counted plays (30 s or more, as ``ncm.stream`` counts
them) by the region of the track's main artist (CN, HK, TW, MO, or INTERNATIONAL; UNKNOWN
when the artist has no region) and by genre, per month.

A track's main artist is its credit with the lowest (position, artist id). A play of a track
with several genres counts once in each of them (so genre shares can add up to more than 1);
a track without a genre counts under ``(none)``.

Where the plays are read from (the figures are the same either way):

- months whose every day is at or before the watermark ``through_day`` from the monthly
  rollup (``finance_play_rollup_months``, one row per track and month);
- later days the daily rollup holds (``finance_play_rollup``, kept by the nightly
  ``rollup_plays`` job, which re-rolls the last 31 days as plays may arrive 30 days late)
  from it; other days from ``play_events``.

The watermark only moves past a day once it was rolled after plays for it could no longer
arrive; such a day is never rolled again, so its ``play_events`` may be dropped
(``listening_rollup_covers``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from ncm.accounts.models import Role, User
from ncm.accounts.permissions import require_role
from ncm.finance.figures import _Dialect
from ncm.finance.models import PlayRollupDay, PlayRollupWatermark
from ncm.finance.money import month_name, month_of, month_start, parse_range, ratio
from ncm.kit.db import is_postgres
from ncm.kit.locks import lock_for_transaction
from ncm.kit.sql import fetch

DOMESTIC = ("CN", "HK", "TW", "MO")
MIX_WORK_MEM = "128MB"
LATE_DAYS = 31  # plays may be reported up to 30 days late: the job re-rolls this many days


def _day(value: date) -> Any:
    return value if is_postgres() else value.isoformat()


def _plays_sql(d: _Dialect) -> str:
    """Counted plays as (month, track, plays) rows, several rows per month and track when
    they come from days (their sum is the month's): whole final months from the monthly
    rollup ($1 to $2), later days ($3 to $4, $5 to $6: the same) from the daily rollup or,
    for days it does not hold, from ``play_events``. No re-aggregation: every figure below
    is a sum, so the rows are summed once, after the catalog join."""
    k = d.month(d.date_day("day"))
    return (
        f"SELECT {k} AS k, track_id, n FROM ("
        " SELECT m.month AS day, m.track_id, m.plays AS n FROM finance_play_rollup_months m"
        " WHERE m.month >= $1 AND m.month < $2"
        " UNION ALL SELECT r.day, r.track_id, r.plays FROM finance_play_rollup r"
        " WHERE r.day >= $3 AND r.day < $4"
        " UNION ALL SELECT e.day, e.track_id, COUNT(*) FROM play_events e"
        " WHERE e.counted = TRUE AND e.day >= $5 AND e.day < $6"
        " AND e.day NOT IN (SELECT day FROM finance_play_rollup_days)"
        " GROUP BY e.day, e.track_id"
        ") x"
    )


MAIN_ARTIST = (
    "SELECT ta.track_id, a.region FROM track_artists ta JOIN artists a ON a.id = ta.artist_id"
    " WHERE NOT EXISTS (SELECT 1 FROM track_artists t2 WHERE t2.track_id = ta.track_id"
    " AND (t2.position < ta.position OR (t2.position = ta.position"
    " AND t2.artist_id < ta.artist_id)))"
)
BUCKET = (
    "CASE WHEN m.region IS NULL THEN 'UNKNOWN' WHEN UPPER(m.region) IN ('CN', 'HK', 'TW', 'MO')"
    " THEN UPPER(m.region) ELSE 'INTERNATIONAL' END"
)
# Each track's catalog facts, once: its main artist's region bucket and its genre ids (a
# list, '' for none). Tracks with the same facts share a class, so the plays join one small
# table once a row and group into (month, bucket, genres): a few thousand rows, which Python
# spreads over the regions (each play once) and the genres (once in each of a track's).
GENRE_IDS = {
    True: "string_agg(CAST(genre_id AS TEXT), ',' ORDER BY genre_id)",
    False: "group_concat(genre_id, ',')",
}
MIX = (
    "WITH p AS ({plays}), m AS ({main}),"
    " tg AS (SELECT track_id, {genre_ids} AS gs FROM track_genres GROUP BY track_id),"
    " c AS (SELECT t.id AS track_id, {bucket} AS bucket, COALESCE(tg.gs, '') AS gs"
    " FROM tracks t LEFT JOIN m ON m.track_id = t.id LEFT JOIN tg ON tg.track_id = t.id)"
    " SELECT p.k, COALESCE(c.bucket, 'UNKNOWN') AS bucket, COALESCE(c.gs, '') AS gs,"
    " SUM(p.n) AS n FROM p LEFT JOIN c ON c.track_id = p.track_id"
    " GROUP BY p.k, COALESCE(c.bucket, 'UNKNOWN'), COALESCE(c.gs, '')"
)


def mix_sql(d: _Dialect) -> str:
    return MIX.format(
        plays=_plays_sql(d), main=MAIN_ARTIST, bucket=BUCKET, genre_ids=GENRE_IDS[d.pg]
    )


async def listening_mix(
    start: str, end: str, *, actor: User | None = None, check_role: bool = False
) -> list[dict[str, Any]]:
    if check_role:
        require_role(actor, Role.FINANCE)
    lo, hi = parse_range(start, end)
    d = _Dialect(lo, hi)
    last = await through_day()
    whole = month_of(last + timedelta(days=1)) if last else lo  # months before are final
    split = month_start(min(max(whole, lo), hi + 1))
    stop = _day(month_start(hi + 1))
    params = [_day(month_start(lo)), _day(split), _day(split), stop, _day(split), stop]
    if d.pg:  # room for the per-track hash and the groups
        async with in_transaction() as conn:
            await fetch(f"SET LOCAL work_mem = '{MIX_WORK_MEM}'", [], conn)
            rows = await fetch(mix_sql(d), params, conn)
    else:
        rows = await fetch(mix_sql(d), params)
    names = {
        int(g["id"]): (g["slug"], g["name"])
        for g in await fetch("SELECT id, slug, name FROM genres", [])
    }
    regions: dict[tuple[int, str], int] = {}
    genres: dict[tuple[int, str, str], int] = {}
    for r in rows:
        k, n = int(r["k"]), int(r["n"])
        if not n:
            continue
        regions[(k, r["bucket"])] = regions.get((k, r["bucket"]), 0) + n
        ids = {int(x) for x in str(r["gs"]).split(",") if x}
        for slug, name in [names[i] for i in ids] or [("(none)", "(none)")]:
            genres[(k, slug, name)] = genres.get((k, slug, name), 0) + n
    months: dict[int, dict[str, Any]] = {
        k: {"month": month_name(k), "plays": 0, "regions": [], "genres": []}
        for k in range(lo, hi + 1)
    }
    for (k, _), n in regions.items():
        months[k]["plays"] += n
    order = {name: i for i, name in enumerate([*DOMESTIC, "INTERNATIONAL", "UNKNOWN"])}
    for (k, bucket), n in sorted(regions.items(), key=lambda x: order[x[0][1]]):
        m = months[k]
        m["regions"].append({"region": bucket, "plays": n, "share": ratio(n, m["plays"])})
    for (k, slug, name), n in sorted(genres.items(), key=lambda x: (-x[1], x[0][1])):
        m = months[k]
        m["genres"].append({"genre": slug, "name": name, "plays": n, "share": ratio(n, m["plays"])})
    for m in months.values():
        domestic = sum(x["plays"] for x in m["regions"] if x["region"] in DOMESTIC)
        international = sum(x["plays"] for x in m["regions"] if x["region"] == "INTERNATIONAL")
        m["domestic_share"] = ratio(domestic, m["plays"])
        m["international_share"] = ratio(international, m["plays"])
    return list(months.values())


async def through_day() -> date | None:
    """The listening rollup's watermark: every day up to it is rolled up for good."""
    row = await PlayRollupWatermark.filter(id=1).first()
    return row.through_day if row else None


async def listening_rollup_covers(day: date) -> bool:
    """True when ``day``'s counted plays are in the rollup for good: it was rolled after
    plays for it could no longer arrive, and it will never be rolled again, so that day's
    ``play_events`` (e.g. its partition) may be dropped without changing any figure."""
    last = await through_day()
    return last is not None and day <= last


async def rollup_day(day: date) -> int:
    """(Re)build one day of the rollup from ``play_events`` in one transaction (idempotent).
    Returns the rows written. A day at or before the watermark is final and is left alone
    (its plays may be gone): returns 0."""
    async with in_transaction() as conn:
        await lock_for_transaction(conn, "ncm.finance.plays", 0)
        mark = await PlayRollupWatermark.filter(id=1).using_db(conn).first()
        if mark is not None and day <= mark.through_day:
            return 0
        await fetch("DELETE FROM finance_play_rollup WHERE day = $1", [_day(day)], conn)
        rows = await fetch(
            "INSERT INTO finance_play_rollup (day, track_id, plays)"
            " SELECT day, track_id, COUNT(*) FROM play_events WHERE counted = TRUE AND day = $1"
            " GROUP BY day, track_id RETURNING id",
            [_day(day)],
            conn,
        )
        await fetch("DELETE FROM finance_play_rollup_days WHERE day = $1", [_day(day)], conn)
        await PlayRollupDay.create(day=day, rolled_at=datetime.now(UTC), using_db=conn)
    return len(rows)


async def rollup_recent(today: date | None = None, days: int = LATE_DAYS) -> int:
    """Re-roll the last ``days`` complete days (plays may arrive up to 30 days late), then
    advance the watermark."""
    today = today or datetime.now(UTC).date()
    written = 0
    for back in range(days, 0, -1):
        written += await rollup_day(today - timedelta(days=back))
    return written + await advance_watermark(today)


async def advance_watermark(today: date | None = None) -> int:
    """Move ``through_day`` up to the last day plays can no longer arrive for
    (``today - LATE_DAYS``): each day after the watermark is rolled once more first unless
    its last roll already happened that late (then it is final). The first run starts at
    the first day with a counted play. Returns the rollup rows written."""
    today = today or datetime.now(UTC).date()
    last_final = today - timedelta(days=LATE_DAYS)
    current = await through_day()
    if current is None:
        rows = await fetch("SELECT MIN(day) AS d FROM play_events WHERE counted = TRUE", [])
        first = rows[0]["d"] if rows and rows[0]["d"] is not None else None
        if first is None:
            start = last_final
        else:
            start = first if isinstance(first, date) else date.fromisoformat(str(first))
    else:
        start = current + timedelta(days=1)
    rolled = {
        r.day: r.rolled_at for r in await PlayRollupDay.filter(day__gte=start, day__lte=last_final)
    }
    written, day = 0, start
    while day <= last_final:
        at = rolled.get(day)
        if at is None or at.date() < day + timedelta(days=LATE_DAYS):
            written += await rollup_day(day)
        async with in_transaction() as conn:
            await lock_for_transaction(conn, "ncm.finance.plays", 0)
            if (day + timedelta(days=1)).day == 1:  # the month's last day: sum it up
                await _roll_month(month_of(day), conn)
            await PlayRollupWatermark.update_or_create(
                id=1,
                defaults={"through_day": day, "updated_at": datetime.now(UTC)},
                using_db=conn,
            )
        day += timedelta(days=1)
    return written


async def _roll_month(k: int, conn: Any) -> None:
    """Sum month ``k`` of the daily rollup into the monthly rollup (every day is final)."""
    start, end = _day(month_start(k)), _day(month_start(k + 1))
    await fetch("DELETE FROM finance_play_rollup_months WHERE month = $1", [start], conn)
    await fetch(
        "INSERT INTO finance_play_rollup_months (month, track_id, plays)"
        " SELECT $1, track_id, SUM(plays) FROM finance_play_rollup"
        " WHERE day >= $2 AND day < $3 GROUP BY track_id",
        [start, start, end],
        conn,
    )
    if is_postgres():  # fresh statistics, or the mix plans 2M rows as a few thousand
        await fetch("ANALYZE finance_play_rollup_months", [], conn)
