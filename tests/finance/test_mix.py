"""The listening mix: counted plays by the main artist's region and by genre, per month,
the same from play_events and from the daily rollup."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

from ncm.finance import mix
from ncm.finance.models import PlayRollup
from ncm.stream.models import PlayEvent
from tests import factories

_ids = itertools.count(1)


async def play(track: Any, day: str, seconds: int = 200) -> None:
    started = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
    await PlayEvent.create(
        play_id=f"play-{next(_ids):08d}",
        user_id=1,
        track_id=track.id,
        started_at=started,
        day=started.date(),
        seconds_played=seconds,
        counted=seconds >= 30,
    )


async def _example() -> dict[str, Any]:
    cn = await factories.artist("Jay")
    cn.region = "CN"
    await cn.save()
    us = await factories.artist("Deadmau5")
    us.region = "US"
    await us.save()
    mando = await factories.track(artists=[cn, us], genres=["mandopop"])
    edm = await factories.track(artists=[us], genres=["electronic"])
    for _ in range(3):
        await play(mando, "2024-01-05")
    await play(edm, "2024-01-06")
    await play(edm, "2024-01-07", seconds=10)  # not counted
    await play(edm, "2024-02-01")
    return {"mando": mando, "edm": edm}


async def test_worked_example_of_the_mix() -> None:
    await _example()
    jan, feb = await mix.listening_mix("2024-01", "2024-02")
    assert jan["plays"] == 4
    assert [(r["region"], r["plays"], r["share"]) for r in jan["regions"]] == [
        ("CN", 3, "0.7500"),
        ("INTERNATIONAL", 1, "0.2500"),
    ]
    assert [(g["genre"], g["share"]) for g in jan["genres"]] == [
        ("mandopop", "0.7500"),
        ("electronic", "0.2500"),
    ]
    assert (jan["domestic_share"], jan["international_share"]) == ("0.7500", "0.2500")
    assert feb["plays"] == 1 and feb["regions"][0]["region"] == "INTERNATIONAL"


async def test_rollup_gives_the_same_figures_and_is_idempotent() -> None:
    await _example()
    direct = await mix.listening_mix("2024-01", "2024-02")
    for _ in range(2):
        written = await mix.rollup_recent(today=date(2024, 2, 2), days=31)
    assert written == 3  # (5 Jan, mando), (6 Jan, edm), (1 Feb, edm)
    assert await PlayRollup.all().count() == 3
    assert await mix.listening_mix("2024-01", "2024-02") == direct
    # a rolled-up day is read from the rollup, not from play_events
    await PlayRollup.filter(day=date(2024, 1, 5)).update(plays=30)
    jan = (await mix.listening_mix("2024-01", "2024-01"))[0]
    assert jan["plays"] == 31


async def test_unknown_region_and_no_genre() -> None:
    nowhere = await factories.artist("Anon")
    track = await factories.track(artists=[nowhere], genres=[])
    await play(track, "2024-03-03")
    (m,) = await mix.listening_mix("2024-03", "2024-03")
    assert m["regions"] == [{"region": "UNKNOWN", "plays": 1, "share": "1.0000"}]
    assert m["genres"][0]["genre"] == "(none)"


async def test_a_play_counts_once_by_region_and_once_in_each_genre() -> None:
    """The mix joins each track's genres once for both figures: a track with three genres
    still counts each play once by region, and once in each of its genres."""
    hk = await factories.artist("Eason")
    hk.region = "hk"
    await hk.save()
    track = await factories.track(artists=[hk], genres=["cantopop", "ballad", "rock"])
    plain = await factories.track(artists=[hk], genres=[])
    for day in ("2024-04-01", "2024-04-02"):
        await play(track, day)
    await play(plain, "2024-04-03")
    await mix.rollup_recent(today=date(2024, 4, 5), days=3)  # 2-4 April rolled, 1 April not
    (m,) = await mix.listening_mix("2024-04", "2024-04")
    assert m["plays"] == 3
    assert m["regions"] == [{"region": "HK", "plays": 3, "share": "1.0000"}]
    assert [(g["genre"], g["plays"]) for g in m["genres"]] == [
        ("ballad", 2),
        ("cantopop", 2),
        ("rock", 2),
        ("(none)", 1),
    ]
