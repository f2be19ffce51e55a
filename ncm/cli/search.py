"""``ncm search``: the search index's popularity tiers, and searching as the API does."""

from __future__ import annotations

import dataclasses

import typer

from ncm.cli.common import JsonOption, emit, run

app = typer.Typer(
    help="Search: popularity tiers, and queries as the API runs them.", no_args_is_help=True
)


@app.command()
def tiers(as_json: bool = JsonOption) -> None:
    """Recompute the popularity tiers now (the worker does it hourly); rows moved per table."""
    from ncm.search.tiers import refresh_tiers

    reports = run(refresh_tiers)
    emit([dataclasses.asdict(r) for r in reports], as_json, title="search tiers")


@app.command()
def query(
    text: str = typer.Argument(..., help="What a listener types."),
    first: int = typer.Option(10, min=1, max=100, help="How many results."),
    as_json: bool = JsonOption,
) -> None:
    """The best matches, as `search(query:)` ranks them (type, id, score)."""
    from ncm.search.service import search

    page = run(lambda: search(text, None, first, None))
    emit(
        [{"type": h.type.value, "id": h.id, "score": round(h.score, 6)} for h in page.items],
        as_json,
        title=f"search {text!r}",
    )
