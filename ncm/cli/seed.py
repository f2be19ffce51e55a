"""``ncm seed``: demo data and benchmark-scale data."""

from __future__ import annotations

import typer

from ncm.cli.common import JsonOption, emit_one, err_console, run

app = typer.Typer(
    help="Seed data: a demo catalog, or millions of rows for benchmarks.", no_args_is_help=True
)


@app.command()
def demo(
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if tracks exist."),
    as_json: bool = JsonOption,
) -> None:
    """A small believable catalog with real audio files generated here (works offline), the
    demo users and the default membership plans (not synced to Stripe)."""
    from ncm.billing.plans import ensure_default_plans
    from ncm.catalog.demo import seed_demo

    async def seed() -> dict[str, object]:
        report = await seed_demo(if_empty=if_empty)
        report["membership_plans"] = len(await ensure_default_plans())
        return report

    emit_one(run(seed), as_json, title="demo catalog")


@app.command()
def scale(
    tracks: int = typer.Option(1_000_000, min=0, help="Tracks to add."),
    users: int = typer.Option(1_000_000, min=0, help="Users to add."),
    as_json: bool = JsonOption,
) -> None:
    """Millions of rows for benchmarks, with set-based inserts (PostgreSQL)."""
    from ncm.catalog.scale_seed import seed_scale

    # Progress goes to stderr, so --json prints only the report on stdout.
    report = run(lambda: seed_scale(tracks=tracks, users=users, echo=err_console.print))
    emit_one(report, as_json, title="scale seed")
