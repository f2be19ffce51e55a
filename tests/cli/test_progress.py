"""Long commands show progress the same way (``ncm/cli/progress.py``): a rich bar with the
rate and the time left on a terminal, plain lines elsewhere. Issue 19, item 18."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from ncm.cli import progress as progress_module
from ncm.cli.progress import plain_line, progress, working
from ncm.kit.progress import step
from tests.cli.helpers import ncm
from tests.comments.helpers import post, track_ref, user_and_token
from tests.conftest import GraphQLClient


def console(*, terminal: bool) -> Console:
    return Console(file=StringIO(), force_terminal=terminal, width=120, color_system=None)


def text(c: Console) -> str:
    return c.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_on_a_terminal_a_bar_with_rate_and_eta() -> None:
    c = console(terminal=True)
    with progress(console=c) as report:
        step(report, "tracks", 500, 1000)
        report("a line above the bars")
        step(report, "tracks", 1000, 1000)
        step(report, "users", 10, None)
    out = text(c)
    assert "tracks" in out and "1000/1000" in out and "rows/s" in out
    assert "ETA" in out and "users" in out and "a line above the bars" in out


def test_elsewhere_plain_lines_with_rate_and_eta(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 102.0, 103.0, 110.0, 111.0])
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: next(clock))
    c = console(terminal=False)
    with progress(console=c) as report:
        step(report, "tracks", 0, 1000)  # t=100: the first line
        step(report, "tracks", 200, 1000)  # t=102: too soon after, not shown
        step(report, "tracks", 300, 1000)  # t=103: still too soon
        step(report, "tracks", 1000, 1000)  # t=110: the last, always shown
    lines = text(c).splitlines()
    assert lines == [
        "tracks: 0 / 1,000 (0%), 0 rows/s",
        "tracks: 1,000 / 1,000 (100%), 100 rows/s, done in 10s",
    ]
    assert "\x1b" not in text(c)  # no escape codes in a log


def test_plain_line_figures() -> None:
    assert plain_line("users", 250, 1000, 5.0, "rows") == (
        "users: 250 / 1,000 (25%), 50 rows/s, ETA 15s"
    )
    assert plain_line("likes", 90_000, None, 60.0, "rows") == "likes: 90,000, 1,500 rows/s"
    assert plain_line("x", 1, 100_000, 1.0, "rows").endswith("ETA 27h46m39s")


def test_a_plain_echo_still_gets_lines() -> None:
    seen: list[str] = []
    step(seen.append, "tracks", 5, 10)
    assert seen == ["  tracks: 5 / 10"]


@pytest.mark.parametrize("terminal", [True, False])
def test_working_without_a_count(terminal: bool) -> None:
    c = console(terminal=terminal)
    with working("revenue report", console=c):
        pass
    assert "revenue report" in text(c)
    if not terminal:
        assert text(c).splitlines()[-1].startswith("revenue report: done in ")


async def test_a_real_command_in_both_modes(gql: GraphQLClient) -> None:
    """`ncm comments recount` through the shared helper: lines in a pipe, bars when the
    environment says the output is a terminal (TTY_COMPATIBLE=1, as rich reads it)."""
    _, token = await user_and_token("pat")
    for _ in range(2):
        await post(gql, token, await track_ref(), "hello")
    plain = ncm("comments", "recount", "--check")
    assert plain.returncode == 0, plain.stderr
    assert "comment threads: 2 / 2 (100%)" in plain.stderr and "threads/s" in plain.stderr
    assert "\x1b" not in plain.stderr
    bars = ncm("comments", "recount", "--check", env={"TTY_COMPATIBLE": "1"})
    assert bars.returncode == 0, bars.stderr
    assert "comment threads" in bars.stderr and "2/2" in bars.stderr
    assert "threads/s" in bars.stderr and "ETA" in bars.stderr
