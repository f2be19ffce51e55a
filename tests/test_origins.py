"""Development allows pages on this machine on any port (a Vite or webpack dev server);
production allows only NCM_ALLOWED_ORIGINS."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import httpx
import pytest

from ncm.config import get_settings


def _preflight(app: Any, origin: str) -> httpx.Response:
    from starlette.testclient import TestClient

    with TestClient(app) as client:
        return client.options(
            "/graphql", headers={"origin": origin, "access-control-request-method": "POST"}
        )


@pytest.mark.parametrize(
    "origin", ["http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"]
)
def test_development_allows_local_dev_servers(origin: str) -> None:
    from ncm.app import create_app

    response = _preflight(create_app(manage_db=False), origin)
    assert response.headers.get("access-control-allow-origin") == origin


@pytest.mark.parametrize(
    "origin", ["http://localhost.evil.example", "https://evil.example", "http://localhost:5173x"]
)
def test_development_refuses_other_origins(origin: str) -> None:
    from ncm.app import create_app

    response = _preflight(create_app(manage_db=False), origin)
    assert "access-control-allow-origin" not in response.headers


def test_production_allows_only_listed_origins() -> None:
    settings = dataclasses.replace(
        get_settings(), production=True, allowed_origins=["https://app.example"]
    )
    assert settings.origin_allowed("https://app.example")
    assert not settings.origin_allowed("http://localhost:5173")
    assert settings.local_origin_regex is None


def test_refused_websocket_origin_names_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    from ncm.schema.view import GraphQLView

    settings = dataclasses.replace(get_settings(), allowed_origins=[])
    view = GraphQLView(settings)
    assert view.is_websocket_origin_allowed(None, "http://localhost:5173")
    with caplog.at_level(logging.WARNING, logger="ncm.graphql"):
        assert not view.is_websocket_origin_allowed(None, "https://evil.example")
    assert "NCM_ALLOWED_ORIGINS" in caplog.text
