"""``ncm catalog``: import and inspect the catalog."""

from __future__ import annotations

from pathlib import Path

import typer

from ncm.cli.common import JsonOption, emit, emit_one, err_console, run
from ncm.cli.progress import progress

app = typer.Typer(help="The catalog: artists, albums, tracks.", no_args_is_help=True)


@app.command()
def show(track_id: int = typer.Argument(..., help="Track id."), as_json: bool = JsonOption) -> None:
    """Show a track with its artists, album, genres, renditions and licenses."""
    from ncm.catalog.service import describe_track

    emit_one(run(lambda: describe_track(track_id)), as_json)


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., help="JSON Lines (.jsonl, .ndjson, .json) or CSV (.csv), one track per record."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create or update tracks, artists, albums and genres from a file.

    Tracks match by ISRC, else external_id, so importing a file again changes nothing.
    Rejected rows are listed with their line numbers; the other rows are still imported.
    The record format, with examples: docs/catalog-import.md.

    Exit status: 0 every row imported, 1 some rows rejected, 2 the file cannot be read.
    """
    from ncm.catalog.importer import (
        ImportFileError,
        ImportReport,
        estimate_records,
        import_records,
        parse_file,
    )

    def unreadable(exc: ImportFileError) -> typer.Exit:
        err_console.print(f"[red]error:[/red] {exc.message}")
        return typer.Exit(2)

    try:
        records = parse_file(file)
        total = estimate_records(file)
    except ImportFileError as exc:
        raise unreadable(exc) from exc

    # Progress goes to stderr so that --json output on stdout stays parseable.
    label, handled = f"importing {file.name}", [0]
    with progress("records") as bar:

        def advance(done: int) -> None:
            handled[0] = done
            bar.step(label, done, max(total, done))

        async def work() -> ImportReport | ImportFileError:
            try:
                report = await import_records(records, progress=advance)
            except ImportFileError as exc:  # the file went away or broke while reading
                return exc
            if report.created or report.updated:
                # New rows are searchable at once; their popularity tier follows here
                # (a worker's job, or in this process without Redis).
                from ncm.kit.jobs import enqueue
                from ncm.search.jobs import refresh_search_tiers

                await enqueue(refresh_search_tiers, job_id="search-refresh-after-import")
            return report

        outcome = run(work)
        bar.step(label, handled[0], handled[0])  # the estimate counted lines, not records
    if isinstance(outcome, ImportFileError):
        raise unreadable(outcome)

    if as_json:
        emit_one(outcome.as_dict(), True)
    else:
        emit_one(outcome.summary(), False, title=f"import {file.name}")
        if outcome.rejected:
            emit(
                [{"line": r.line, "reason": r.reason} for r in outcome.rejected],
                False,
                title="rejected rows",
            )
    if outcome.rejected:
        raise typer.Exit(1)
