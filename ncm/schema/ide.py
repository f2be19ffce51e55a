"""GraphiQL served from the package, so the IDE works offline.

Strawberry's page loads React, GraphiQL and its explorer plugin from a public CDN; this
rewrites those addresses to ``/graphql/ide/<file>``, served from ``ncm/static/graphiql``
(vendored from the npm releases with their licences by ``scripts/vendor-graphiql.sh``). The
page keeps Strawberry's Subresource Integrity hashes: the browser refuses a vendored file
that is not byte for byte the published one.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from strawberry.http.ides import get_graphql_ide_html

ASSETS = Path(__file__).resolve().parent.parent / "static" / "graphiql"
PREFIX = "/graphql/ide"

# CDN path -> vendored file name
_FILES = {
    "react@18.2.0/umd/react.production.min.js": "react.production.min.js",
    "react-dom@18.2.0/umd/react-dom.production.min.js": "react-dom.production.min.js",
    "js-cookie@3.0.5/dist/js.cookie.min.js": "js.cookie.min.js",
    "graphiql@3.8.3/graphiql.min.css": "graphiql.min.css",
    "graphiql@3.8.3/graphiql.min.js": "graphiql.min.js",
    "@graphiql/plugin-explorer@1.0.2/dist/style.css": "plugin-explorer.css",
    "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "plugin-explorer.umd.js",
}
_CDN = re.compile(r"https://unpkg\.com/([^\"']+)")


class OfflineAssetsMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def graphiql_html() -> str:
    """Strawberry's GraphiQL page with every CDN address replaced by a local one."""

    def local(match: re.Match[str]) -> str:
        path = match.group(1)
        if path not in _FILES:
            raise OfflineAssetsMissing(
                f"GraphiQL asks for {path}, which is not vendored: run scripts/vendor-graphiql.sh"
            )
        return f"{PREFIX}/{_FILES[path]}"

    return _CDN.sub(local, get_graphql_ide_html(graphql_ide="graphiql"))


def ide_routes() -> list[Mount]:
    """The vendored assets (development only: production serves no IDE)."""
    return [Mount(PREFIX, app=StaticFiles(directory=ASSETS), name="graphiql-assets")]
