"""``ncm seed demo``: the demo data, the catalog it writes, its audio, idempotency.

The first seed of a test session generates every audio file of the real defaults (about
60 MB); later seeds in the session find them in the temporary media root and keep them.
"""

from __future__ import annotations

import re
import shutil
import wave
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from ncm.accounts.models import Role, User
from ncm.catalog.models import (
    Album,
    Artist,
    FeePolicy,
    Genre,
    License,
    Quality,
    Rendition,
    Track,
    TrackStatus,
)
from ncm.config import get_settings
from ncm.search.service import SearchType, search
from ncm.seeding import demo_data
from ncm.seeding.demo import build_records, planned_bytes, seed_demo
from tests import factories

# The audio of the first seed is kept for the module's later seeds: on one xdist worker it is
# synthesized once (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("demo-media")

ISRC = re.compile(r"^[A-Z]{2}[A-Z0-9]{3}\d{7}$")
TRACKS = demo_data.TRACKS


@pytest.fixture(scope="module", autouse=True)
def demo_media() -> Iterator[None]:
    """Leave no demo audio behind in the temporary data folder."""
    yield
    shutil.rmtree(get_settings().media_root / "demo", ignore_errors=True)


def test_demo_data_is_believable_and_complete() -> None:
    assert 30 <= len(TRACKS) <= 40
    assert all(ISRC.match(t.isrc) for t in TRACKS)
    assert len({t.isrc for t in TRACKS}) == len({t.id for t in TRACKS}) == len(TRACKS)
    assert {g for t in TRACKS for g in t.genres} == set(demo_data.GENRES)
    languages = Counter(t.language for t in TRACKS)
    assert languages["zh"] >= 10 and languages["ja"] >= 2 and languages["ko"] >= 2
    assert languages["en"] >= 8 and languages[None] >= 3  # instrumentals
    assert {t.fee_policy for t in TRACKS} == set(FeePolicy)
    assert [t.title for t in TRACKS if t.status == TrackStatus.WITHDRAWN] == ["慢车"]
    assert {g for t in TRACKS if t.explicit for g in t.genres} == {"hip-hop"}
    assert all(15 <= t.seconds <= 30 and t.qualities[0] == Quality.STANDARD for t in TRACKS)
    assert {q for t in TRACKS for q in t.qualities} == set(Quality)
    assert sum(Quality.HIRES in t.qualities for t in TRACKS) == 2
    lossless = sum(Quality.LOSSLESS in t.qualities for t in TRACKS)
    assert 0.25 < lossless / len(TRACKS) < 0.4
    licenses = [lic for t in TRACKS for lic in t.licenses]
    now = datetime.now(UTC).isoformat()
    assert sum(lic.available_from is not None and lic.available_from > now for lic in licenses)
    assert sum(lic.available_until is not None and lic.available_until < now for lic in licenses)
    assert {lic.region for lic in licenses} == {"*", "CN", "HK", "TW"}
    assert planned_bytes() < 60 * 2**20


def test_records_match_the_audio_they_point_at() -> None:
    records = build_records()
    assert [r["external_id"] for r in records] == [f"demo-t-{t.id}" for t in TRACKS]
    first = records[0]
    assert first["renditions"][0] == {
        "quality": "STANDARD",
        "bitrate": 128,
        "format": "wav",
        "size_bytes": 44 + 15 * 8000 * 2,
        "path": "demo/demo-t-1/standard.wav",
    }
    assert first["duration_ms"] == 15_000


