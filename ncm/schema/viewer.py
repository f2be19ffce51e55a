"""``Viewer``: the logged-in user, composed from each domain's part."""

from __future__ import annotations

from datetime import datetime

import strawberry

from ncm.accounts import service as accounts
from ncm.schema.accounts.types import AccountViewer
from ncm.schema.billing.queries import BillingViewer
from ncm.schema.compensation.queries import CompensationViewer
from ncm.schema.playlists.types import PlaylistsViewer
from ncm.schema.stream.queries import PlaybackViewer


@strawberry.type(
    name="Viewer", description="The logged-in user: the profile plus what only they may see."
)
class Viewer(PlaylistsViewer, PlaybackViewer, BillingViewer, AccountViewer, CompensationViewer):
    pass


@strawberry.type(description="A new session: send the access token as `Authorization: Bearer`.")
class AuthPayload:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    viewer: Viewer

    @classmethod
    def from_session(cls, s: accounts.Session) -> AuthPayload:
        return cls(
            access_token=s.access_token,
            access_token_expires_at=s.access_expires_at,
            refresh_token=s.refresh_token,
            refresh_token_expires_at=s.refresh_expires_at,
            viewer=Viewer(model=s.user),
        )
