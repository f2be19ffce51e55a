"""Who acts on the promotion domain: an operator (admin), a partner user, or a partner API key.

Partners (users with the PARTNER role, and API keys) see and change only their own partner's
campaigns and reports; an object of another partner is reported as not found, so a partner
cannot even learn that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from ncm.accounts.models import Role, User
from ncm.errors import Forbidden, NotAuthenticated


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int | None
    partner_id: int | None  # None: an operator, who sees every partner
    key_id: int | None = None

    @property
    def is_operator(self) -> bool:
        return self.partner_id is None

    def sees(self, partner_id: int) -> bool:
        return self.partner_id is None or self.partner_id == partner_id


SYSTEM = Actor(user_id=None, partner_id=None)


def actor_for(user: User | None) -> Actor:
    """An operator (admin) or a partner user; anyone else may not use the promotion tools."""
    if user is None:
        raise NotAuthenticated()
    if user.role == Role.ADMIN:
        return Actor(user_id=user.id, partner_id=None)
    if user.role == Role.PARTNER and user.partner_id is not None:
        return Actor(user_id=user.id, partner_id=user.partner_id)
    raise Forbidden()


def require_operator(actor: Actor) -> Actor:
    if not actor.is_operator:
        raise Forbidden("Only an operator can do this.")
    return actor
