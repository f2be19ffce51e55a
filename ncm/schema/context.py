"""What every resolver gets as ``info.context``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from ncm.accounts import service as accounts
from ncm.accounts.errors import TOKEN_MESSAGES, AccountsErrorCode
from ncm.accounts.models import User
from ncm.accounts.tokens import AccessClaims, check_access_token
from ncm.errors import NotAuthenticated
from ncm.kit.regions import REGIONS
from ncm.promotion import keys as partner_keys
from ncm.schema.loaders import Loaders


def token_refusal(reason: str) -> NotAuthenticated:
    """The top-level error of a request whose token is refused: UNAUTHENTICATED, with the
    reason (SESSION_ENDED, TOKEN_EXPIRED, INVALID_TOKEN, MALFORMED_AUTHORIZATION) and a
    message that says what to do."""
    return NotAuthenticated(TOKEN_MESSAGES[AccountsErrorCode(reason)], reason=reason)


def refusal_extensions(error: NotAuthenticated) -> dict[str, Any]:
    """``extensions`` of a refused token's GraphQL error (HTTP and websocket alike)."""
    return {"code": error.code, "reason": error.reason}


@dataclass
class Context:
    request: Any
    response: Any
    claims: AccessClaims | None
    client_ip: str
    user_agent: str
    # Why the request's bearer token was refused (an AccountsErrorCode), or None.
    token_problem: str | None = None
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = field(default_factory=Loaders)
    # The region playback decides by: None is the account's region; a code (or "" for an
    # unknown country) is the edge's country header, when NCM_GEO_HEADER names one.
    playback_region: str | None = None
    # Set by a resolver whose answer depends on who asks beyond the credentials (the client's
    # address, the edge's country, a signed URL): such a GET answer is never publicly cached.
    personal: bool = False
    # The field names the operation's document selects (set by the guard, from its cache).
    document_fields: frozenset[str] = frozenset()

    @property
    def token_invalid(self) -> bool:
        return self.token_problem is not None

    def token_refusal(self) -> NotAuthenticated:
        assert self.token_problem is not None
        return token_refusal(self.token_problem)

    @property
    def viewer_id(self) -> int | None:
        return self.claims.user_id if self.claims else None

    async def viewer(self) -> User | None:
        """The logged-in user (loaded once per request), or ``None``.

        A bearer token that is expired or forged is an error, not an anonymous request, so
        the app knows to refresh instead of silently showing logged-out data.
        """
        if self.token_problem is not None:
            raise self.token_refusal()
        if self.claims is None:
            return None
        user: User | None = await self.loaders.one(accounts.users_by_ids).load(self.claims.user_id)
        return user


Info = StrawberryInfo[Context, None]

# Partner API keys (``Authorization: Bearer ncmpk_...``) act for a partner organisation in the
# promotion domain only; for every other field such a request is anonymous.
PARTNER_KEY_PREFIX = "ncmpk_"


async def partner_key_actor(context: Context) -> Any:
    """The promotion actor of the request's partner API key; ``None`` without one. An unknown
    or revoked key is NotAuthenticated."""
    headers = getattr(context.request, "headers", None)
    auth = headers.get("authorization") if headers is not None else None
    if not isinstance(auth, str):
        return None
    scheme, _, token = auth.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PARTNER_KEY_PREFIX):
        return None
    actor = await partner_keys.actor_for_key(token)
    if actor is None:
        raise NotAuthenticated("This partner API key is unknown or revoked.")
    return actor


def read_authorization(auth: Any) -> tuple[AccessClaims | None, str | None]:
    """``(claims, problem)`` from an ``Authorization: Bearer ...`` value (or ``None``).

    The one place a bearer token is resolved, for HTTP and the websocket alike: another
    kind of bearer (a partner's API key) is recognised here, beside the access token. A
    value that is present but resolves to nobody has a ``problem`` (an ``AccountsErrorCode``:
    MALFORMED_AUTHORIZATION, INVALID_TOKEN, TOKEN_EXPIRED, SESSION_ENDED): the view refuses
    the whole request (401 ``UNAUTHENTICATED`` with that reason), never serves it as
    anonymous."""
    partner_keys.watch()  # the keys a partner bearer is checked against: loaded early
    if not auth:
        return None, None
    if not isinstance(auth, str):  # e.g. a websocket's connection_init with a number in it
        return None, AccountsErrorCode.MALFORMED_AUTHORIZATION
    scheme, _, token = auth.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None, AccountsErrorCode.MALFORMED_AUTHORIZATION
    if token.startswith(PARTNER_KEY_PREFIX):
        # A partner API key acts in the promotion domain only (partner_key_actor); one that
        # is unknown or revoked is refused like a forged access token.
        return None, None if partner_keys.is_active(token) else AccountsErrorCode.INVALID_TOKEN
    checked = check_access_token(token)
    if isinstance(checked, AccessClaims):
        return checked, None
    return None, checked


def playback_region(geo_header: str | None, headers: Any) -> str | None:
    """The country the edge says the request comes from, when ``NCM_GEO_HEADER`` names the
    header a CDN sets (``cf-ipcountry``, ``cloudfront-viewer-country``...): its ISO code,
    or ``""`` when it is missing or not a country we know (only worldwide licenses apply:
    a request that did not come through the edge gets no region). ``None`` when no header
    is configured: the account's region decides."""
    if not geo_header:
        return None
    value = headers.get(geo_header)
    code = value.strip().upper() if isinstance(value, str) else ""
    return code if code in REGIONS else ""
