from __future__ import annotations

from collections.abc import Iterator

import pytest

from ncm.config import reset_settings


@pytest.fixture(autouse=True)
def generous_rate_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Most tests post more than 5 comments a minute; the rate-limit tests lower it again."""
    monkeypatch.setenv("NCM_COMMENT_RATE_PER_MINUTE", "1000")
    reset_settings()
    yield
    monkeypatch.undo()
    reset_settings()
