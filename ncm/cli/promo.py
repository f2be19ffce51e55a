"""``ncm promo``: Partner promotion: partners, keys, campaigns, reports."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Partner promotion: partners, keys, campaigns, reports.", no_args_is_help=True
)
