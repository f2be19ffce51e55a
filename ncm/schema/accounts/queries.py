from __future__ import annotations

import strawberry

from ncm.schema.accounts.types import User, load_user
from ncm.schema.base import pk_of
from ncm.schema.context import Info
from ncm.schema.viewer import Viewer


@strawberry.type
class AccountsQuery:
    @strawberry.field(description="The logged-in user, or null when anonymous.")
    async def viewer(self, info: Info) -> Viewer | None:
        user = await info.context.viewer()
        return Viewer(model=user) if user else None

    @strawberry.field
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        return await load_user(info, pk_of(id, "User"))
