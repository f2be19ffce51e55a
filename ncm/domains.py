"""The domains of ncm, in one list: their models for Tortoise and their jobs for arq.

``ncm.kit`` knows no domain; the app, the worker and the migrations ask this module instead.
A new domain adds its ``models`` and ``jobs`` modules here.
"""

from __future__ import annotations

import importlib
import importlib.util

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
    "search",
]


def model_modules() -> list[str]:
    """The domains' ``models`` modules that define at least one model (Tortoise warns on
    an empty one)."""
    from tortoise.models import Model

    found = []
    for name in DOMAINS:
        if importlib.util.find_spec(f"ncm.{name}.models") is None:
            continue
        module = importlib.import_module(f"ncm.{name}.models")
        if any(
            isinstance(value, type)
            and issubclass(value, Model)
            and value.__module__ == module.__name__
            for value in vars(module).values()
        ):
            found.append(module.__name__)
    return found


def load_jobs() -> None:
    """Import every domain's ``jobs`` module so its functions register with ``ncm.kit.jobs``."""
    for name in DOMAINS:
        if importlib.util.find_spec(f"ncm.{name}.jobs") is not None:
            importlib.import_module(f"ncm.{name}.jobs")
