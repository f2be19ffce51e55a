"""The catalog and users of ``ncm seed scale``: millions of believable rows (PostgreSQL only).

What one run adds, always after the existing ids (so it runs on a non-empty database, and
again: every unique value -- external ids, ISRCs, emails, handles -- derives from the new
row's id):

* ``tracks`` tracks in albums of about eight (``tracks // 8`` albums) by ``tracks // 20``
  artists. Every track credits its album's artist at position 0 and, for about 30 % of
  tracks, a featured artist at position 1; it has one or two genres (created if missing),
  STANDARD and EXHIGH renditions plus, for some, HIGHER, LOSSLESS and HIRES, and one ``*``
  license. Play counts are Pareto-distributed: a few tracks have billions of plays, the
  median about a hundred.
* ``users`` listeners. They all share one password, :data:`BENCH_PASSWORD`, hashed once with
  the application's Argon2 settings, so a benchmark can log in as any of them.

Titles and names mix Chinese, English and Japanese, built from the word lists (:mod:`ncm.seeding.words`) so that
searches hit realistic match sets: a two-character Chinese word such as ``晴天`` matches
roughly 0.3-1 % of the tracks, a five-letter English prefix such as ``summe`` a similar share.
``search_text`` is exactly :func:`ncm.search.text.document_tokens` of the row (title,
artists in credit order, album title; album: title, artist; artist: name; user: handle,
display name): titles and names are tokenized once per distinct string and merged per row,
and the first rows of every table are checked against ``document_tokens`` itself before
anything is written.

How it stays fast (a million tracks in under a minute on two cores):

* Rows that need Python (names, titles, ``search_text``) stream through one binary ``COPY``
  per table (Python and the COPY's backend keep both cores busy). Track credits, genres,
  renditions and licenses are then ``INSERT ... SELECT generate_series`` on their own
  connection, on one core while the tracks' indexes build on the other; what both sides
  must agree on (a track's album, featured artist, duration) comes from integer formulas
  and lookup tables that the SQL mirrors.
* For a big load (at least half as many rows as the table holds) the table's indexes and
  unique constraints -- the GIN search index, and the primary key unless a foreign key needs
  it -- are dropped inside the table's loading transaction and rebuilt before it commits,
  with a large ``maintenance_work_mem``. An interrupted run rolls back and leaves every
  index in place. (Building a GIN index in bulk is many times cheaper than maintaining it
  row by row; it is still the longest step: about 30 s of one core for a million tracks.)
* The report includes CPU seconds (this process, and each loading connection's backend when
  the database is local): on a shared machine they show the work, whatever the wall time.
* When the role may set ``session_replication_role`` (superusers, or ``GRANT SET ON
  PARAMETER``) and the tables have no triggers of their own, foreign keys are not checked
  row by row: the rows are consistent by construction (the tests check it). Otherwise they
  are checked as usual and each table waits for the tables it references.
* ``ANALYZE`` of every table loaded, so the planner knows the new sizes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from tortoise.transactions import in_transaction

from ncm.catalog.models import Genre
from ncm.errors import InvalidInput
from ncm.kit.db import is_postgres
from ncm.kit.progress import Echo, quiet
from ncm.kit.sql import Bulk, copy_rows, inserted_count, raw_connection, reserve_ids
from ncm.seeding.loading import Loader, Report, can_skip_fk_checks, no_gc, run_all
from ncm.seeding.rows import (
    BENCH_PASSWORD,
    CATALOG_TABLES,
    DURATION_SLOTS,
    FEATURE_SLOTS,
    RENDITIONS,
    STRIDES,
    CatalogRows,
    Plan,
    Ranges,
    UserRows,
    progress,
)
from ncm.seeding.words import GENRES


async def _ensure_genres() -> tuple[dict[str, int], int]:
    """The genres' ids by slug, creating the missing ones; and how many were created."""
    async with in_transaction() as conn:
        bulk = Bulk(conn)
        created = await bulk.insert(
            Genre,
            [{"slug": slug, "name": name} for slug, name, _ in GENRES],
            returning=("id",),
            conflict=("slug",),
        )
        rows = await bulk.select(Genre, ("slug", "id"), {"slug": [g[0] for g in GENRES]})
    return {r["slug"]: r["id"] for r in rows}, len(created)


