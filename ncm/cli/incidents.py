"""``ncm incidents``: Incidents and service status."""

from __future__ import annotations

import typer

app = typer.Typer(help="Incidents and service status.", no_args_is_help=True)
