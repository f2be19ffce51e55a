"""``POST /webhooks/stripe`` (filled by the billing work)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from ncm.config import Settings


def routes(settings: Settings) -> list[BaseRoute]:
    return []
