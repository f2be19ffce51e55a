"""``/stream``: byte ranges, conditional requests, previews and refusals over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ncm.stream.signing import Grant, sign
from tests.stream.helpers import expected_bytes, media_file

pytestmark = pytest.mark.asyncio
SIZE = 10_000
KEYS = {"k1": "dev-insecure-stream-key-change-me"}


def url(
    byte_range: tuple[int, int] | None = None,
    *,
    path: str = "s/a.mp3",
    expires: int | None = None,
    keys: dict[str, str] = KEYS,
) -> str:
    grant = Grant(1, 2, path, 3, expires or int(time.time()) + 600, next(iter(keys)), byte_range)
    return sign(grant, keys)


@pytest.fixture(autouse=True)
def audio() -> None:
    media_file("s/a.mp3", SIZE)


async def test_whole_file_with_validators(http: Any) -> None:
    got = await http.get(url())
    assert got.status_code == 200 and got.content == expected_bytes(0, SIZE - 1)
    assert got.headers["accept-ranges"] == "bytes"
    assert got.headers["content-length"] == str(SIZE)
    assert got.headers["content-type"] == "audio/mpeg"
    assert got.headers["etag"].startswith('"') and got.headers["last-modified"]
    head = await http.head(url())
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(SIZE)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=9000-", 9000, SIZE - 1),
        ("bytes=-500", SIZE - 500, SIZE - 1),
        ("bytes=9990-20000", 9990, SIZE - 1),
    ],
)
async def test_ranges(http: Any, header: str, start: int, end: int) -> None:
    got = await http.get(url(), headers={"range": header})
    assert got.status_code == 206
    assert got.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
    assert got.headers["content-length"] == str(end - start + 1)
    assert got.content == expected_bytes(start, end)


async def test_unsatisfiable_and_ignored_ranges(http: Any) -> None:
    got = await http.get(url(), headers={"range": f"bytes={SIZE}-"})
    assert got.status_code == 416 and got.headers["content-range"] == f"bytes */{SIZE}"
    several = await http.get(url(), headers={"range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and len(several.content) == SIZE
    other_unit = await http.get(url(), headers={"range": "items=0-1"})
    assert other_unit.status_code == 200


async def test_conditional_requests(http: Any) -> None:
    first = await http.get(url())
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    same = await http.get(url(), headers={"if-none-match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == etag
    assert (await http.get(url(), headers={"if-modified-since": modified})).status_code == 304
    assert (await http.get(url(), headers={"if-none-match": '"other"'})).status_code == 200
    stale = await http.get(url(), headers={"range": "bytes=0-9", "if-range": '"old"'})
    assert stale.status_code == 200 and len(stale.content) == SIZE
    fresh = await http.get(url(), headers={"range": "bytes=0-9", "if-range": etag})
    assert fresh.status_code == 206 and len(fresh.content) == 10


async def test_preview_window(http: Any) -> None:
    preview = url((0, 2999))
    whole = await http.get(preview)
    assert whole.status_code == 206 and whole.headers["content-range"] == f"bytes 0-2999/{SIZE}"
    assert whole.content == expected_bytes(0, 2999)
    open_ended = await http.get(preview, headers={"range": "bytes=1000-"})
    assert open_ended.headers["content-range"] == f"bytes 1000-2999/{SIZE}"
    for header in ("bytes=2000-3000", "bytes=-100", "bytes=5000-5010"):
        got = await http.get(preview, headers={"range": header})
        assert got.status_code == 403 and got.json()["error"] == "OUTSIDE_PREVIEW"


async def test_refusals_leak_nothing(http: Any) -> None:
    tampered = url().replace("u=3", "u=4")
    cases = [
        (tampered, 403, "SIGNATURE_INVALID"),
        (url(expires=int(time.time()) - 1), 410, "URL_EXPIRED"),
        (url(keys={"k9": "x"}), 403, "UNKNOWN_KEY"),
        (url().split("&s=")[0], 400, "MALFORMED_URL"),
        (url(path="s/missing.mp3"), 404, "NOT_FOUND"),
    ]
    for target, status, code in cases:
        got = await http.get(target)
        assert (got.status_code, got.json()["error"]) == (status, code), target
        assert "dev-insecure" not in got.text and "media" not in got.text
        assert got.headers["cache-control"] == "no-store"


async def test_paths_cannot_leave_the_media_root(http: Any, tmp_path: Any) -> None:
    from ncm.stream.http import _resolve

    (tmp_path / "root").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    assert _resolve(tmp_path / "root", "../secret.txt") is None
    got = await http.get(url(path="../../etc/passwd"))
    assert got.status_code == 404 and "root:" not in got.text


async def test_tampered_urls_are_refused_not_errors(http: Any) -> None:
    good = url()
    non_ascii_signature = good.rsplit("s=", 1)[0] + "s=%C3%A9%C3%A9%C3%A9"
    superscript_user = good.replace("u=3", "u=%C2%B2")  # '²' passes str.isdigit
    arabic_digits = good.replace("u=3", "u=%D9%A3")  # '٣': a digit, but not ours
    statuses = [
        (await http.get(u)).status_code
        for u in (non_ascii_signature, superscript_user, arabic_digits)
    ]
    assert statuses == [403, 400, 400]


@pytest.mark.parametrize(
    "header", ["bytes=abc-5", "bytes=5-abc", "bytes=²-5", "bytes=+1-5", "bytes=-", "bytes= 1 - 5"]
)
async def test_ranges_that_are_not_numbers_are_ignored(http: Any, header: str) -> None:
    got = await http.get(url(), headers={"range": header.encode()})
    assert got.status_code == 200 and len(got.content) == SIZE
