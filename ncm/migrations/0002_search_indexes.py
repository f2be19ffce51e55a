"""Full-text search indexes over ``search_text`` (see ncm/search/text.py).

PostgreSQL: GIN indexes on ``to_tsvector('simple', search_text)``.
SQLite: FTS5 external-content tables kept in sync by triggers.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

SEARCHABLE = ["tracks", "albums", "artists", "users"]


def _pg(table: str) -> list[str]:
    return [
        f"CREATE INDEX IF NOT EXISTS {table}_search_idx ON {table} "
        f"USING gin (to_tsvector('simple', search_text))"
    ]


def _sqlite(table: str) -> list[str]:
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


def _reverse_pg(table: str) -> list[str]:
    return [f"DROP INDEX IF EXISTS {table}_search_idx"]


def _reverse_sqlite(table: str) -> list[str]:
    fts = f"{table}_fts"
    return [f"DROP TRIGGER IF EXISTS {fts}_{s}" for s in ("ai", "ad", "au")] + [
        f"DROP TABLE IF EXISTS {fts}"
    ]


def _runner(pg, sqlite):
    async def run(apps, schema_editor) -> None:
        client = schema_editor.client
        build = pg if client.capabilities.dialect == "postgres" else sqlite
        for table in SEARCHABLE:
            for sql in build(table):
                await client.execute_script(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("ncm", "0001_initial")]

    operations = [ops.RunPython(_runner(_pg, _sqlite), _runner(_reverse_pg, _reverse_sqlite))]
