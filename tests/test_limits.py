"""Every request body is capped before a handler reads it (``ncm.http.limits``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ncm.config import reset_settings
from ncm.http.stripe_webhook import MAX_BODY


@pytest.fixture
async def small_limit(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    import httpx

    from ncm.app import create_app

    monkeypatch.setenv("NCM_MAX_REQUEST_BYTES", "2000")
    reset_settings()
    app = create_app(manage_db=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    monkeypatch.undo()
    reset_settings()


def _query(padding: int) -> bytes:
    return json.dumps({"query": "{ genres { slug } }", "variables": {"x": "y" * padding}}).encode()


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 500):
        yield body[i : i + 500]


async def test_a_body_over_the_limit_is_413_with_a_graphql_error(small_limit: Any) -> None:
    ok = await small_limit.post(
        "/graphql", content=_query(100), headers={"content-type": "application/json"}
    )
    assert ok.status_code == 200 and ok.json() == {"data": {"genres": []}}
    declared = await small_limit.post(
        "/graphql", content=_query(5000), headers={"content-type": "application/json"}
    )
    # Sent in chunks with no Content-Length: counted as it arrives.
    chunked = await small_limit.post(
        "/graphql", content=_chunks(_query(5000)), headers={"content-type": "application/json"}
    )
    for response in (declared, chunked):
        assert response.status_code == 413
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and "2000" in error["message"]
    fine_chunked = await small_limit.post(
        "/graphql", content=_chunks(_query(100)), headers={"content-type": "application/json"}
    )
    assert fine_chunked.status_code == 200


async def test_the_webhook_has_its_own_limit(small_limit: Any) -> None:
    """Stripe events are capped at 256 KB, not at the (here tiny) default."""
    body = b"{" + b" " * 5000 + b"}"  # over the default, under the webhook's cap
    response = await small_limit.post(
        "/webhooks/stripe", content=body, headers={"stripe-signature": "t=1,v1=0"}
    )
    assert response.status_code in (400, 503)  # judged by its signature, not its size
    huge = await small_limit.post(
        "/webhooks/stripe",
        content=_chunks(b"x" * (MAX_BODY + 1)),
        headers={"stripe-signature": "t=1,v1=0"},
    )
    assert huge.status_code == 413
