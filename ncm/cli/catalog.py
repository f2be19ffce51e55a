"""``ncm catalog``: import and inspect the catalog."""

from __future__ import annotations

import typer

from ncm.cli.common import JsonOption, emit_one, run

app = typer.Typer(help="The catalog: artists, albums, tracks.", no_args_is_help=True)


@app.command()
def show(track_id: int = typer.Argument(..., help="Track id."), as_json: bool = JsonOption) -> None:
    """Show a track with its artists, album, genres, renditions and licenses."""
    from ncm.catalog.service import describe_track

    emit_one(run(lambda: describe_track(track_id)), as_json)
