"""Search that reads a bounded number of rows for any word (docs/search.md).

PostgreSQL only (SQLite keeps FTS5):

* ``search_tier`` (1 to 5) on every searchable table, kept by ``ncm.search.tiers``: tier 1
  holds the most popular rows, each next tier ten times more, tier 5 the rest. Partial GIN
  indexes on tiers 1, 1-2, 1-3 and 1-4 let a page come from the popular rows alone.
* A btree on the normalized name (``lower(normalize(name, NFKC))``, ``text_pattern_ops``):
  exact names in every tier.
* A ``(popularity, id)`` btree where missing, so the tier boundaries are index lookups.
* ``search_suggestions``: the popular names by prefix (``ncm.search.suggestions``).
* Existing ``search_text`` folded from traditional to simplified Chinese, as
  ``ncm.search.text.document_tokens`` now writes it.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops

# table, name column, popularity column
TABLES = [
    ("tracks", "title", "play_count"),
    ("albums", "title", "subscriber_count"),
    ("artists", "name", "subscriber_count"),
    ("users", "handle", "follower_count"),
    ("playlists", "title", "subscriber_count"),
]
CHUNK = 5000
TIERS = 4  # bounded tiers of ncm.search.tiers.TIER_ROWS; tier 5 is the rest


# Rebuilt by ncm.search.suggestions.rebuild with the tiers; kind is the type's search order.
SUGGESTIONS = """
CREATE TABLE IF NOT EXISTS search_suggestions (
    key text NOT NULL,
    label text NOT NULL,
    kind smallint NOT NULL,
    ref_id bigint NOT NULL,
    rank integer NOT NULL
);
CREATE INDEX IF NOT EXISTS search_suggestions_key_idx
    ON search_suggestions (key text_pattern_ops, rank);
CREATE TABLE IF NOT EXISTS search_suggestion_heads (
    prefix text NOT NULL,
    kind smallint NOT NULL,
    ref_id bigint NOT NULL,
    label text NOT NULL,
    rank integer NOT NULL
);
CREATE INDEX IF NOT EXISTS search_suggestion_heads_prefix_idx
    ON search_suggestion_heads (prefix, rank);
"""


def key(column: str) -> str:
    return f"lower(normalize({column}, NFKC))"


def forward_sql(table: str, name: str, popularity: str) -> list[str]:
    return [
        # New rows start in the last tier: they have no plays or subscribers yet.
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_tier smallint NOT NULL"
        f" DEFAULT {TIERS + 1}",
        *(
            f"CREATE INDEX IF NOT EXISTS {table}_search_t{n}_idx ON {table}"
            f" USING gin (search_vector) WHERE search_tier <= {n}"
            for n in range(1, TIERS + 1)
        ),
        # Exact names in popularity order: a title shared by thousands reads one page.
        f"CREATE INDEX IF NOT EXISTS {table}_name_key_idx ON {table}"
        f" ({key(name)} text_pattern_ops, {popularity}, id)",
    ] + (
        []  # tracks already have (play_count, id) from 0001
        if table == "tracks"
        else [f"CREATE INDEX IF NOT EXISTS {table}_popularity_idx ON {table} ({popularity}, id)"]
    )


def backward_sql(table: str) -> list[str]:
    return [
        *(
            f"DROP INDEX IF EXISTS {table}_{suffix}"
            for suffix in ["name_key_idx", *(f"search_t{n}_idx" for n in range(1, TIERS + 1))]
        ),
        f"DROP INDEX IF EXISTS {table}_popularity_idx",
        f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_tier",
    ]


async def _fold_traditional(client) -> None:
    """Re-write search_text tokens in simplified Chinese (a token is one or two characters,
    converted alone as document_tokens converts them in context, which OpenCC's character
    table makes the same); chunked by id, only rows holding Han characters."""
    from ncm.search.text import simplified

    for table, _, _ in TABLES:
        last = 0
        while True:
            rows = await client.execute_query_dict(
                f"SELECT id, search_text FROM {table} WHERE id > $1"
                " AND search_text ~ '[\u3400-\u9fff]' ORDER BY id LIMIT $2",
                [last, CHUNK],
            )
            if not rows:
                break
            last = rows[-1]["id"]
            changed = []
            for row in rows:
                text = " ".join(dict.fromkeys(simplified(t) for t in row["search_text"].split()))
                if text != row["search_text"]:
                    changed.append((row["id"], text))
            if changed:
                await client.execute_query(
                    f"UPDATE {table} t SET search_text = v.text FROM"
                    " unnest($1::bigint[], $2::text[]) AS v(id, text) WHERE t.id = v.id",
                    [[c[0] for c in changed], [c[1] for c in changed]],
                )


def _step(forward: bool):
    async def run(apps, schema_editor) -> None:
        client = schema_editor.client
        if client.capabilities.dialect != "postgres":
            return
        for table, name, popularity in TABLES:
            for statement in (
                forward_sql(table, name, popularity) if forward else backward_sql(table)
            ):
                await client.execute_script(statement)
        if forward:
            await client.execute_script(SUGGESTIONS)
            await _fold_traditional(client)
        else:
            await client.execute_script(
                "DROP TABLE IF EXISTS search_suggestions; DROP TABLE IF EXISTS search_suggestion_heads"
            )

    return run


class Migration(migrations.Migration):
    dependencies = [("ncm", "0014_promotion")]

    initial = False

    operations = [ops.RunPython(_step(True), _step(False))]
