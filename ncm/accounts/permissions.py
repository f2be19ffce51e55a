"""Role checks used by every domain's services (admins pass every check)."""

from __future__ import annotations

from ncm.accounts.models import Role, User
from ncm.errors import Forbidden, NotAuthenticated


def require_viewer(actor: User | None) -> User:
    if actor is None:
        raise NotAuthenticated()
    return actor


def require_role(actor: User | None, *roles: Role) -> User:
    user = require_viewer(actor)
    if user.role != Role.ADMIN and user.role not in roles:
        raise Forbidden()
    return user
