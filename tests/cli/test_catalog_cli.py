"""``ncm catalog import`` end to end.

The import runs the command in-process (``tests.cli.helpers.ncm``: a worker thread with its
own event loop and Tortoise context, beside the test session's). The results are checked
through the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ncm.catalog.models import Album, Artist, License, Track
from ncm.cli.main import app
from ncm.search.text import document_tokens
from tests.cli.helpers import ncm

GOOD = [
    {
        "isrc": "CNA0K2300001",
        "external_id": "t-1",
        "title": "晴天",
        "artists": [{"name": "周杰伦", "external_id": "a-1", "region": "TW"}],
        "album": {"title": "叶惠美", "external_id": "al-1", "release_date": "2003-07-31"},
        "duration_ms": 269000,
        "genres": ["pop"],
        "licenses": [{"region": "*"}],
    },
    {
        "isrc": "JPA1B2400002",
        "title": "夜に駆ける",
        "artists": ["YOASOBI"],
        "album": "THE BOOK",
        "duration_ms": 261000,
        "language": "ja",
        "fee_policy": "MEMBERS_ONLY",
    },
    {
        "external_id": "t-3",
        "title": "Café del Mar",
        "artists": ["Energy 52"],
        "duration_ms": 453000,
        "licenses": ["DE", "FR"],
    },
]


def jsonl(path: Path, *rows: dict[str, Any] | str) -> Path:
    path.write_text(
        "".join(
            (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
        ),
        encoding="utf-8",
    )
    return path


def test_help_describes_the_command() -> None:
    result = CliRunner().invoke(app, ["catalog", "import", "--help"])
    assert result.exit_code == 0
    assert "--json" in result.output
    assert "Exit status" in result.output


async def test_import_all_good_exits_0_and_reimport_changes_nothing(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "catalog.jsonl", *GOOD)

    first = ncm("catalog", "import", str(path), "--json")

    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["created"], report["updated"], report["unchanged"]) == (3, 0, 0)
    assert (report["rejected"], report["rows"], report["artists_created"]) == ([], 3, 3)
    sunny = await Track.get(isrc="CNA0K2300001")
    assert sunny.search_text == document_tokens("晴天", "周杰伦", "叶惠美")
    assert (await Album.get(id=sunny.album_id)).title == "叶惠美"
    cafe = await Track.get(external_id="t-3")
    assert sorted(await License.filter(track_id=cafe.id).values_list("region", flat=True)) == [
        "DE",
        "FR",
    ]

    again = ncm("catalog", "import", str(path), "--json")

    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == 3
    assert await Track.all().count() == 3
    assert await Artist.all().count() == 3


async def test_rejected_rows_exit_1_and_the_good_rows_land(tmp_path: Path) -> None:
    bad_title = {**GOOD[1], "isrc": "JPA1B2400003", "title": ""}
    path = jsonl(tmp_path / "catalog.jsonl", GOOD[0], bad_title, "{oops", GOOD[2])

    result = ncm("catalog", "import", str(path), "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["created"] == 2
    assert [r["line"] for r in report["rejected"]] == [2, 3]
    assert report["rejected"][0]["reason"] == "title is missing"
    assert report["rejected"][1]["reason"].startswith("malformed JSON")
    assert set(await Track.all().values_list("title", flat=True)) == {"晴天", "Café del Mar"}


async def test_table_output_lists_the_rejected_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(
        "isrc,title,artists,duration_ms,fee_policy\n"
        "CNA0K2300001,晴天,周杰伦,269000,FREE\n"
        "CNA0K2300002,稻香,周杰伦,223000,GRATIS\n",
        encoding="utf-8",
    )

    result = ncm("catalog", "import", str(path))

    assert result.returncode == 1, result.stderr
    assert "tracks created" in result.stdout
    assert "rejected rows" in result.stdout
    assert "unknown fee_policy" in result.stdout
    assert await Track.filter(title="晴天").exists()
    assert not await Track.filter(title="稻香").exists()


async def test_files_that_cannot_be_read_exit_2(tmp_path: Path) -> None:
    missing = ncm("catalog", "import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2
    assert "no such file" in missing.stderr

    xml = tmp_path / "catalog.xml"
    xml.write_text("<tracks/>")
    unknown = ncm("catalog", "import", str(xml), "--json")
    assert unknown.returncode == 2
    assert "unknown file type" in unknown.stderr
    assert unknown.stdout == ""

    header = tmp_path / "catalog.csv"
    header.write_text("isrc,name\nCNA0K2300001,晴天\n", encoding="utf-8")
    bad_header = ncm("catalog", "import", str(header))
    assert bad_header.returncode == 2
    assert "unknown column" in bad_header.stderr

    assert await Track.all().count() == 0
