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
    owners: dict[str, str] = {}
    for name in DOMAINS:
        if importlib.util.find_spec(f"ncm.{name}.models") is None:
            continue
        module = importlib.import_module(f"ncm.{name}.models")
        models = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Model)
            and value.__module__ == module.__name__
        ]
        for model in models:
            # One Tortoise app: two classes of one name would silently share a registry slot.
            if owners.setdefault(model.__name__, module.__name__) != module.__name__:
                raise RuntimeError(
                    f"model {model.__name__} is defined in {owners[model.__name__]} and"
                    f" {module.__name__}: model names are unique across domains"
                )
        if models:
            found.append(module.__name__)
    return found


def load_retention() -> None:
    """Import every domain's ``retention`` module: its partitioned tables and the rollup
    checks that guard their retention (``ncm.kit.partitions``)."""
    for name in DOMAINS:
        if importlib.util.find_spec(f"ncm.{name}.retention") is not None:
            importlib.import_module(f"ncm.{name}.retention")


def load_jobs() -> None:
    """Import every domain's ``jobs`` module so its functions register with ``ncm.kit.jobs``."""
    for name in DOMAINS:
        if importlib.util.find_spec(f"ncm.{name}.jobs") is not None:
            importlib.import_module(f"ncm.{name}.jobs")
