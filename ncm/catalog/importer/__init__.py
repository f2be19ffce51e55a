"""Catalog import: create or update tracks, with their artists, album, genres, renditions and
licenses, from a JSON Lines or CSV file (``ncm catalog import FILE``).

The record format, the matching rules and examples: ``docs/catalog-import.md``. In short:
tracks match by ISRC, else external_id (an artist by external_id, else name; an album by
external_id, else title and artist), so importing a file again writes nothing; every row is
validated first and a rejected row, reported with its line and every reason, never stops the
others; accepted rows are written in chunks, one transaction each, with set-based SQL.

The package by job: :mod:`.formats` reads files into records, :mod:`.validation` checks them
(pydantic models and the file-level rules), :mod:`.writing` writes accepted rows in chunks.
Speed (PostgreSQL, 20,000 tracks with ~7 rows each across the link tables): the first import
is bound by the database's foreign-key checks and index upkeep, a re-import by Python
(parsing and validation). Artists without an external_id are looked up by name (indexed).
"""

from ncm.catalog.importer.formats import (
    CSV_COLUMNS,
    PARSE_ERROR,
    ImportFileError,
    Record,
    csv_record,
    estimate_records,
    parse_file,
)
from ncm.catalog.importer.validation import RowRejected, TrackIn, TrackRecord, Validator
from ncm.catalog.importer.writing import (
    CHUNK_SIZE,
    ImportReport,
    Rejection,
    import_file,
    import_records,
    refresh_search_text,
)

__all__ = [
    "CHUNK_SIZE",
    "CSV_COLUMNS",
    "PARSE_ERROR",
    "ImportFileError",
    "ImportReport",
    "Record",
    "Rejection",
    "RowRejected",
    "TrackIn",
    "TrackRecord",
    "Validator",
    "csv_record",
    "estimate_records",
    "import_file",
    "import_records",
    "parse_file",
    "refresh_search_text",
]
