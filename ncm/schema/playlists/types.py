from __future__ import annotations

from datetime import datetime

import strawberry

from ncm.accounts import service as accounts
from ncm.accounts.models import User as UserModel
from ncm.catalog import service as catalog
from ncm.kit.pagination import Page, page_size
from ncm.playlists import access, likes
from ncm.playlists import entries as entries_service
from ncm.playlists import models as m
from ncm.playlists import service as playlists
from ncm.schema.accounts.types import User, load_user
from ncm.schema.base import Connection, ModelView, Node, connection, connection_of
from ncm.schema.catalog.types import Track
from ncm.schema.context import Info
from ncm.schema.nodes import register_node_resolver, register_view

ENTRY_PREVIEW_MAX = 20  # first pages up to this size are loaded for many playlists at once

strawberry.enum(m.Privacy, name="PlaylistPrivacy")
strawberry.enum(m.PlaylistKind, name="PlaylistKind")
strawberry.enum(m.ShareChannel, name="ShareChannel")


@strawberry.type(description="One place in a playlist; the same track may hold several.")
class PlaylistEntry(Node, ModelView):
    pk: strawberry.Private[int]
    track_pk: strawberry.Private[int]
    added_by_pk: strawberry.Private[int | None]
    position: int = strawberry.field(description="0-based, as of when this page was read.")
    added_at: datetime

    @classmethod
    def from_row(cls, row: entries_service.EntryRow) -> PlaylistEntry:
        return cls.copy_from(row.entry, position=row.index)

    @strawberry.field
    async def track(self, info: Info) -> Track:
        row = await info.context.loaders.one(catalog.tracks_by_ids).load(self.track_pk)
        return Track.from_model(row)

    @strawberry.field
    async def added_by(self, info: Info) -> User | None:
        return await load_user(info, self.added_by_pk)


@strawberry.type
class Playlist(Node, ModelView):
    model: strawberry.Private[m.Playlist]
    title: str
    description: str
    cover_url: str | None
    tags: list[str]
    privacy: m.Privacy
    kind: m.PlaylistKind
    allow_duplicates: bool = strawberry.field(
        description="Whether a track may appear more than once."
    )
    version: int = strawberry.field(
        description="Bumped by every change: pass it as `expectedVersion`."
    )
    entry_count: int
    subscriber_count: int
    share_count: int
    comment_count: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = strawberry.field(
        description="Set while the playlist is deleted (restorable for 30 days)."
    )

    @classmethod
    def from_model(cls, p: m.Playlist) -> Playlist:
        return cls.copy_from(p, model=p, tags=list(p.tags))

    @strawberry.field
    async def owner(self, info: Info) -> User:
        user = await load_user(info, self.model.owner_id)
        assert user is not None
        return user

    @strawberry.field
    async def collaborators(self, info: Info) -> list[User]:
        ids = await info.context.loaders.many(playlists.collaborators_of).load(self.model.id)
        rows = await info.context.loaders.one(accounts.profiles_by_ids).load_many(ids)
        return [User.from_model(u) for u in rows if u is not None]

    @strawberry.field(description="Whether the viewer may add, remove and move entries.")
    async def viewer_can_edit(self, info: Info) -> bool:
        viewer = await info.context.viewer()
        if viewer is None:
            return False
        if viewer.id == self.model.owner_id:
            return self.model.deleted_at is None
        ids = await info.context.loaders.many(playlists.collaborators_of).load(self.model.id)
        return viewer.id in ids and self.model.deleted_at is None

    @strawberry.field(description="Whether the viewer saved this playlist.")
    async def subscribed_by_viewer(self, info: Info) -> bool:
        viewer = await info.context.viewer()
        if viewer is None:
            return False
        loader = info.context.loaders.one(playlists.subscription_states, viewer.id)
        return bool(await loader.load(self.model.id))

    @strawberry.field(description="In order; page with `first`/`after` (at most 100 a page).")
    async def entries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[PlaylistEntry]:
        viewer = await info.context.viewer()
        size = page_size(first)
        if after is None and size <= ENTRY_PREVIEW_MAX:
            # First pages of a list of playlists: one query for all of them.
            loader = info.context.loaders.one(_first_entries, (viewer, size))
            page = await loader.load(self.model)
            if page is None:
                raise access.not_found()
        else:
            page = await entries_service.entries_page(viewer, self.model.id, first, after)
        return connection(page, PlaylistEntry.from_row)


