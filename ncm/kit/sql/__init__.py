"""The one raw-SQL layer: every statement ncm writes by hand goes through here.

- :mod:`.reads`: one text for both dialects (``$n`` placeholders rewritten for SQLite),
  ``fetch``/``execute``, explicit column lists, rows hydrated into models without the query
  builder (the DataLoaders' batch functions and the hot read paths).
- :mod:`.sets`: :class:`Bulk`, set-based ``select``/``insert`` (with ``ON CONFLICT``)/
  ``update``/``delete`` of many rows in one statement per table, for both dialects (the
  catalog importer, the seeds).
- :mod:`.load`: loading many rows: COPY on asyncpg with a SQLite fallback, reserved id
  ranges, index rebuilds around a big load (the scale seeds).
"""

from ncm.kit.sql.load import (
    copy_rows,
    estimated_rows,
    index_statements,
    inserted_count,
    quote_ident,
    raw_connection,
    reserve_ids,
)
from ncm.kit.sql.reads import (
    any_of,
    as_datetime,
    as_models,
    by_id,
    columns,
    execute,
    fetch,
    fetch_models,
    fetch_rows,
    first_of_each,
    hydrator,
    related_by,
    rows_by,
    sql,
)
from ncm.kit.sql.sets import Bulk, Row, hydrate

__all__ = [
    "Bulk",
    "Row",
    "any_of",
    "as_datetime",
    "as_models",
    "by_id",
    "columns",
    "copy_rows",
    "estimated_rows",
    "execute",
    "fetch",
    "fetch_models",
    "fetch_rows",
    "first_of_each",
    "hydrate",
    "hydrator",
    "index_statements",
    "inserted_count",
    "quote_ident",
    "raw_connection",
    "related_by",
    "reserve_ids",
    "rows_by",
    "sql",
]
