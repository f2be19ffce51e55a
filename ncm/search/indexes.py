"""DDL for the full-text search index of a table with a ``search_text`` column.

PostgreSQL: a GIN index on ``to_tsvector('simple', search_text)`` (migration 0007 then
replaces it with a stored ``search_vector`` column and a GIN index on that).
SQLite: an FTS5 external-content table (``<table>_fts``) kept in sync by triggers.
Migrations call these so every searchable table is indexed the same way.
"""

from __future__ import annotations

from typing import Any


def create_sql(table: str, dialect: str) -> list[str]:
    if dialect == "postgres":
        return [
            f"CREATE INDEX IF NOT EXISTS {table}_search_idx ON {table} "
            f"USING gin (to_tsvector('simple', search_text))"
        ]
    fts = f"{table}_fts"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5(search_text, content='{table}', "
        f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ai AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_ad AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text);"
        f" END",
        f"CREATE TRIGGER IF NOT EXISTS {fts}_au AFTER UPDATE OF search_text ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text);"
        f" INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def drop_sql(table: str, dialect: str) -> list[str]:
    if dialect == "postgres":
        return [f"DROP INDEX IF EXISTS {table}_search_idx"]
    fts = f"{table}_fts"
    return [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")] + [
        f"DROP TABLE IF EXISTS {fts}"
    ]


def migration_step(tables: list[str], *, drop: bool = False) -> Any:
    """A ``RunPython`` callable that creates (or drops) the indexes of these tables."""

    async def run(apps: Any, schema_editor: Any) -> None:
        client = schema_editor.client
        dialect = str(client.capabilities.dialect)
        for table in tables:
            for sql in (drop_sql if drop else create_sql)(table, dialect):
                await client.execute_script(sql)

    return run
