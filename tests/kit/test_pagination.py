"""Cursors: the bytes ``encode_cursor`` writes, whichever encoder writes them."""

from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from typing import Any

from ncm.kit.pagination import decode_cursor, encode_cursor


def _json_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_cursors_are_the_bytes_json_writes() -> None:
    """orjson writes the usual keys (integers, ASCII text); the rest goes to ``json``: the
    cursor of a key is the same string either way, so cursors handed out before stay valid
    and equal keys give equal cursors."""
    keys: list[list[Any]] = [
        ["2026-12-04T01:00:00.123456+00:00", 5],
        [None, True, False, 0, -1],
        ["晴天", 1],  # json escapes non-ASCII text
        ['\x7f\n"\\/', 2],  # DEL is escaped by json, not by orjson
        [2**70, 1],  # past 64 bits
        [1.5, 1e16, 2],  # 1e16 is json's
        [2.2161, "t", 5],  # a search score: orjson's
        [1e-4, 9.999999999999998e15, 0.0, -0.0, -3.5],  # the range's edges: orjson's
        [1e-05, 5e-324, 1.7976931348623157e308],  # exponents: json's
        [float("nan"), float("inf"), float("-inf")],  # json's NaN, Infinity
        [3, 1.25, 7, [1, 2], 0],  # RECOMMENDED's key holds a list
        [datetime(2026, 1, 1, tzinfo=UTC), 1],  # default=str
    ]
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(chr(rng.randrange(0, 300)) for _ in range(rng.randrange(0, 6)))
        keys.append([text, rng.randrange(-(2**65), 2**65), rng.choice([None, True, 0])])
        magnitude = 10.0 ** rng.randrange(-8, 20)
        keys.append([rng.uniform(-1, 1) * magnitude, rng.random() * 10, rng.randrange(9)])
    for key in keys:
        assert encode_cursor(key) == _json_cursor(key), key
    assert decode_cursor(encode_cursor(["2026-12-04T01:00:00+00:00", 9]), 2) == [
        "2026-12-04T01:00:00+00:00",
        9,
    ]


def test_forged_cursors_are_input_errors() -> None:
    """Whatever decodes them: not base64, not JSON, NaN or infinite numbers, integers past
    BIGINT, the wrong arity, nested junk."""
    import pytest

    from ncm.errors import InvalidInput

    def forged(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for cursor in [
        "%%%",
        forged(b"not json"),
        forged(b"[NaN, 1]"),
        forged(b"[1e999, 1]"),
        forged(b"[123456789012345678901234567890, 1]"),
        forged(b'["a"]'),
        forged(b'[{"a": 1}, 1]'),
        forged(b"\xff\xfe"),
    ]:
        with pytest.raises(InvalidInput):
            decode_cursor(cursor, 2)


def test_time_cursors_are_the_cursors_of_their_keys() -> None:
    from datetime import timedelta, timezone

    from ncm.kit.pagination import time_cursor

    moments = [
        datetime(2026, 12, 4, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 12, 4, 1, 2, 3, tzinfo=UTC),  # no microseconds
        datetime(1999, 1, 1, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 1, 1, 0, 0),  # naive
    ]
    for at in moments:
        for pk in (1, 9_223_372_036_854_775_807):
            assert time_cursor(at, pk) == encode_cursor([at.isoformat(), pk])
