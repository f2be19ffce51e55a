"""Migrations through Tortoise's native migration API (used by ``ncm db`` and the tests)."""

from __future__ import annotations

from typing import Any

from tortoise import Tortoise
from tortoise.migrations.api import migrate as tortoise_migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from ncm.kit.db import tortoise_config


async def upgrade(database_url: str | None = None) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")

    try:
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
