"""Migrations through Tortoise's native migration API (used by ``ncm db`` and the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import tortoise.models
from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from ncm.kit.db import tortoise_config


def _no_filters(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return {}


@contextmanager
def _state_models_without_filters() -> Iterator[None]:
    """Render the migration state's model classes without their query filters.

    Tortoise re-renders every model of the project state before each operation (about 4,000
    classes for the chain from an empty database), and most of that work is building each
    field's ~20 query filters (``tortoise.filters.get_filters_for_field``): 60 % of a 15 s
    ``ncm db upgrade`` on an empty SQLite file. State models only produce DDL (schema editor,
    ``RunSQL``, ``RunPython`` steps that write SQL); none is ever queried through a filter,
    so their filters are left empty. The project's own models are built at import, not here,
    and keep theirs. Without the hook this Tortoise version has, nothing is changed."""
    from tortoise.migrations.schema_generator.state import ModelState

    render = ModelState.__dict__.get("render")
    if render is None or not hasattr(tortoise.models, "get_filters_for_field"):
        yield
        return

    def lean_render(self: ModelState, apps: Any, *, deepcopy_fields: bool = True) -> Any:
        real = tortoise.models.get_filters_for_field
        tortoise.models.get_filters_for_field = _no_filters
        try:
            return render(self, apps, deepcopy_fields=deepcopy_fields)
        finally:
            tortoise.models.get_filters_for_field = real

    ModelState.render = lean_render  # type: ignore[method-assign]
    try:
        yield
    finally:
        ModelState.render = render  # type: ignore[method-assign]


async def upgrade(database_url: str | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")

    try:
        with _state_models_without_filters():
            await tortoise_migrate(config=tortoise_config(database_url), progress=progress)
    finally:
        await Tortoise.close_connections()
    return applied


async def _autodetector(database_url: str | None) -> tuple[MigrationAutodetector, Any]:
    from tortoise.cli.cli import tortoise_cli_context

    config = tortoise_config(database_url)
    context = tortoise_cli_context(config)
    ctx = await context.__aenter__()
    assert ctx.apps is not None
    return MigrationAutodetector(ctx.apps, config["apps"]), context


async def pending_changes(database_url: str | None = None) -> list[str]:
    """Descriptions of model changes that no migration covers (empty when in sync)."""
    detector, context = await _autodetector(database_url)
    try:
        writers = await detector.changes()
        return [f"{w.app_label}: {op.describe()}" for w in writers for op in w.operations]
    finally:
        await context.__aexit__(None, None, None)


async def make_migrations(name: str | None = None) -> list[str]:
    from tortoise.migrations.writer import format_migration_name

    detector, context = await _autodetector(None)
    try:
        writers = await detector.changes()
        paths = []
        for writer in writers:
            if name:
                writer.name = format_migration_name(int(writer.name.split("_", 1)[0]), name)
            paths.append(str(writer.write()))
        return paths
    finally:
        await context.__aexit__(None, None, None)


async def migration_status(database_url: str | None = None) -> list[tuple[str, bool]]:
    from tortoise.connection import get_connection
    from tortoise.migrations.executor import MigrationExecutor

    config = tortoise_config(database_url)
    await Tortoise.init(config=config, init_connections=False)
    try:
        executor = MigrationExecutor(get_connection("default"), config["apps"])
        await executor.loader.build_graph()
        pending = {f"{s.migration.app_label}.{s.migration.name}" for s in await executor.plan()}
        names = sorted(f"{k.app_label}.{k.name}" for k in executor.loader.disk_migrations)
        return [(n, n not in pending) for n in names]
    finally:
        await Tortoise.close_connections()


def postgres_only(sql: str) -> Any:
    """A ``RunPython`` step that runs ``sql`` on PostgreSQL and does nothing on SQLite (for
    what SQLite has no form of: covering indexes, storage parameters)."""

    async def run(apps: Any, schema_editor: Any) -> None:
        client = schema_editor.client
        if str(client.capabilities.dialect) == "postgres":
            await client.execute_script(sql)

    return run
