"""``ncm db``: apply and create migrations (Tortoise's native migrations in ncm/migrations)."""

from __future__ import annotations

import typer

from ncm.cli.common import console, run

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Apply every pending migration to NCM_DATABASE_URL."""
    from ncm.migrate import upgrade as do_upgrade

    applied = run(do_upgrade, with_db=False)
    console.print(
        f"applied {len(applied)} migration(s)"
        + (": " + ", ".join(applied) if applied else " (up to date)")
    )


@app.command()
def makemigrations(
    name: str = typer.Option(None, "--name", help="A short name for the migration file."),
    check: bool = typer.Option(False, "--check", help="Exit 1 if models have unmigrated changes."),
) -> None:
    """Write a migration for model changes (or, with --check, fail if one is needed)."""
    from ncm.migrate import make_migrations, pending_changes

    if check:
        changes = run(pending_changes, with_db=False)
        if changes:
            console.print(f"[red]models have changes without a migration:[/red] {changes}")
            raise typer.Exit(1)
        console.print("no changes")
        return
    written = run(lambda: make_migrations(name), with_db=False)
    console.print("\n".join(written) if written else "no changes")


@app.command()
def status() -> None:
    """List migrations and whether each is applied."""
    from ncm.migrate import migration_status

    for name, applied in run(migration_status, with_db=False):
        console.print(
            f"[{'green' if applied else 'yellow'}]{'applied' if applied else 'pending'}[/] {name}"
        )
