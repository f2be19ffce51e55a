from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from ncm.accounts import service as accounts
from ncm.accounts.models import Role
from ncm.accounts.models import User as UserModel
from ncm.schema.accounts.types import User
from ncm.schema.base import (
    BadCredentialsError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    given,
    mutation,
    pk_of,
)
from ncm.schema.context import Info
from ncm.schema.viewer import AuthPayload, Viewer


@strawberry.input
class RegisterInput:
    email: str
    handle: str
    password: str
    display_name: str | None = None
    region: str | None = strawberry.field(
        default=None,
        description="ISO 3166-1 code of the account region (licensing); changeable once per"
        " 30 days afterwards.",
    )


@strawberry.input
class LoginInput:
    identifier: str = strawberry.field(description="Email or handle.")
    password: str


@strawberry.input(description="Only the fields given change; null clears an optional field.")
class UpdateProfileInput:
    display_name: str | None = strawberry.UNSET
    avatar_url: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    language: str | None = strawberry.UNSET


@strawberry.type
class LogoutPayload:
    revoked: bool


@strawberry.type
class LogoutEverywherePayload:
    sessions_ended: int = strawberry.field(description="Sessions that were still open.")


@strawberry.type
class UpdateProfilePayload:
    viewer: Viewer


@strawberry.type
class FollowPayload:
    user: User
    viewer: Viewer


@strawberry.type
class SetUserRolePayload:
    user: User
    role: Role


RegisterResult = Annotated[
    AuthPayload | InvalidInputError | ConflictError, strawberry.union("RegisterResult")
]
LoginResult = Annotated[
    AuthPayload | BadCredentialsError | RateLimitedError | InvalidInputError,
    strawberry.union("LoginResult"),
]
RefreshResult = Annotated[AuthPayload | BadCredentialsError, strawberry.union("RefreshResult")]
UpdateProfileResult = Annotated[
    UpdateProfilePayload | InvalidInputError, strawberry.union("UpdateProfileResult")
]
FollowResult = Annotated[
    FollowPayload | NotFoundError | InvalidInputError, strawberry.union("FollowResult")
]
SetUserRoleResult = Annotated[
    SetUserRolePayload | NotFoundError | InvalidInputError, strawberry.union("SetUserRoleResult")
]


@strawberry.type
class AccountsMutation:
    @mutation(description="Create an account and log in.")
    async def register(self, info: Info, input: RegisterInput) -> RegisterResult:
        session = await accounts.register(
            input.email,
            input.handle,
            input.password,
            display_name=input.display_name,
            region=input.region,
            user_agent=info.context.user_agent,
        )
        return AuthPayload.from_session(session)

    @mutation(description="Log in with email or handle.")
    async def login(self, info: Info, input: LoginInput) -> LoginResult:
        session = await accounts.login(
            input.identifier,
            input.password,
            client_ip=info.context.client_ip,
            user_agent=info.context.user_agent,
        )
        return AuthPayload.from_session(session)

    @mutation(description="Trade a refresh token for new tokens (the old one dies).")
    async def refresh_session(self, info: Info, refresh_token: str) -> RefreshResult:
        return AuthPayload.from_session(await accounts.refresh(refresh_token))

    @strawberry.mutation(
        description="End the session of the access token used: its refresh token and access"
        " tokens stop working (within seconds on every server)."
    )
    async def logout(self, info: Info) -> LogoutPayload:
        viewer = await info.context.viewer()
        claims = info.context.claims
        revoked = await accounts.logout(viewer, claims.session_id if claims else None)
        return LogoutPayload(revoked=revoked)

    @strawberry.mutation(
        description="End every session of yours, on every device: their refresh tokens and"
        " access tokens stop working (within seconds on every server)."
    )
    async def logout_everywhere(self, info: Info) -> LogoutEverywherePayload:
        ended = await accounts.logout_everywhere(await info.context.viewer())
        return LogoutEverywherePayload(sessions_ended=ended)

    @mutation()
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfileResult:
        user = await accounts.update_profile(
            await info.context.viewer(),
            display_name=None if input.display_name is strawberry.UNSET else input.display_name,
            avatar_url=given(input.avatar_url),
            region=given(input.region),
            language=given(input.language),
        )
        return UpdateProfilePayload(viewer=Viewer(model=user))

    @mutation(description="Follow a user; following twice changes nothing.")
    async def follow_user(self, info: Info, user_id: strawberry.ID) -> FollowResult:
        return await _follow(info, user_id, accounts.follow)

    @mutation(description="Stop following a user; idempotent.")
    async def unfollow_user(self, info: Info, user_id: strawberry.ID) -> FollowResult:
        return await _follow(info, user_id, accounts.unfollow)

    @mutation(description="Admins only.")
    async def set_user_role(
        self,
        info: Info,
        user_id: strawberry.ID,
        role: Role,
        partner_id: int | None = None,
    ) -> SetUserRoleResult:
        user = await accounts.set_role(
            await info.context.viewer(),
            pk_of(user_id, "User", field="userId"),
            role,
            partner_id=partner_id,
        )
        return SetUserRolePayload(user=User.from_model(user), role=role)


async def _follow(
    info: Info,
    user_id: strawberry.ID,
    action: Callable[[UserModel | None, int], Awaitable[UserModel]],
) -> FollowPayload:
    viewer = await info.context.viewer()
    target = await action(viewer, pk_of(user_id, "User", field="userId"))
    assert viewer is not None  # the service raised NotAuthenticated otherwise
    await viewer.refresh_from_db(fields=["follower_count", "following_count"])
    return FollowPayload(user=User.from_model(target), viewer=Viewer(model=viewer))
