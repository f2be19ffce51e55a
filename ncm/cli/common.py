"""What every command shares: the database session, output as a table or JSON, failures."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from tortoise.context import TortoiseContext
from tortoise.exceptions import DoesNotExist, IntegrityError, OperationalError, ValidationError
from typer.core import TyperGroup

from ncm.cli.output import print_rows
from ncm.errors import NcmError
from ncm.kit.db import tortoise_config
from ncm.kit.regions import REGIONS
from ncm.kit.text import BIGINT_MAX

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
    err_console.print(f"[red]error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(1) from cause


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "value"):  # enums
        return value.value
    return value


def cell(value: Any) -> str:
    """A value as a table shows it."""
    return "" if value is None else str(_plain(value))


def emit(rows: Sequence[dict[str, Any]], as_json: bool, *, title: str | None = None) -> None:
    """Rows as a table (which never cuts an id or a URL: ``ncm/cli/output.py``), or JSON."""
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
    print_rows(console, list(rows[0]), [[cell(v) for v in r.values()] for r in rows], title=title)


def emit_one(record: dict[str, Any], as_json: bool, *, title: str | None = None) -> None:
    """One record as a two-column table (same rule as ``emit``), or JSON."""
    if as_json:
        typer.echo(
            json.dumps({k: _plain(v) for k, v in record.items()}, ensure_ascii=False, indent=2)
        )
        return
    print_rows(
        console,
        ["field", "value"],
        [[key, cell(value)] for key, value in record.items()],
        title=title,
        show_header=False,
    )


class OneLineErrors(TyperGroup):
    """The root command: a wrong argument or option is one ``error:`` line on stderr and exit
    code 2, like a domain error (exit 1), instead of a boxed panel; ``--help`` is unchanged."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.pop("standalone_mode", True)
        kwargs["standalone_mode"] = False
        if not standalone:
            return super().main(*args, **kwargs)
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
        from typer.exceptions import Abort

        try:
            result = super().main(*args, **kwargs)
        except NoArgsIsHelpError as exc:  # `ncm users`: the group's help, as before
            from typer import rich_utils

            rich_utils.rich_format_error(exc)
            sys.exit(exc.exit_code)
        except ClickException as exc:
            hint = ""
            if isinstance(exc, UsageError) and exc.ctx is not None:
                hint = f" (see: {exc.ctx.command_path} --help)"
            message = exc.format_message().replace("Value error, ", "")
            err_console.print(
                f"[red]error:[/red] {message}{hint}", markup=True, highlight=False, soft_wrap=True
            )
            sys.exit(exc.exit_code)
        except Abort:
            err_console.print("[red]error:[/red] aborted", markup=True, highlight=False)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def ids_of(type_name: str) -> Callable[[str], int]:
    """A Typer ``parser=`` for the ids of one type: ``5`` or its global id."""

    def parse(value: str) -> int:
        return object_id(value, type_name)

    parse.__name__ = f"{type_name}_id"
    return parse


def user_ref(value: str) -> str:
    """A user named by id, email, handle or User global id, as ``find_user`` takes it."""
    try:
        return str(object_id(value, "User"))
    except typer.BadParameter:
        return value.strip()


def object_id(value: str, type_name: str, *, param: str | None = None) -> int:
    """A numeric id, or the GraphQL global id of a ``type_name`` (what the API and bug reports
    show); anything else is an argument error."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        number = int(text)
    else:
        try:
            padded = text + "=" * (-len(text) % 4)
            kind, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            kind, pk = "", ""
        if not (pk.isascii() and pk.isdigit()):
            raise typer.BadParameter(
                f"{value!r} is neither a number nor a {type_name} id", param_hint=param
            )
        if kind != type_name:
            raise typer.BadParameter(
                f"{value!r} is a {kind} id, not a {type_name}", param_hint=param
            )
        number = int(pk)
    if not 1 <= number <= BIGINT_MAX:
        raise typer.BadParameter(f"{value!r} is not a valid id", param_hint=param)
    return number


def region_code(value: str | None, *, param: str = "--region") -> str | None:
    """An ISO 3166-1 alpha-2 region (any case), as the API validates it."""
    if value is None:
        return None
    code = value.strip().upper()
    if code not in REGIONS:
        raise typer.BadParameter(
            f"{value!r} is not an ISO 3166-1 alpha-2 region code (CN, JP, US, ...)",
            param_hint=param,
        )
    return code
