"""The fast paths answer what graphql-core answers: documents drawn from the schema (the
fuzzer's strategy: real fields, arguments, aliases, unions, fragments) are sent to the
application as served (``NCM_FAST_EXECUTOR`` on: the lean lane, shapes, lean resolvers) and
to one with the switch off (Strawberry's view and graphql-core's executor), over a small
catalog, and the two answers must be the same: status, data, and each error's message, path
and code. Queries only: a mutation would change what the second one reads.

The budget is ``NCM_FUZZ_EXAMPLES`` (default 40), as for the fuzzers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given

from ncm.config import get_settings
from tests import factories
from tests.security.test_fuzz import FUZZ, client_with, documents

pytestmark = pytest.mark.skipif(
    not get_settings().fast_executor, reason="compares the fast paths with the fallback"
)


@pytest.fixture
async def fallback() -> AsyncIterator[httpx.AsyncClient]:
    """The application as ``NCM_FAST_EXECUTOR=0`` serves it."""
    async with client_with(fast_executor=False) as client:
        yield client


@pytest.fixture
async def catalog() -> None:
    """A few rows for the documents to read: tracks with artists, albums and genres."""
    album = await factories.album("晴天 album")
    singer = await factories.artist("周杰伦")
    for title in ("晴天", "七里香", "Daybreak"):
        await factories.track(title, on=album, artists=[singer])


def _answer(response: httpx.Response) -> tuple[int, Any, list[tuple[Any, Any, Any]]]:
    if not response.headers.get("content-type", "").startswith("application/"):
        return response.status_code, response.text, []
    body = response.json()
    errors = [
        (e.get("message"), e.get("path"), (e.get("extensions") or {}).get("code"))
        for e in body.get("errors") or []
    ]
    return response.status_code, body.get("data"), errors


@FUZZ
@given(document=documents().filter(lambda d: not d.lstrip().startswith("mutation")))
async def test_fast_paths_answer_as_graphql_core(
    http: httpx.AsyncClient, fallback: httpx.AsyncClient, catalog: None, document: str
) -> None:
    body = {"query": document}
    # Twice: the second request of a document is the one the lane serves (validated before).
    for _ in range(2):
        fast = _answer(await http.post("/graphql", json=body))
        slow = _answer(await fallback.post("/graphql", json=body))
        if any(code in CLOCKED for answer in (fast, slow) for *_, code in answer[2]):
            return  # a refusal that depends on the clock, not on the executor
        assert fast == slow, document


# Refusals decided by time: the validation budget (CPU and wall time of a big document on a
# loaded machine) and rate limits.
CLOCKED = frozenset({"VALIDATION_BUDGET_EXCEEDED", "RATE_LIMITED"})
