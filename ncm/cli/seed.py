"""``ncm seed``: demo data and benchmark-scale data."""

from __future__ import annotations

import typer

from ncm.cli.common import JsonOption, emit_one, run
from ncm.cli.progress import progress

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
    from ncm.seeding.demo import seed_demo

    async def seed() -> dict[str, object]:
        report = await seed_demo(if_empty=if_empty)
        report["membership_plans"] = len(await ensure_default_plans())
        return report

    emit_one(run(seed), as_json, title="demo catalog")


@app.command()
def scale(
    tracks: int = typer.Option(1_000_000, min=0, help="Tracks to add (with artists, albums)."),
    users: int = typer.Option(1_000_000, min=0, help="Users to add."),
    comments: int = typer.Option(
        0, min=0, help="Comments to add (with replies and likes), after the tracks and users."
    ),
    hot_track_share: float = typer.Option(
        0.2, min=0.0, max=1.0, help="Share of the comments on the most played track."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Millions of rows for benchmarks, with COPY and set-based inserts (PostgreSQL).

    Each run adds rows after the existing ones; every seeded user's password is
    bench-password-1.
    """
    from ncm.seeding.scale import seed_scale

    # Progress goes to stderr, so --json prints only the report on stdout.
    with progress() as echo:
        report = run(
            lambda: seed_scale(
                tracks=tracks,
                users=users,
                comments=comments,
                hot_track_share=hot_track_share,
                echo=echo,
            )
        )
    emit_one(report, as_json, title="scale seed")
