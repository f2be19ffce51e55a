"""The ``DateTime`` scalar's fast parse accepts and refuses what ``isoparse`` (Strawberry's
parser) does, with the same instant, offset and text, and the same error messages."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from dateutil.parser import isoparse
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.schema.types.base_scalars import DateTimeDefinition

from ncm.schema.scalars import USUAL, DateTime, parse_datetime


def _outcome(parse: Any, text: str) -> tuple[str, Any]:
    try:
        value = parse(text)
    except (ValueError, StrawberryInputCoercionError) as exc:
        return "refused", str(exc)
    except OverflowError as exc:  # isoparse's own for 9999-12-31T24:00
        return "overflow", str(exc)
    return "accepted", (value, value.utcoffset(), value.isoformat(), value.tzinfo is None)


def test_fast_parse_is_isoparse_on_every_combination() -> None:
    years, months = ["2026", "0000", "9999"], ["02", "12", "13"]
    days = ["01", "29", "31", "00"]
    hours, minutes = ["23", "24"], ["59", "60"]
    fractions = ["", ".5", ".1234567", ",5"]
    zones = ["", "Z", "+08:00", "+24:00", "+0800", "z"]
    fast = 0
    for y, mo, d, h, mi, fr, tz in itertools.product(
        years, months, days, hours, minutes, fractions, zones
    ):
        text = f"{y}-{mo}-{d}T{h}:{mi}:{mi}{fr}{tz}"
        fast += USUAL.fullmatch(text) is not None
        assert _outcome(parse_datetime, text) == _outcome(isoparse, text), text
        assert _outcome(DateTime.parse_value, text) == _outcome(
            DateTimeDefinition.parse_value, text
        ), text
    assert fast > 100  # the fast form was exercised, valid days and invalid ones


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03",
        "2026-12-03T10",
        "2026-12-03T10:00",
        "2026-12-03 10:00:00Z",
        "20261203T100000Z",
        "2026-W49-4T10:00:00",
        "2026-12-03T10:00:00.123456789+08:00",
        "not a time",
        "",
        "\uff12\uff10\uff12\uff16-12-03T10:00:00Z",  # fullwidth digits,
    ],
)
def test_other_forms_are_left_to_isoparse(text: str) -> None:
    assert _outcome(DateTime.parse_value, text) == _outcome(DateTimeDefinition.parse_value, text)


def test_non_strings_are_refused_as_before() -> None:
    for value in (1733220000, None, 1.5, ["2026-12-03T10:00:00Z"]):
        assert _outcome(DateTime.parse_value, value) == _outcome(  # type: ignore[arg-type]
            DateTimeDefinition.parse_value, value
        )
