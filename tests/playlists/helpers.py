from __future__ import annotations

from typing import Any

from ncm.playlists import service
from ncm.schema.base import to_global_id
from tests import factories
from tests.conftest import GraphQLClient


async def tracks(n: int) -> list[Any]:
    artist = await factories.artist()
    album = await factories.album(by=artist)
    return [await factories.track(f"Song {i}", artists=[artist], on=album) for i in range(n)]


def gid(kind: str, pk: int) -> str:
    return to_global_id(kind, pk)


async def playlist_of(owner: Any, **kwargs: Any) -> Any:
    return await service.create_playlist(owner, title=kwargs.pop("title", "Mix"), **kwargs)


ENTRIES = """query($id: ID!, $first: Int, $after: String) { playlist(id: $id) { version entryCount
  entries(first: $first, after: $after) { edges { node { id position track { title } } }
  pageInfo { hasNextPage endCursor } } } }"""


async def titles(gql: GraphQLClient, playlist_id: int, token: str | None = None) -> list[str]:
    body = await gql(ENTRIES, {"id": gid("Playlist", playlist_id), "first": 100}, token=token)
    return [e["node"]["track"]["title"] for e in body["data"]["playlist"]["entries"]["edges"]]