@dataclass
class _Events:
    albums: asyncio.Event = field(default_factory=asyncio.Event)  # committed
    tracks_copied: asyncio.Event = field(default_factory=asyncio.Event)  # indexes to build
    tracks: asyncio.Event = field(default_factory=asyncio.Event)  # committed


async def _tracks_lane(plan: Plan, catalog: CatalogRows, loader: Loader, done: _Events) -> None:
    """COPY the tracks (Python is the bottleneck), then build their indexes (the GIN index
    takes one core for about 30 s; the track tables fill meanwhile on the other core)."""
    echo, n = loader.report.echo, catalog.n_tracks
    try:
        if not plan.fk_off:
            await done.albums.wait()
        async with loader.report.session("tracks", fk_off=plan.fk_off) as conn:
            async with loader.table(conn, "tracks", n):
                rows = progress(catalog.track_rows(), "tracks", n, echo)
                await copy_rows("tracks", catalog.TRACK_COLUMNS, rows, conn)
                done.tracks_copied.set()
            done.tracks.set()
            await conn.execute("ANALYZE tracks")
    finally:
        done.tracks_copied.set()
        done.tracks.set()


async def _parents_lane(plan: Plan, catalog: CatalogRows, loader: Loader, done: _Events) -> None:
    """Artists and albums: small COPYs from Python."""
    try:
        async with loader.report.session("artists_albums", fk_off=plan.fk_off) as conn:
            for table, columns, rows, n in (
                ("artists", catalog.ARTIST_COLUMNS, catalog.artist_rows(), catalog.n_artists),
                ("albums", catalog.ALBUM_COLUMNS, catalog.album_rows(), catalog.n_albums),
            ):
                async with loader.table(conn, table, n):
                    await copy_rows(table, columns, rows, conn)
            await conn.execute("ANALYZE artists, albums, genres")
    finally:
        done.albums.set()


async def _track_tables_lane(
    plan: Plan, catalog: CatalogRows, loader: Loader, done: _Events
) -> None:
    """The tables SQL fills from id arithmetic: all database work.

    It starts once the tracks are copied, while their indexes build: during the COPY,
    Python and the COPY's backend already keep both cores busy. With foreign keys checked,
    it waits for the tracks to commit. It holds no connection while it waits, so the other
    lanes can have one even from a pool of one.
    """
    await (done.tracks_copied if plan.fk_off else done.tracks).wait()
    async with loader.report.session("track_tables", fk_off=plan.fk_off) as conn:
        await _fill_track_tables(conn, plan, catalog, loader)
        await conn.execute(f"ANALYZE {', '.join(STRIDES)}")


