"""``ncm search``: the popularity tiers and suggestions, and searching as the API does."""

from __future__ import annotations

import dataclasses

import typer

from ncm.cli.common import JsonOption, emit, run
from ncm.cli.progress import progress

app = typer.Typer(
    help="Search: popularity tiers, and queries as the API runs them.", no_args_is_help=True
)


@app.command()
def refresh(as_json: bool = JsonOption) -> None:
    """Recompute the popularity tiers and suggestions now (the worker does it hourly)."""
    from ncm.search.maintenance import refresh

    with progress("tables") as report:
        reports = run(lambda: refresh(echo=report))
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


@app.command()
def suggest(
    prefix: str = typer.Argument(..., help="What a listener has typed so far."),
    first: int = typer.Option(10, min=1, max=20, help="How many suggestions."),
    as_json: bool = JsonOption,
) -> None:
    """Suggestions for a prefix, as `searchSuggestions` gives them."""
    from ncm.search.suggestions import suggestions

    found = run(lambda: suggestions(prefix, first))
    emit(
        [{"text": s.text, "type": s.type.value, "id": s.id} for s in found],
        as_json,
        title=f"suggestions {prefix!r}",
    )
