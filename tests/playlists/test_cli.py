from __future__ import annotations

import json
from pathlib import Path

from ncm.playlists import entries
from ncm.playlists.models import PlaylistEntry
from tests import factories
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import make_user
from tests.playlists.helpers import playlist_of


async def _mix() -> tuple[object, object]:
    owner = await make_user("djane")
    jay = await factories.artist("周杰伦")
    a = await factories.track("晴天", artists=[jay], isrc="TWK970300101")
    b = await factories.track("Blue Hour", artists=[await factories.artist("Nova")])
    p = await playlist_of(owner, title="Export me")
    await entries.add_tracks(owner, p.id, [a.id, b.id])
    return owner, p


async def test_show_and_export_json_and_m3u(tmp_path: Path) -> None:
    _, p = await _mix()
    shown = ncm_json("playlists", "show", str(p.id))  # type: ignore[attr-defined]
    assert shown["title"] == "Export me" and shown["entry_count"] == 2
    assert [e["title"] for e in shown["entries"]] == ["晴天", "Blue Hour"]
    out = ncm("playlists", "export", str(p.id), "--format", "json")  # type: ignore[attr-defined]
    data = json.loads(out.stdout)
    nowhere = ncm("playlists", "export", str(p.id), "-o", str(tmp_path / "no" / "x.json"))  # type: ignore[attr-defined]
    assert nowhere.returncode == 1 and "cannot write" in nowhere.stderr
    assert "Traceback" not in nowhere.stderr
    assert data["owner"] == "djane" and data["entries"][0]["isrc"] == "TWK970300101"
    m3u = ncm("playlists", "export", str(p.id), "--format", "m3u").stdout  # type: ignore[attr-defined]
    assert m3u.startswith("#EXTM3U\n#PLAYLIST:Export me\n#EXTINF:200,周杰伦 - 晴天\n")
    assert "urn:isrc:TWK970300101" in m3u and "ncm:track:" in m3u
    missing = ncm("playlists", "show", "424242")
    assert missing.returncode == 1 and "424242" in missing.stderr


async def test_import_round_trip_and_unmatched_lines(tmp_path: Path) -> None:
    owner, p = await _mix()
    m3u = tmp_path / "mix.m3u"
    exported = ncm("playlists", "export", str(p.id), "--format", "m3u").stdout  # type: ignore[attr-defined]
    m3u.write_text(exported + "#EXTINF:100,Nobody - Not In Catalog\n/music/missing.mp3\n")
    result = ncm("playlists", "import", str(m3u), "--owner", "djane", "--json")
    assert result.returncode == 1  # one line did not match
    report = json.loads(result.stdout)
    assert report["matched"] == 2 and report["unmatched_lines"] == [
        {"line": 8, "entry": "Not In Catalog"}
    ]
    new_entries = (
        await PlaylistEntry.filter(playlist_id=report["playlist_id"])
        .order_by("sort_key")
        .values_list("track_id", flat=True)
    )
    old_entries = (
        await PlaylistEntry.filter(playlist_id=p.id)
        .order_by("sort_key")
        .values_list(  # type: ignore[attr-defined]
            "track_id", flat=True
        )
    )
    assert new_entries == old_entries
    as_json = tmp_path / "mix.json"
    as_json.write_text(
        json.dumps(
            {
                "title": "From JSON",
                "entries": [{"title": "blue hour", "artists": ["NOVA"]}, {"isrc": "TWK-970300101"}],
            }
        )
    )
    ok = ncm_json("playlists", "import", str(as_json), "--owner", "djane")
    assert ok["matched"] == 2 and ok["unmatched"] == 0
    assert owner


async def test_import_failures() -> None:
    await make_user("djane")
    missing = ncm("playlists", "import", "/nonexistent.m3u", "--owner", "djane")
    assert missing.returncode == 1 and "Cannot read" in missing.stderr
    nobody = ncm("playlists", "import", "/nonexistent.m3u", "--owner", "ghost")
    assert nobody.returncode == 1 and "ghost" in nobody.stderr
