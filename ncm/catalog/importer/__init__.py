"""Catalog import: create or update tracks, with their artists, album, genres, renditions and
licenses, from a JSON Lines or CSV file (``ncm catalog import FILE``).

JSON Lines (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line, one track each::

    {"isrc": "CNA0K2300001", "external_id": "t-1", "title": "晴天",
     "artists": [{"name": "周杰伦", "external_id": "a-1", "region": "TW"}],
     "album": {"title": "叶惠美", "external_id": "al-1", "release_date": "2003-07-31",
               "cover_url": null, "artist_external_id": "a-1"},
     "disc_number": 1, "track_number": 1, "duration_ms": 269000, "language": "zh",
     "explicit": false, "fee_policy": "FREE", "status": "AVAILABLE", "genres": ["pop"],
     "renditions": [{"quality": "STANDARD", "bitrate": 128, "format": "wav",
                     "size_bytes": 480044, "path": "demo/1/standard.wav"}],
     "licenses": [{"region": "*", "available_from": null, "available_until": null}]}

Fields (unknown keys are rejected, so a typo never passes silently):

* ``title`` (required), ``duration_ms`` (required, a positive integer of milliseconds).
* ``isrc`` and/or ``external_id``: at least one, they identify the track on re-import. An ISRC is
  12 characters ``[A-Z]{2}[A-Z0-9]{3}[0-9]{7}``; hyphens are dropped and letters upper-cased.
* ``artists`` (required, credit order): names, or objects ``{name, external_id?, region?}``.
* ``album``: a title, an object ``{title, external_id?, release_date?, cover_url?,
  artist_external_id? | artist?}``, or ``null`` to take the track off its album. The album artist
  is the track's first artist unless ``artist`` (a name or an artist object) or
  ``artist_external_id`` (one of the track's artists, an artist earlier in the file, or one
  already in the catalog) says otherwise.
* ``disc_number``, ``track_number`` (1..32767), ``language`` (a tag such as ``zh`` or ``ja-JP``),
  ``explicit`` (true/false), ``fee_policy`` (FREE, MEMBERS_ONLY, FREE_STANDARD), ``status``
  (AVAILABLE, WITHDRAWN).
* ``genres``: slugs (``pop``, ``k-pop``); an unknown slug creates the genre, named ``Pop``, ``K-Pop``.
* ``renditions``: ``{quality, bitrate, format, size_bytes, path}``, one per quality (STANDARD,
  HIGHER, EXHIGH, LOSSLESS, HIRES); ``path`` is relative to the media root.
* ``licenses``: ``{region, available_from?, available_until?}`` (or just a region), region an ISO
  3166-1 alpha-2 code or ``*`` for everywhere, times ISO 8601 (a date means midnight UTC, a time
  without an offset is UTC).

CSV (``.csv``, UTF-8, a header row; a record's line is the line it starts on): columns ``isrc``,
``external_id``, ``title``, ``artists`` (names separated by ``;``), ``album`` (title),
``album_external_id``, ``release_date``, ``disc_number``, ``track_number``, ``duration_ms``,
``language``, ``explicit`` (true/false/1/0/yes/no), ``fee_policy``, ``genres`` (``;``), ``regions``
(``;``-separated ISO codes or ``*``: licenses without a time window). ``title``, ``artists`` and
``duration_ms`` and one of ``isrc``/``external_id`` are required columns; an unknown column makes
the whole file fail. An empty cell means "not given".

Rules:

* Upsert, idempotent: a track is matched by ISRC, else by external_id; an artist by external_id,
  else by exact name; an album by external_id, else by (title, album artist). Importing the same
  file again writes nothing and reports every row as unchanged.
* A key that is absent leaves the stored value alone; ``genres``, ``renditions`` and ``licenses``,
  when present, replace the track's set; ``artists`` always does. In CSV an empty ``regions``
  cell leaves licenses alone.
* The first record of a file that names an artist or album (by external_id, else by name/title)
  sets its name and details for the whole import; later records only refer to it.
* Every row is validated first; a rejected row is reported with its line number and reason and
  never stops the others. Malformed JSON on a line is a rejection of that line.
* Accepted rows are written in chunks of 500, each chunk in one transaction with set-based
  SQL (about fifteen statements per chunk whatever its size); if the database refuses a chunk,
  it is retried row by row, so no row is ever half-written (:mod:`.writing`).
* ``search_text`` (ncm.search.text) is computed for every track, album and artist written, and
  recomputed for the other tracks and albums of an artist or album whose name changes.
* Speed (PostgreSQL, 20,000 tracks with ~7 rows each across the link tables): the first import
  is bound by the database's foreign-key checks and index upkeep, a re-import by Python
  (parsing and validation). Artists without an external_id are looked up by name, which has
  no index: with a very large artists table, add one.

The package by job: :mod:`.formats` reads files into records, :mod:`.validation` checks them
(pydantic models and the file-level rules), :mod:`.writing` writes accepted rows in chunks.
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
