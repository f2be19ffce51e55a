"""Signed URLs: a round trip, and every way a URL is refused."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from ncm.stream.signing import Grant, SignatureRefused, sign, signing_key_id, url_path, verify

KEYS = {"k2": "new-secret", "k1": "old-secret"}
GRANT = Grant(12, 34, "t/12/exhigh.mp3", 7, 2_000_000_000, "k2", (0, 9999))


def check(url: str, keys: dict[str, str] = KEYS, now: float = 1_900_000_000) -> Grant:
    parts = urlsplit(url)
    _, _, track, rendition, path = parts.path.split("/", 4)
    return verify(int(track), int(rendition), path, dict(parse_qsl(parts.query)), keys, now)


def refused(url: str, **kwargs: object) -> tuple[int, str]:
    with pytest.raises(SignatureRefused) as caught:
        check(url, **kwargs)  # type: ignore[arg-type]
    return caught.value.status, caught.value.code


def test_round_trip_and_the_first_key_signs() -> None:
    url = sign(GRANT, KEYS)
    assert url.startswith("/stream/12/34/t/12/exhigh.mp3?u=7&e=2000000000&k=k2&r=0-9999&s=")
    assert check(url) == GRANT
    assert signing_key_id(KEYS) == "k2"


def test_a_retired_key_still_verifies_while_listed() -> None:
    old = Grant(12, 34, "t/12/exhigh.mp3", 7, 2_000_000_000, "k1")
    assert check(sign(old, KEYS)) == old
    assert refused(sign(old, KEYS), keys={"k2": "new-secret"}) == (403, "UNKNOWN_KEY")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("/stream/12/", "/stream/13/"),
        ("/34/", "/35/"),
        ("exhigh", "lossless"),
        ("u=7", "u=8"),
        ("e=2000000000", "e=2000000001"),
        ("r=0-9999", "r=0-99999"),
    ],
)
def test_tampering_with_any_part_is_refused(old: str, new: str) -> None:
    url = sign(GRANT, KEYS)
    assert refused(url.replace(old, new, 1)) == (403, "SIGNATURE_INVALID")


def test_dropping_the_preview_range_is_refused() -> None:
    assert refused(sign(GRANT, KEYS).replace("&r=0-9999", "")) == (403, "SIGNATURE_INVALID")


def test_expiry_unknown_key_and_malformed() -> None:
    url = sign(GRANT, KEYS)
    assert refused(url, now=2_000_000_000) == (410, "URL_EXPIRED")
    assert refused(url.replace("k=k2", "k=k9")) == (403, "UNKNOWN_KEY")
    assert refused(url.replace("u=7", "u=x"))[0] == 400
    assert refused(url.split("&s=")[0]) == (400, "MALFORMED_URL")


def test_unusual_paths_are_percent_encoded_and_still_verify() -> None:
    grant = Grant(1, 2, "t/1/歌 1.mp3", 3, 2_000_000_000, "k1")
    assert url_path(1, 2, grant.path) == "/stream/1/2/t/1/%E6%AD%8C%201.mp3"
    url = sign(grant, KEYS)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert verify(1, 2, "t/1/歌 1.mp3", query, KEYS, 0) == grant
