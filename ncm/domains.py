"""The domains of ncm, in one list: their models for Tortoise and their jobs for arq.

``ncm.kit`` knows no domain; the app, the worker and the migrations ask this module instead.
A new domain adds its ``models`` and ``jobs`` modules here.
"""

from __future__ import annotations

import importlib

DOMAINS = [
    "accounts",
    "catalog",
    "playlists",
    "comments",
    "stream",
    "billing",
    "incidents",
    "compensation",
    "finance",
    "promotion",
]

MODEL_MODULES = [f"ncm.{name}.models" for name in DOMAINS]


def load_jobs() -> None:
    """Import every domain's ``jobs`` module so its functions register with ``ncm.kit.jobs``."""
    for name in DOMAINS:
        importlib.import_module(f"ncm.{name}.jobs")
