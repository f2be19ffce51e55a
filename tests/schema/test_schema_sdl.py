from pathlib import Path

from ncm.schema.schema import sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_committed_schema_matches_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), "schema.graphql drifted: run `make schema`"
