"""``ncm compensation``: Compensation campaigns: grants to many users after an outage."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Compensation campaigns: grants to many users after an outage.", no_args_is_help=True
)
