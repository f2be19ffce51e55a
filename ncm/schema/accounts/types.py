from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from ncm.accounts import service as accounts
from ncm.accounts.models import Follow
from ncm.accounts.models import Role as RoleModel
from ncm.accounts.models import User as UserModel
from ncm.kit.pagination import Page
from ncm.playlists.service import user_playlists
from ncm.schema.base import Connection, ModelView, Node, connection, to_global_id
from ncm.schema.context import Info
from ncm.schema.nodes import register_node, view_of

if TYPE_CHECKING:  # for type checkers only: at run time it is `view_of("Playlist")`
    from ncm.schema.playlists.types import Playlist

strawberry.enum(
    RoleModel,
    name="Role",
    description="What a user may do: listeners use the apps, the others run the service.",
)


@strawberry.type(description="A person's public profile.")
class User(Node, ModelView):
    pk: strawberry.Private[int]
    handle: str
    display_name: str
    avatar_url: str | None
    follower_count: int
    following_count: int
    created_at: datetime

    @strawberry.field(description="Whether the viewer follows this user (false when anonymous).")
    async def followed_by_viewer(self, info: Info) -> bool:
        viewer = await info.context.viewer()
        if viewer is None:
            return False
        loader = info.context.loaders.one(accounts.follow_states, viewer.id)
        return bool(await loader.load(self.pk))

    @strawberry.field(
        description="Their public playlists (and private ones you own or collaborate on)."
    )
    async def playlists(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[Playlist, strawberry.lazy("ncm.schema.playlists.types")]]:
        page = await user_playlists(await info.context.viewer(), self.pk, first, after)
        return connection(page, view_of("Playlist"))

    @strawberry.field(description="Who follows this user, newest first.")
    async def followers(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[User]:
        page = await accounts.followers(self.pk, first, after)
        return await _user_connection(info, page, lambda f: f.follower_id)

    @strawberry.field(description="Whom this user follows, newest first.")
    async def following(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[User]:
        page = await accounts.following(self.pk, first, after)
        return await _user_connection(info, page, lambda f: f.followee_id)


async def load_user(info: Info, pk: int | None) -> User | None:
    """The public profile of user ``pk`` through the request's DataLoader (None: none)."""
    if pk is None:
        return None
    row = await info.context.loaders.one(accounts.profiles_by_ids).load(pk)
    return User.from_model(row) if row else None


async def _user_connection(
    info: Info, page: Page[Follow], user_id: Callable[[Follow], int]
) -> Connection[User]:
    users = await info.context.loaders.one(accounts.profiles_by_ids).load_many(
        [user_id(f) for f in page.items]
    )
    by_follow = dict(zip([f.id for f in page.items], users, strict=True))

    def convert(f: Follow) -> User:
        return User.from_model(by_follow[f.id])

    return connection(page, convert)


@strawberry.type
class AccountViewer:
    """The account part of ``Viewer`` (see ncm/schema/viewer.py)."""

    model: strawberry.Private[UserModel]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return to_global_id("User", self.model.id)

    @strawberry.field
    def user(self) -> User:
        return User.from_model(self.model)

    @strawberry.field
    def email(self) -> str:
        return self.model.email

    @strawberry.field
    def role(self) -> RoleModel:
        return self.model.role

    @strawberry.field(description="ISO 3166-1 alpha-2 country code.")
    def region(self) -> str | None:
        return self.model.region

    @strawberry.field(description="Preferred language, a BCP 47 tag such as zh-CN.")
    def language(self) -> str | None:
        return self.model.language

    @strawberry.field(description="The partner organisation a PARTNER user acts for.")
    def partner_id(self) -> int | None:
        return self.model.partner_id


register_node("User", accounts.profiles_by_ids, User.from_model)
