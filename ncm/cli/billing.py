"""``ncm billing``: plans, members, grants, webhook events and reconciliation."""

from __future__ import annotations

import typer

app = typer.Typer(help="Billing: plans, members, grants, events.", no_args_is_help=True)
