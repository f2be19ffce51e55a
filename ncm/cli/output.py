"""Tables for operators: the one rule every ``ncm`` table follows.

An operator copies ids, URLs, keys, tokens and codes out of these tables, so a table never
cuts one ("…") nor folds one across lines, whatever the terminal's width:

* a table that fits the terminal is printed as is (prose columns wrap between words);
* otherwise each row is printed as a block of ``field  value`` lines (the expanded display
  of ``psql``), which a narrow terminal cannot cut: nothing is dropped, a long value is one
  unbroken line the terminal soft-wraps;
* ``ncm --wide ...`` (or ``NCM_WIDE=1``) prints every table at its natural width, one line
  per row, whatever the terminal (for pasting into a ticket).

``emit`` / ``emit_one`` in ``ncm/cli/common.py`` print through :func:`print_rows`; a command
never builds a ``rich.table.Table`` itself.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from io import StringIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

# Set for each run by the root command's ``--wide`` option (``ncm/cli/main.py``).
wide_option = False
_SEPARATORS = re.compile(r"[\s│┃]+")


def wide() -> bool:
    return wide_option or os.environ.get("NCM_WIDE", "").strip().lower() in {"1", "true", "yes"}


def print_rows(
    console: Console,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    show_header: bool = True,
) -> None:
    """Print a table by the rule above (cells are already text)."""
    if wide():
        table = _table(header, rows, title=title, show_header=show_header, wrap=False)
        width = max(console.width, _natural_width(header, rows))
        Console(file=console.file, width=width, force_terminal=console.is_terminal).print(table)
        return
    table = _table(header, rows, title=title, show_header=show_header, wrap=True)
    rendered = _render(table, console.width)
    if _keeps_every_word(rendered, header if show_header else (), rows):
        console.print(table)
    else:
        _print_records(console, header, rows, title=title, show_header=show_header)


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None,
    show_header: bool,
    wrap: bool,
) -> Table:
    table = Table(title=title, show_header=show_header)
    for i, name in enumerate(header):
        bold = "bold" if not show_header and i == 0 else None
        table.add_column(name, style=bold, no_wrap=not wrap, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # values are text, never rich markup
    return table


def _render(table: Table, width: int) -> str:
    probe = Console(file=StringIO(), width=width, color_system=None, legacy_windows=False)
    probe.print(table)
    out = probe.file.getvalue()  # type: ignore[attr-defined]
    return str(out)


def _keeps_every_word(rendered: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> bool:
    """Whether every word of every cell (and header) shows whole in the rendered table."""
    shown = set(_SEPARATORS.split(rendered))
    return all(
        word in shown
        for cell in (*header, *(c for row in rows for c in row))
        for word in cell.split()
    )


def _natural_width(header: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    widths = [
        max(
            [
                len(line)
                for cell in (name, *(r[i] for r in rows))
                for line in cell.splitlines() or [""]
            ]
        )
        for i, name in enumerate(header)
    ]
    return sum(widths) + 3 * len(widths) + 1


def _print_records(
    console: Console,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None,
    show_header: bool,
) -> None:
    """One block of ``field  value`` lines per row (a record: its own lines); the values
    are printed unbroken (the terminal soft-wraps a long one, nothing is cut)."""
    if title:
        console.print(Text(title, style="bold"), soft_wrap=True)
    if not show_header:  # a record (emit_one): the first column names the fields
        header, rows = [row[0] for row in rows], [[row[1] for row in rows]]
    key_width = max((len(name) for name in header), default=0)
    for n, row in enumerate(rows):
        if len(rows) > 1:
            console.print(Text(f"-- {n + 1} --", style="dim"))
        for name, value in zip(header, row, strict=True):
            first, *more = value.splitlines() or [""]
            lines = [f"{name.ljust(key_width)}  {first}"]
            lines += [f"{'':{key_width}}  {line}" for line in more]
            console.print(Text("\n".join(lines)), soft_wrap=True)
