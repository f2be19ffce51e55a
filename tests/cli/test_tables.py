"""Tables never cut what an operator copies (ids, URLs, keys, tokens), at 80 columns or
anywhere else: one rule for every command (``ncm/cli/output.py``). Issue 19, item 19."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from ncm.cli import output
from ncm.cli.output import print_rows
from tests.cli.helpers import ncm
from tests.conftest import make_user

URL = "https://cdn.example.com/stream/1234567/89/" + "a1b2c3d4e5" * 6 + "?sig=f00dfeedbeef"
TOKEN = "ncmpk_" + "Zq9" * 25
NARROW = {"COLUMNS": "80"}


def render(header: list[str], rows: list[list[str]], *, width: int = 80, **kwargs: object) -> str:
    console = Console(file=StringIO(), width=width, color_system=None)
    print_rows(console, header, rows, **kwargs)  # type: ignore[arg-type]
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def words(text: str) -> set[str]:
    return set(output._SEPARATORS.split(text))


def test_a_table_that_fits_is_a_table_and_prose_wraps() -> None:
    prose = "a note long enough to need wrapping " * 3
    out = render(["id", "code", "note"], [["7", "vip_monthly", prose.strip()]])
    assert "┃ id" in out and "vip_monthly" in words(out)
    assert all(len(line) <= 80 for line in out.splitlines())
    assert "…" not in out


def test_a_url_or_token_too_wide_for_80_columns_is_never_cut() -> None:
    rows = [["1", URL, TOKEN, "first"], ["2", "https://x.example/a", "ncmpk_short", "second"]]
    out = render(["id", "url", "secret", "note"], rows)
    assert "…" not in out
    for value in (URL, TOKEN, "https://x.example/a", "ncmpk_short"):
        assert value in words(out), value  # whole, on one line, copyable
    assert f"url     {URL}" in out  # one ``field  value`` block per row


def test_a_record_too_wide_keeps_its_values_whole() -> None:
    out = render(["field", "value"], [["url", URL], ["key", TOKEN]], show_header=False, title="t")
    assert URL in words(out) and TOKEN in words(out) and "…" not in out


@pytest.mark.parametrize("how", ["option", "env"])
def test_wide_prints_one_line_per_row(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "option":
        monkeypatch.setattr(output, "wide_option", True)
    else:
        monkeypatch.setenv("NCM_WIDE", "1")
    out = render(["id", "url"], [["1", URL], ["2", "https://x.example/a"]])
    lines = [line for line in out.splitlines() if URL in line]
    assert len(lines) == 1 and lines[0].startswith("│ 1")


async def test_every_command_table_keeps_long_values_whole_at_80_columns() -> None:
    """Through real commands (users, promo keys), at 80 columns and with --wide."""
    user = await make_user("operations_team_lead_xxxxxxxx")
    long_email = user.email
    listed = ncm("users", "list", env=NARROW)
    assert listed.returncode == 0, listed.stderr
    assert long_email in words(listed.stdout) and "…" not in listed.stdout
    shown = ncm("users", "show", str(user.id), env=NARROW)
    assert long_email in words(shown.stdout) and "…" not in shown.stdout
    wide = ncm("--wide", "users", "list", env=NARROW)
    assert wide.returncode == 0, wide.stderr
    assert [line for line in wide.stdout.splitlines() if long_email in line]
    assert "…" not in wide.stdout
    assert ncm("promo", "partners", "add", "ACME", "--name", "Acme").returncode == 0
    created = ncm("promo", "partners", "keys", "create", "ACME", "--name", "ci", env=NARROW)
    assert created.returncode == 0, created.stderr
    secret = max((w for w in words(created.stdout) if w.startswith("ncmpk_")), key=len)
    assert len(secret) > 30 and "…" not in created.stdout
