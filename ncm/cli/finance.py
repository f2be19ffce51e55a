"""``ncm finance``: Finance: revenue reports, rates, closing months, reconciliation."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Finance: revenue reports, rates, closing months, reconciliation.", no_args_is_help=True
)