async def _first_entries(
    scope: tuple[UserModel | None, int], playlists: list[m.Playlist]
) -> dict[m.Playlist, Page[entries_service.EntryRow]]:
    viewer, size = scope
    pages = await entries_service.first_entries(viewer, playlists, size)
    return {p: pages[p.id] for p in playlists if p.id in pages}


@strawberry.type(description="A link to a track or a playlist, shared on a channel.")
class ShareLink:
    model: strawberry.Private[m.ShareLink]

    @strawberry.field
    def token(self) -> str:
        return self.model.token

    @strawberry.field
    def channel(self) -> m.ShareChannel:
        return self.model.channel

    @strawberry.field
    def created_at(self) -> datetime:
        return self.model.created_at

    @strawberry.field
    async def sharer(self, info: Info) -> User:
        user = await load_user(info, self.model.sharer_id)
        assert user is not None
        return user

    @strawberry.field
    async def track(self, info: Info) -> Track | None:
        if self.model.track_id is None:
            return None
        row = await info.context.loaders.one(catalog.tracks_by_ids).load(self.model.track_id)
        return Track.from_model(row) if row else None

    @strawberry.field(description="Null when the playlist is private to the viewer or gone.")
    async def playlist(self, info: Info) -> Playlist | None:
        if self.model.playlist_id is None:
            return None
        viewer = await info.context.viewer()
        found = await playlists.visible_playlists(viewer, [self.model.playlist_id])
        row = found.get(self.model.playlist_id)
        return Playlist.from_model(row) if row else None

    @strawberry.field(description="What followed the share; only its sharer sees these.")
    async def attribution(self, info: Info) -> ShareAttribution | None:
        viewer = await info.context.viewer()
        if viewer is None or viewer.id != self.model.sharer_id:
            return None
        return ShareAttribution(
            subscriptions=self.model.subscription_count,
            likes=self.model.like_count,
            plays=self.model.play_count,
        )


@strawberry.type
class ShareAttribution:
    subscriptions: int
    likes: int
    plays: int


async def visible_playlist(info: Info, pk: int) -> Playlist | None:
    viewer = await info.context.viewer()
    found = await playlists.visible_playlists(viewer, [pk])
    row = found.get(pk)
    return Playlist.from_model(row) if row else None


def _converted(found: dict[int, m.Playlist]) -> dict[int, Playlist]:
    return {pk: Playlist.from_model(p) for pk, p in found.items()}


@strawberry.type
class PlaylistsViewer:
    """The playlists part of ``Viewer`` (see ncm/schema/viewer.py)."""

    model: strawberry.Private[UserModel]

    @strawberry.field(description="Your playlists, in your order (see `movePlaylist`).")
    async def playlists(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Playlist]:
        page = await playlists.own_playlists(self.model, first, after)
        return connection(page, Playlist.from_model)

    @strawberry.field(description="Your liked songs (created on first use).")
    async def liked_songs(self, info: Info) -> Playlist:
        return Playlist.from_model(await likes.liked_playlist(self.model))

    @strawberry.field(description="Playlists of others you saved, newest first.")
    async def subscribed_playlists(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Playlist]:
        page = await playlists.subscribed_page(self.model, first, after)
        found = await playlists.visible_playlists(self.model, [s.playlist_id for s in page.items])
        return connection_of(page, lambda s: s.playlist_id, _converted(found))

    @strawberry.field(description="Others' playlists you may edit, newest invitation first.")
    async def collaborations(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Playlist]:
        page = await playlists.collaborations(self.model, first, after)
        found = await playlists.visible_playlists(self.model, [c.playlist_id for c in page.items])
        return connection_of(page, lambda c: c.playlist_id, _converted(found))

    @strawberry.field(description="Playlists you deleted in the last 30 days (restorable).")
    async def deleted_playlists(self, info: Info) -> list[Playlist]:
        return [Playlist.from_model(p) for p in await playlists.deleted_playlists(self.model)]


register_node_resolver("Playlist", visible_playlist)
register_view("Playlist", Playlist.from_model)
