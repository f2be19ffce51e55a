"""``ncm db``: apply and create migrations (Tortoise's native migrations in migrations)."""

from __future__ import annotations

import typer

from ncm.cli.common import JsonOption, console, emit, emit_one, run

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command()
def upgrade(as_json: bool = JsonOption) -> None:
    """Apply every pending migration to NCM_DATABASE_URL."""
    from ncm.kit.migrate import upgrade as do_upgrade

    applied = run(do_upgrade, with_db=False)
    if as_json:
        emit_one({"applied": applied}, True)
    elif applied:
        console.print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        console.print("up to date")


@app.command()
def makemigrations(
    name: str = typer.Option(None, "--name", help="A short name for the migration file."),
    check: bool = typer.Option(False, "--check", help="Exit 1 if models have unmigrated changes."),
    as_json: bool = JsonOption,
) -> None:
    """Write a migration for model changes (or, with --check, fail if one is needed)."""
    from ncm.kit.migrate import make_migrations, pending_changes

    if check:
        changes = run(pending_changes, with_db=False)
        if as_json:
            emit_one({"changes": changes}, True)
        else:
            console.print("\n".join(changes) if changes else "no changes")
        if changes:
            raise typer.Exit(1)
        return
    written = run(lambda: make_migrations(name), with_db=False)
    if as_json:
        emit_one({"written": written}, True)
    else:
        console.print("\n".join(written) if written else "no changes")


@app.command()
def status(as_json: bool = JsonOption) -> None:
    """List migrations and whether each is applied."""
    from ncm.kit.migrate import migration_status

    rows = run(migration_status, with_db=False)
    if as_json:
        emit([{"migration": n, "applied": a} for n, a in rows], True)
        return
    for name, applied in rows:
        state = "[green]applied[/]" if applied else "[yellow]pending[/]"
        console.print(f"{state} {name}")


@app.command()
def partitions(
    ensure: bool = typer.Option(False, "--ensure", help="Create the missing daily partitions."),
    drop_expired: bool = typer.Option(
        False,
        "--drop-expired",
        help="Drop partitions past NCM_EVENT_RETENTION_DAYS whose days every rollup covers.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="With --ensure/--drop-expired: say what would change."
    ),
    as_json: bool = JsonOption,
) -> None:
    """List the partitions of the event tables (PostgreSQL); create ahead, drop expired."""
    from ncm.kit import partitions as kit

    async def work() -> list[dict[str, object]]:
        from ncm.domains import load_retention

        rows: list[dict[str, object]] = []
        if ensure or drop_expired:
            done = await kit.maintain(create=ensure, drop=drop_expired, dry_run=dry_run)
            verb = "would create" if dry_run else "created"
            rows += [{"action": verb, "partition": name, "note": ""} for name in done.created]
            for e in done.expired:
                action = "dropped" if e.dropped else ("kept" if e.blocked_by else "would drop")
                days = f"{e.partition.start} .. {e.partition.end}"
                note = "not covered: " + ", ".join(e.blocked_by) if e.blocked_by else days
                rows.append({"action": action, "partition": e.partition.name, "note": note})
            return rows
        from ncm.kit.db import is_postgres

        if not is_postgres():  # SQLite keeps plain tables
            return rows
        load_retention()
        for spec in kit.TABLES.values():
            if not await kit.is_partitioned(spec.name):
                continue
            for p in await kit.partitions(spec.name):
                rows.append(
                    {
                        "table": spec.name,
                        "partition": p.name,
                        "from": p.start,
                        "to": p.end,
                        "rows (estimate)": p.rows,
                    }
                )
        return rows

    emit(run(work), as_json, title="partitions")
