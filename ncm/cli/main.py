"""The ``ncm`` command: every operator task."""

from __future__ import annotations

import typer

from ncm.cli import (
    billing,
    catalog,
    comments,
    compensation,
    db,
    finance,
    incidents,
    output,
    playlists,
    promo,
    search,
    seed,
    stream,
    users,
)
from ncm.cli.common import OneLineErrors

app = typer.Typer(
    name="ncm",
    help="ncm: the music-streaming backend's operator commands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,  # argument errors: one `error:` line, exit code 2
)


@app.callback()
def root(
    wide: bool = typer.Option(
        False,
        "--wide",
        help="Print tables at full width, one line per row, whatever the terminal "
        "(also NCM_WIDE=1). Tables never cut an id or a URL either way.",
    ),
) -> None:
    """ncm: the music-streaming backend's operator commands."""
    output.wide_option = wide


app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(catalog.app, name="catalog")
app.add_typer(playlists.app, name="playlists")
app.add_typer(comments.app, name="comments")
app.add_typer(seed.app, name="seed")
app.add_typer(billing.app, name="billing")
app.add_typer(stream.app, name="stream")
app.add_typer(incidents.app, name="incidents")
app.add_typer(compensation.app, name="compensation")
app.add_typer(finance.app, name="finance")
app.add_typer(promo.app, name="promo")
app.add_typer(search.app, name="search")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to bind."),
    workers: int = typer.Option(1, min=1, help="Worker processes (PostgreSQL for more than 1)."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
) -> None:
    """Serve the API (GraphQL at /graphql)."""
    import uvicorn

    from ncm.config import get_settings

    settings = get_settings()
    settings.check_production()
    if workers > 1 and settings.uses_sqlite:
        raise typer.BadParameter("SQLite serves one process; use PostgreSQL for --workers > 1")
    if workers > 1 and settings.jobs_in_process:
        typer.echo(
            "warning: without NCM_REDIS_URL each worker runs its own in-process jobs", err=True
        )
    uvicorn.run(
        "ncm.app:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        ws_max_size=settings.max_request_bytes,  # a websocket frame: the same cap as a body
    )


@app.command()
def worker(burst: bool = typer.Option(False, help="Exit when the queue is empty.")) -> None:
    """Run the arq worker with every domain's jobs (needs NCM_REDIS_URL)."""
    from arq.worker import run_worker

    from ncm.cli.common import fail
    from ncm.worker import WorkerSettings, redis_settings

    try:
        settings = redis_settings()
    except RuntimeError as exc:
        fail(str(exc), exc)
    run_worker(WorkerSettings, redis_settings=settings, burst=burst)  # type: ignore[arg-type]


def main() -> None:
    app()
