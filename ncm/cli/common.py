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
from tortoise.context import TortoiseContext
from tortoise.exceptions import DoesNotExist, IntegrityError, OperationalError, ValidationError

from ncm.errors import NcmError
from ncm.kit.db import tortoise_config

T = TypeVar("T")
console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")


def run(work: Callable[[], Awaitable[T]], *, with_db: bool = True) -> T:
    """Run async work (with the database open unless ``with_db=False``); a domain error
    prints one line and exits 1.

    The command gets its own Tortoise context, set for its task (tasks it starts inherit it)
    and closed when it ends, after its in-process jobs; work that opens Tortoise itself (the
    migration API) initialises that context. It never touches a context already open in the
    process (the tests run commands in-process beside their own)."""

    async def main() -> T:
        from ncm.kit import jobs
        from ncm.kit.redis import close_redis

        async with TortoiseContext() as ctx:
            try:
                if with_db:
                    await ctx.init(config=tortoise_config())
                return await work()
            finally:
                await jobs.drain()
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
