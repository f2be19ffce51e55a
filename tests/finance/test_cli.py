"""``ncm finance``: the real command in a subprocess against the test database."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from tests.cli.helpers import ncm, ncm_json


async def test_report_in_every_format(example_ledger: Any) -> None:
    as_json = ncm("finance", "report", "--from", "2024-01", "--to", "2024-03", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert [m["rows"][0]["revenue"] for m in body["months"]] == [1843, 2550, 2161]
    as_csv = ncm("finance", "report", "--from", "2024-01", "--to", "2024-02", "--format", "csv")
    lines = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["month"], r["currency"], r["revenue"], r["arppu"]) for r in lines] == [
        ("2024-01", "CNY", "1843", "922"),
        ("2024-02", "CNY", "2550", "1275"),
    ]
    table = ncm("finance", "report", "--from", "2024-01", "--to", "2024-01", "--by", "region")
    assert table.returncode == 0 and "1843" in table.stdout and "CN" in table.stdout


async def test_rates_and_a_converted_report(example_ledger: Any) -> None:
    from tests.finance.helpers import period

    await period(example_ledger["users"]["l"], "2024-01-01", "2024-01-02", 1000, currency="USD")
    missing = ncm("finance", "report", "--from", "2024-01", "--to", "2024-01", "--currency", "CNY")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error:") and "USD->CNY" in missing.stderr
    assert "2024-01-01" in missing.stderr
    done = ncm_json("finance", "rates", "set", "USD", "CNY", "7.1234", "--from", "2024-01-01")
    assert (done["base"], done["quote"], done["rate"]) == ("USD", "CNY", "7.1234")
    assert [r["rate"] for r in ncm_json("finance", "rates", "list")] == ["7.1234"]
    body = json.loads(
        ncm(
            "finance",
            "report",
            "--from",
            "2024-01",
            "--to",
            "2024-01",
            "--currency",
            "cny",
            "--format",
            "json",
        ).stdout
    )
    assert body["currency"] == "CNY" and body["months"][0]["rows"][0]["revenue"] == 1843 + 7123
    bad = ncm("finance", "rates", "set", "USD", "CNY", "0", "--from", "2024-01-01")
    assert bad.returncode == 1 and "positive" in bad.stderr


async def test_close_reopen_and_audit(example_ledger: Any) -> None:
    closed = ncm_json("finance", "close-month", "2024-06")
    assert closed["month"] == "2024-06" and closed["closed_by"].startswith("cli:")
    again = ncm("finance", "close-month", "2024-06")
    assert again.returncode == 1 and "already closed" in again.stderr
    no_reason = ncm("finance", "reopen", "2024-06", "--reason", " ")
    assert no_reason.returncode == 1
    assert ncm_json("finance", "reopen", "2024-06", "--reason", "import fixed")["reopened"]
    audit = ncm_json("finance", "audit")
    assert [(a["month"], a["action"], a["reason"]) for a in audit] == [
        ("2024-06", "CLOSE", ""),
        ("2024-06", "REOPEN", "import fixed"),
    ]


async def test_bad_arguments_are_one_error_line() -> None:
    for args in (
        ("report", "--from", "2024-1", "--to", "2024-02"),
        ("report", "--from", "2024-03", "--to", "2024-02"),
        ("report", "--from", "2024-01", "--to", "2024-02", "--by", "artist"),
        ("report", "--from", "2024-01", "--to", "2024-02", "--format", "xml"),
    ):
        result = ncm("finance", *args)
        assert result.returncode == 1, args
        assert result.stderr.startswith("error:"), result.stderr


async def test_mix_command() -> None:
    result = ncm("finance", "mix", "--from", "2024-01", "--to", "2024-01", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["plays"] == 0
