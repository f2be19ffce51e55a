from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.pgcluster import Pair
from tests.scale.pair import make_pair, migrate


@pytest.fixture(scope="package")
def pair() -> Iterator[Pair]:
    """One throwaway primary and streaming standby for the package's tests (~3 s)."""
    created = make_pair()
    try:
        migrate(created)
        yield created
    finally:
        created.remove()
