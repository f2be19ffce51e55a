"""``/stream/...``: signed byte serving (filled by the playback work)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from ncm.config import Settings


def routes(settings: Settings) -> list[BaseRoute]:
    return []