async def _fill_track_tables(conn: Any, plan: Plan, catalog: CatalogRows, loader: Loader) -> None:
    t_first, n = plan.ranges["tracks"]
    t_last = t_first + n - 1
    first = plan.ranges.first

    # Credits: the album's artist at position 0, maybe a featured one at 1 (see credits()).
    async with loader.table(conn, "track_artists", n) as load:
        status = await conn.execute(
            "INSERT INTO track_artists (id, track_id, artist_id, position)"
            " SELECT $1 + 2 * (s.id - $2) + v.position, s.id,"
            "   $3 + CASE WHEN v.position = 0 THEN s.main ELSE (s.main + s.feature) % $6 END,"
            "   v.position"
            " FROM (SELECT id, ($4::int[])[1 + (id - $2) * $7 / $8] AS main,"
            "         ($5::int[])[1 + (id & $9)] AS feature"
            "       FROM generate_series($2::bigint, $10::bigint) id) s"
            " CROSS JOIN LATERAL (VALUES (0::smallint),"
            "   (CASE WHEN s.feature > 0 THEN 1::smallint END)) v(position)"
            " WHERE v.position IS NOT NULL",
            first["track_artists"],
            t_first,
            catalog.a_first,
            catalog.album_artist,
            catalog.feature_offsets,
            catalog.n_artists,
            catalog.n_albums,
            n,
            FEATURE_SLOTS - 1,
            t_last,
        )
        load.rows = inserted_count(status)

    # Renditions: a per-track random draw for each optional quality.
    draws = ", ".join(f"random() AS r{i}" for i in range(len(RENDITIONS)))
    qualities = ", ".join(
        f"({i}, '{q}', {kbps}, '{fmt}', {'true' if share >= 1 else f's.r{i} < {share}'})"
        for i, (q, kbps, fmt, share) in enumerate(RENDITIONS)
    )
    expected = int(sum(n * r[3] for r in RENDITIONS))
    async with loader.table(conn, "renditions", expected) as load:
        status = await conn.execute(
            "INSERT INTO renditions (id, track_id, quality, bitrate, format, size_bytes, path)"
            f" SELECT $1 + {len(RENDITIONS)} * (s.id - $2) + q.slot, s.id, q.quality, q.kbps,"
            "   q.format, s.duration::bigint * q.kbps / 8,"
            "   'scale/' || s.id % 1000 || '/' || s.id || '/' || lower(q.quality)"
            "   || '.' || q.format"
            f" FROM (SELECT id, ($4::int[])[1 + (id & $5)] AS duration, {draws}"
            "       FROM generate_series($2::bigint, $3::bigint) id) s"
            f" CROSS JOIN LATERAL (VALUES {qualities}) q(slot, quality, kbps, format, present)"
            " WHERE q.present",
            first["renditions"],
            t_first,
            t_last,
            catalog.durations,
            DURATION_SLOTS - 1,
        )
        load.rows = inserted_count(status)

    async with loader.table(conn, "licenses", n):
        await conn.execute(
            "INSERT INTO licenses (id, track_id, region, available_from, available_until)"
            " SELECT $1 + (id - $2), id, '*', NULL, NULL"
            " FROM generate_series($2::bigint, $3::bigint) id",
            first["licenses"],
            t_first,
            t_last,
        )

    # Genres: one or two, drawn by weight (pop is common, jazz rare).
    pool = [plan.genre_ids[slug] for slug, _, weight in GENRES for _ in range(weight)]
    async with loader.table(conn, "track_genres", n * 14 // 10) as load:
        status = await conn.execute(
            "INSERT INTO track_genres (id, track_id, genre_id)"
            " SELECT $1 + 2 * (s.id - $2) + v.slot, s.id, v.genre"
            " FROM (SELECT id, ($4::bigint[])[1 + floor(random() * $5)::int] AS g1,"
            "         CASE WHEN random() < 0.45"
            "           THEN ($4::bigint[])[1 + floor(random() * $5)::int] END AS g2"
            "       FROM generate_series($2::bigint, $3::bigint) id) s"
            " CROSS JOIN LATERAL (VALUES (0, s.g1),"
            "   (1, CASE WHEN s.g2 <> s.g1 THEN s.g2 END)) v(slot, genre)"
            " WHERE v.genre IS NOT NULL",
            first["track_genres"],
            t_first,
            t_last,
            pool,
            len(pool),
        )
        load.rows = inserted_count(status)


async def _users_lane(plan: Plan, loader: Loader) -> None:
    from ncm.accounts.passwords import hash_password

    generator = UserRows(plan, await hash_password(BENCH_PASSWORD))
    generator.self_check()
    n = generator.count
    async with loader.report.session("users", fk_off=plan.fk_off) as conn:
        async with loader.table(conn, "users", n):
            rows = progress(generator.rows(), "users", n, loader.report.echo)
            await copy_rows("users", UserRows.COLUMNS, rows, conn)
        await conn.execute("ANALYZE users")


async def seed_catalog(
    *,
    tracks: int,
    users: int,
    echo: Echo = quiet,
    rebuild_indexes: bool | None = None,
    seed: int | None = None,
) -> dict[str, object]:
    """Add ``tracks`` tracks (with their artists, albums, ...) and ``users`` users.

    ``rebuild_indexes``: drop and rebuild indexes around each table's load; ``None`` decides
    per table (at least 10,000 rows and half the table's size). ``seed`` makes the values
    reproducible (by default it derives from the first new ids). Returns rows per table,
    seconds per phase and rows per second.
    """
    if not is_postgres():
        raise InvalidInput("seed scale needs PostgreSQL")
    if tracks < 0 or users < 0:
        raise InvalidInput("Counts cannot be negative.")
    started = perf_counter()
    cpu_started = time.process_time()
    report = Report(echo)
    fk_off = await can_skip_fk_checks([*CATALOG_TABLES, "users"])
    ranges = Ranges()
    counts = {"artists": max(1, tracks // 20), "albums": max(1, tracks // 8), "tracks": tracks}
    genre_ids: dict[str, int] = {}
    genres_created = 0
    async with raw_connection() as conn:
        if tracks:
            genre_ids, genres_created = await _ensure_genres()
            for table, count in counts.items():
                ranges.first[table] = await reserve_ids(conn, table, count)
                ranges.count[table] = count
            for table, stride in STRIDES.items():
                ranges.first[table] = await reserve_ids(conn, table, stride * tracks)
        if users:
            ranges.first["users"] = await reserve_ids(conn, "users", users)
            ranges.count["users"] = users
    plan = Plan(
        tracks=tracks,
        users=users,
        rebuild=rebuild_indexes,
        fk_off=fk_off,
        ranges=ranges,
        genre_ids=genre_ids,
        seed=seed if seed is not None else ranges["tracks"][0] * 7919 + ranges["users"][0],
    )
    loader = Loader(plan.rebuild, report)
    echo(
        f"scale seed: {tracks:,} tracks and {users:,} users"
        + ("" if fk_off else " (this role cannot skip foreign key checks: slower)")
    )
    with no_gc():
        if tracks:
            cpu_catalog = time.process_time()
            async with report.phase("catalog"):
                catalog = CatalogRows(plan)
                catalog.self_check()
                report.seconds["catalog_prepare"] = round(perf_counter() - started, 2)
                done = _Events()
                await run_all(
                    _tracks_lane(plan, catalog, loader, done),
                    _track_tables_lane(plan, catalog, loader, done),
                    _parents_lane(plan, catalog, loader, done),
                )
            report.cpu["python_catalog"] = round(time.process_time() - cpu_catalog, 2)
            echo(f"catalog: {tracks:,} tracks in {report.seconds['catalog']:.1f}s")
        if users:
            cpu_users = time.process_time()
            async with report.phase("users"):
                await _users_lane(plan, loader)
            report.cpu["python_users"] = round(time.process_time() - cpu_users, 2)
            echo(f"users: {users:,} in {report.seconds['users']:.1f}s")
    total = perf_counter() - started
    rows = sum(report.rows.values())
    result: dict[str, object] = {f"rows_{t}": n for t, n in report.rows.items()}
    result["rows_total"] = rows
    result["genres_created"] = genres_created
    result["first_track_id"] = ranges["tracks"][0] or None
    result["first_user_id"] = ranges["users"][0] or None
    result["user_password"] = BENCH_PASSWORD if users else None
    result["foreign_key_checks"] = "skipped (replica role)" if fk_off else "row by row"
    result.update({f"seconds_{k}": round(v, 2) for k, v in report.seconds.items()})
    result["seconds_total"] = round(total, 2)
    # CPU seconds used (this process; each loading connection's backend when local): on a
    # shared machine they show the work done, whatever the wall time.
    result.update({f"cpu_seconds_{k}": v for k, v in report.cpu.items()})
    result["cpu_seconds_python_total"] = round(time.process_time() - cpu_started, 2)
    result["rows_per_second"] = round(rows / total) if total else 0
    return result
