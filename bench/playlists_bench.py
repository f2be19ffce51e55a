"""Playlist edit latency on a 10,000-entry playlist (issue #3's target: p99 < 20 ms).

    python -m bench.playlists_bench [--database-url postgres://postgres@127.0.0.1/ncm_bench_playlists]
                                    [--edits 300]

Creates (or reuses) its own PostgreSQL database, a user, 200 tracks and a playlist of 9,999
entries (an add takes it to the 10,000 limit), then times, one at a time, appending one track, inserting one at a random position, and moving
a random range (1-10 entries) to a random place, each through the GraphQL mutation in
process (ASGI, no network) and through the service call alone. Each edit keeps the playlist
at 10,000 entries (an add is followed by an untimed removal).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from typing import Any

DEFAULT_URL = "postgres://postgres@127.0.0.1/ncm_bench_playlists"
# One short of the 10,000 limit, so an add takes it to exactly 10,000 (then it is trimmed).
SIZE = 9_999


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(name: str, ms: list[float]) -> None:
    print(
        f"{name:<34} n={len(ms):<4} p50={pct(ms, 50):6.2f} ms  p90={pct(ms, 90):6.2f} ms  "
        f"p99={pct(ms, 99):6.2f} ms  max={max(ms):6.2f} ms  mean={statistics.mean(ms):6.2f} ms"
    )


async def prepare(url: str) -> tuple[Any, int, list[int]]:
    import asyncpg

    admin = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1].split("?")[0]
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    os.environ["NCM_DATABASE_URL"] = url
    os.environ.setdefault("NCM_LOG_LEVEL", "WARNING")
    os.environ["NCM_ARGON2_TIME_COST"] = "1"
    os.environ["NCM_ARGON2_MEMORY_KIB"] = "1024"
    from ncm.config import reset_settings

    reset_settings()
    from ncm.kit.db import init_db
    from ncm.kit.migrate import upgrade

    await upgrade(url)
    await init_db(url)

    from ncm.accounts import service as accounts
    from ncm.accounts.models import User
    from ncm.catalog.models import Artist, Track
    from ncm.playlists.models import Playlist, PlaylistEntry
    from ncm.playlists.ordering import GAP
    from ncm.playlists.service import create_playlist

    user = await User.get_or_none(handle="playlistbench")
    if user is None:
        user = await accounts.create_user(
            "playlistbench@example.com", "playlistbench", "bench-password-1"
        )
    artist = await Artist.create(name="Bench artist")
    tracks = [await Track.create(title=f"Bench {i}", duration_ms=180_000) for i in range(200)]
    assert artist
    playlist = await create_playlist(user, title="10k bench", allow_duplicates=True)
    rows = [
        PlaylistEntry(playlist_id=playlist.id, track_id=tracks[i % 200].id, sort_key=(i + 1) * GAP)
        for i in range(SIZE)
    ]
    await PlaylistEntry.bulk_create(rows, batch_size=5000)
    await Playlist.filter(id=playlist.id).update(entry_count=SIZE)
    return user, playlist.id, [t.id for t in tracks]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--edits", type=int, default=300)
    args = parser.parse_args()
    user, playlist_id, track_ids = await prepare(args.database_url)

    import httpx

    from ncm.accounts.tokens import issue_access_token
    from ncm.app import create_app
    from ncm.playlists import entries
    from ncm.playlists.models import PlaylistEntry
    from ncm.schema.base import to_global_id

    rng = random.Random(7)
    token, _ = issue_access_token(user.id, 0)
    app = create_app(manage_db=False)
    headers = {"authorization": f"Bearer {token}"}
    pid = to_global_id("Playlist", playlist_id)
    add_doc = """mutation($p: ID!, $t: [ID!]!, $pos: Int) { addTracksToPlaylist(playlistId: $p,
      trackIds: $t, position: $pos) { __typename ... on AddTracksPayload { added { id } } } }"""
    move_doc = """mutation($p: ID!, $s: Int!, $n: Int!, $b: Int!) { movePlaylistEntries(
      playlistId: $p, rangeStart: $s, rangeLength: $n, insertBefore: $b) { __typename } }"""

    async def trim() -> None:
        newest = await PlaylistEntry.filter(playlist_id=playlist_id).order_by("-id").first()
        assert newest is not None
        await entries.remove_entries(user, playlist_id, [newest.id])

    names = ("append gql", "insert gql", "move gql", "append svc", "insert svc", "move svc")
    timings: dict[str, list[float]] = {k: [] for k in names}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(args.edits):
            position = rng.randrange(0, 10_000)
            start = rng.randrange(0, SIZE - 10)
            length = rng.randrange(1, 11)
            before = rng.choice(
                [rng.randrange(0, start + 1), rng.randrange(start + length, SIZE + 1)]
            )
            track = to_global_id("Track", rng.choice(track_ids))
            for name, pos in (("append gql", None), ("insert gql", position)):
                t0 = time.perf_counter()
                r = await client.post(
                    "/graphql",
                    headers=headers,
                    json={"query": add_doc, "variables": {"p": pid, "t": [track], "pos": pos}},
                )
                timings[name].append((time.perf_counter() - t0) * 1000)
                kind = r.json()["data"]["addTracksToPlaylist"]["__typename"]
                assert kind == "AddTracksPayload", r.text
                await trim()
            t0 = time.perf_counter()
            r = await client.post(
                "/graphql",
                headers=headers,
                json={
                    "query": move_doc,
                    "variables": {"p": pid, "s": start, "n": length, "b": before},
                },
            )
            timings["move gql"].append((time.perf_counter() - t0) * 1000)
            assert r.json()["data"]["movePlaylistEntries"]["__typename"] == "PlaylistPayload", (
                r.text
            )
            for name, pos in (("append svc", None), ("insert svc", position)):
                t0 = time.perf_counter()
                await entries.add_tracks(user, playlist_id, [rng.choice(track_ids)], position=pos)
                timings[name].append((time.perf_counter() - t0) * 1000)
                await trim()
            t0 = time.perf_counter()
            await entries.move_entries(
                user, playlist_id, range_start=start, range_length=length, insert_before=before
            )
            timings["move svc"].append((time.perf_counter() - t0) * 1000)
    count = await PlaylistEntry.filter(playlist_id=playlist_id).count()
    print(f"playlist {playlist_id}: {count} entries after the run (should be 9999)")
    for name, ms in timings.items():
        report(f"{name} (10,000-entry playlist)", ms)
    from ncm.kit.db import close_db

    await close_db()


if __name__ == "__main__":
    asyncio.run(main())