async def test_seed_demo_writes_the_catalog_audio_and_users() -> None:
    report = await seed_demo(if_empty=True)  # the catalog is empty: --if-empty seeds it

    assert report["skipped"] is False
    assert report["tracks_created"] == len(TRACKS) == await Track.all().count()
    assert report["audio_files"] == sum(len(t.qualities) for t in TRACKS)
    assert report["media_bytes"] == planned_bytes()
    assert await Artist.all().count() == report["artists"] == len(demo_data.ARTISTS)
    assert await Album.all().count() == report["albums"] == len(demo_data.ALBUMS)
    assert set(await Genre.all().values_list("slug", flat=True)) == set(demo_data.GENRES)
    hip_hop = await Track.filter(genre_links__genre__slug="hip-hop").values_list("title", flat=True)
    assert "凌晨四点的便利店" in hip_hop and "Concrete Garden" in hip_hop
    withdrawn = await Track.get(status=TrackStatus.WITHDRAWN)
    assert withdrawn.title == "慢车"
    assert await License.filter(region="HK").count() == 3
    roles = dict(await User.all().values_list("handle", "role"))
    assert roles == {"admin": Role.ADMIN, "listener": Role.LISTENER, "moderator": Role.MODERATOR}

    # Every rendition is a real file whose length and bitrate are the catalog's.
    media_root = get_settings().media_root
    renditions = await Rendition.all().select_related("track")
    assert len(renditions) == report["audio_files"]
    for rendition in renditions:
        path = media_root / rendition.path
        assert path.stat().st_size == rendition.size_bytes
        with wave.open(str(path)) as wav:
            frames, rate = wav.getnframes(), wav.getframerate()
            bits = rate * wav.getnchannels() * wav.getsampwidth() * 8
        assert frames * 1000 == rendition.track.duration_ms * rate
        assert bits // 1000 == rendition.bitrate


async def test_demo_titles_are_searchable_in_every_script() -> None:
    await seed_demo()

    for query, title in (
        ("夜航", "霓虹夜航"),
        ("飞机", "纸飞机没有回信"),
        ("サイレン", "夏雲サイレン"),
        ("정류장", "새벽 정류장"),
        ("ferris", "Midnight Ferris Wheel"),
    ):
        page = await search(query, [SearchType.TRACK], 10, None)
        expected = await Track.get(title=title)
        assert [hit.id for hit in page.items] == [expected.id], query
    artists = await search("霓虹工厂", [SearchType.ARTIST], 10, None)
    assert [hit.id for hit in artists.items] == [(await Artist.get(name="霓虹工厂")).id]


async def test_seeding_twice_changes_nothing() -> None:
    await seed_demo()
    before = await Track.all().order_by("id").values_list("id", "updated_at")
    counts = [await m.all().count() for m in (Artist, Album, Track, Rendition, License, User)]

    again = await seed_demo()

    assert again["skipped"] is False
    assert (again["tracks_created"], again["tracks_updated"]) == (0, 0)
    assert again["tracks_unchanged"] == len(TRACKS)
    assert (again["users_created"], again["audio_files_written"], again["bytes_written"]) == (
        0,
        0,
        0,
    )
    assert await Track.all().order_by("id").values_list("id", "updated_at") == before
    assert [await m.all().count() for m in (Artist, Album, Track, Rendition, License, User)] == (
        counts
    )


async def test_if_empty_skips_a_catalog_that_has_tracks() -> None:
    existing = await factories.track("Already here")

    report = await seed_demo(if_empty=True)

    assert report["skipped"] is True
    assert report["tracks_created"] == report["users_created"] == report["bytes_written"] == 0
    assert [t.id for t in await Track.all()] == [existing.id]
    assert not await User.exists()


async def test_existing_demo_users_are_left_alone() -> None:
    from tests.conftest import make_user

    admin = await make_user("admin", role=Role.LISTENER)  # someone took the handle

    report = await seed_demo()

    assert report["users_created"] == 2
    await admin.refresh_from_db()
    assert admin.role == Role.LISTENER and admin.email == "admin@example.com"
    assert not await User.filter(email="admin@demo.ncm").exists()


async def test_cli_seed_demo_also_creates_the_default_membership_plans() -> None:
    from ncm.billing.models import Plan
    from tests.cli.helpers import ncm_json

    await factories.track("Already here")  # --if-empty skips the catalog (and its audio)

    report = ncm_json("seed", "demo", "--if-empty", "--json")
    again = ncm_json("seed", "demo", "--if-empty", "--json")

    assert report["skipped"] is True
    assert report["membership_plans"] == again["membership_plans"] == 2
    assert sorted(await Plan.all().values_list("currency", flat=True)) == ["CNY", "CNY"]
