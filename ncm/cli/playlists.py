"""``ncm playlists``: inspect, export and import playlists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from ncm.cli.common import (
    JsonOption,
    console,
    emit,
    emit_one,
    err_console,
    fail,
    ids_of,
    run,
    user_ref,
)
from ncm.cli.progress import working

app = typer.Typer(help="Playlists: show, export, import.", no_args_is_help=True)


@app.command()
def show(
    playlist_id: int = typer.Argument(
        ..., parser=ids_of("Playlist"), help="Playlist id or global id."
    ),
    limit: int = typer.Option(50, min=0, max=10_000, help="Entries to list."),
    as_json: bool = JsonOption,
) -> None:
    """Show a playlist (any privacy: this is an operator's view) and its first entries."""
    from ncm.playlists.models import Playlist
    from ncm.playlists.transfer import export_playlist

    async def work() -> dict[str, Any]:
        from ncm.errors import NotFound

        playlist = await Playlist.get_or_none(id=playlist_id)
        if playlist is None:
            raise NotFound(f"No playlist {playlist_id}.")
        data = await export_playlist(playlist)
        data.update(
            id=playlist.id,
            version=playlist.version,
            entry_count=playlist.entry_count,
            subscribers=playlist.subscriber_count,
            shares=playlist.share_count,
            deleted_at=playlist.deleted_at,
        )
        return data

    data = run(work)
    entries = data.pop("entries")[:limit]
    if as_json:
        emit_one({**data, "entries": entries}, True)
        return
    emit_one({k: (", ".join(v) if isinstance(v, list) else v) for k, v in data.items()}, False)
    emit(
        [
            {"#": i, "title": e["title"], "artists": ", ".join(e["artists"]), "isrc": e["isrc"]}
            for i, e in enumerate(entries)
        ],
        False,
    )


@app.command()
def export(
    playlist_id: int = typer.Argument(
        ..., parser=ids_of("Playlist"), help="Playlist id or global id."
    ),
    format: str = typer.Option("json", "--format", help="json or m3u."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
) -> None:
    """Export a playlist as JSON or M3U."""
    from ncm.errors import NotFound
    from ncm.playlists.models import Playlist
    from ncm.playlists.transfer import export_playlist, to_m3u

    if format not in ("json", "m3u"):
        raise typer.BadParameter("--format is json or m3u")

    async def work() -> dict[str, Any]:
        playlist = await Playlist.get_or_none(id=playlist_id)
        if playlist is None:
            raise NotFound(f"No playlist {playlist_id}.")
        return await export_playlist(playlist)

    data = run(work)
    text = (
        json.dumps(data, ensure_ascii=False, indent=2) + "\n" if format == "json" else to_m3u(data)
    )
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror}", exc)
        err_console.print(f"wrote {len(data['entries'])} entries to {output}")
    else:
        typer.echo(text, nl=False)


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A .json or .m3u/.m3u8 file."),
    owner: str = typer.Option(..., "--owner", help="The owner: id, email or handle."),
    title: str = typer.Option(None, help="Override the playlist's title."),
    as_json: bool = JsonOption,
) -> None:
    """Create a playlist from a file; entries match by ISRC, else title and artist."""
    from ncm.accounts.service import find_user
    from ncm.playlists.transfer import ImportReport, import_playlist

    async def work() -> ImportReport:
        return await import_playlist(file, await find_user(user_ref(owner)), title=title)

    with working(f"importing {file.name}"):
        report = run(work)
    summary = {
        "playlist_id": report.playlist_id,
        "matched": report.matched,
        "unmatched": len(report.unmatched),
        "skipped_duplicates": report.skipped_duplicates,
    }
    if as_json:
        emit_one(
            {
                **summary,
                "unmatched_lines": [
                    {"line": line, "entry": text} for line, text in report.unmatched
                ],
            },
            True,
        )
    else:
        emit_one(summary, False, title="imported")
        if report.unmatched:
            console.print("[yellow]unmatched lines:[/]")
            emit([{"line": line, "entry": text} for line, text in report.unmatched], False)
    if report.unmatched:
        raise typer.Exit(1)
