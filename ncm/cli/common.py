"""What every command shares: the database session, output as a table or JSON, failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from tortoise.exceptions import DoesNotExist, IntegrityError, OperationalError, ValidationError

from ncm.errors import NcmError
from ncm.kit.db import close_db, init_db

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")


def run(work: Callable[[], Awaitable[T]], *, with_db: bool = True) -> T:
    """Run async work with the database open; a domain error prints and exits 1."""

    async def main() -> T:
        if with_db:
            await init_db()
        try:
            return await work()
        finally:
            if with_db:
                from ncm.kit import jobs

                await jobs.drain()
                await close_db()
            from ncm.kit.redis import close_redis

            await close_redis()

    try:
        return asyncio.run(main())
    except NcmError as exc:
        fail(exc.message, exc)
    except OPERATOR_MISTAKES as exc:  # values the database refuses: too long, too large
        fail(f"{exc} ({type(exc).__name__})", exc)


# What an operator's odd argument can make the ORM or the OS refuse; said in one line.
OPERATOR_MISTAKES = (
    ValidationError,
    OperationalError,
    IntegrityError,
    DoesNotExist,
    OverflowError,
    UnicodeError,
    OSError,
)


def fail(message: str, cause: BaseException | None = None) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    raise typer.Exit(1) from cause


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def emit(rows: Sequence[dict[str, Any]], as_json: bool, *, title: str | None = None) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                [{k: _plain(v) for k, v in r.items()} for r in rows], ensure_ascii=False, indent=2
            )
        )
        return
    if not rows:
        console.print("(nothing)")
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(_plain(v)) for v in row.values()))
    console.print(table)


def emit_one(record: dict[str, Any], as_json: bool, *, title: str | None = None) -> None:
    if as_json:
        typer.echo(
            json.dumps({k: _plain(v) for k, v in record.items()}, ensure_ascii=False, indent=2)
        )
        return
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in record.items():
        table.add_row(key, "" if value is None else str(_plain(value)))
    console.print(table)
