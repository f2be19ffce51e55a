"""``ncm seed``: demo data and benchmark-scale data."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Seed data: a demo catalog, or millions of rows for benchmarks.", no_args_is_help=True
)
