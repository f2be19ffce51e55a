"""``ncm.kit.db.dialect``: remembered from ``init_db``, asked of Tortoise again once Tortoise is
configured another way."""

from __future__ import annotations

import pytest
from tortoise import connections

from ncm.kit import db


def _live() -> str:
    return str(connections.get("default").capabilities.dialect)


async def test_the_remembered_dialect_is_the_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    assert db.dialect() == _live()
    monkeypatch.setattr(db, "_dialect", "postgres" if _live() == "sqlite" else "sqlite")
    assert db.dialect() != _live()  # what init_db remembered is what is answered
    db.tortoise_config()  # the migration commands configure Tortoise: ask it again
    assert db._dialect is None
    assert db.dialect() == _live()
