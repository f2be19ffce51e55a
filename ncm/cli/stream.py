"""``ncm stream``: explain playback decisions and sign URLs for debugging."""

from __future__ import annotations

import typer

app = typer.Typer(help="Playback: explain decisions, sign URLs.", no_args_is_help=True)
