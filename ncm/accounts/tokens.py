"""Access tokens (signed JWT, short-lived) and refresh tokens (random, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt

from ncm.accounts import revocation
from ncm.accounts.errors import AccountsErrorCode
from ncm.config import get_settings
from ncm.kit.lru import LRU

ALGORITHM = "HS256"
# Verified access tokens each process remembers (token -> claims), so a request does not check
# the signature and decode the JSON again for a token seen a moment ago (about 12 % of a small
# query's CPU). Bounded, and each entry is trusted only for a short time; expiry and
# revocation are checked on every request all the same.
VERIFIED_MAX = 8192
VERIFIED_SECONDS = 60.0


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: int
    expires_at: int


def issue_access_token(user_id: int, session_id: int) -> tuple[str, int]:
    settings = get_settings()
    now = int(time.time())
    exp = now + settings.access_token_ttl
    payload = {"sub": str(user_id), "sid": session_id, "iat": now, "exp": exp, "typ": "access"}
    return jwt.encode(payload, settings.secret_key, algorithm=ALGORITHM), exp


def read_access_token(token: str) -> AccessClaims | None:
    """The claims of a valid, unexpired access token of a session that has not ended;
    ``None`` for anything else."""
    checked = check_access_token(token)
    return checked if isinstance(checked, AccessClaims) else None


# token -> (claims, trusted until, the secret it was verified with); least recently used first.
_verified: LRU[str, tuple[AccessClaims, float, str]] = LRU(VERIFIED_MAX)


def check_access_token(token: str) -> AccessClaims | AccountsErrorCode:
    """The claims of a valid access token, or why it is refused: TOKEN_EXPIRED (refresh
    it), SESSION_ENDED (logged out: log in again) or INVALID_TOKEN (not ours).

    A token verified in the last :data:`VERIFIED_SECONDS` is taken from this process's
    cache of verified tokens instead of being verified again. The cache holds only what
    the signature proves (the claims); what changes with time is checked on every call, hit
    or not: the expiry, and the session's revocation (``ncm.accounts.revocation``: a logout
    in this process at once, in another within its poll), so a cached token of an ended
    session is refused as soon as an uncached one would be."""
    now = time.time()
    secret = get_settings().secret_key
    cached = _verified.get(token)
    if cached is not None and cached[1] > now and cached[2] == secret:
        claims = cached[0]
    else:
        checked = _verify(token, secret)
        if not isinstance(checked, AccessClaims):
            return checked
        claims = checked
        _verified.put(token, (claims, now + VERIFIED_SECONDS, secret))
    if claims.expires_at <= now:  # PyJWT's rule: expired at ``exp`` itself
        return AccountsErrorCode.TOKEN_EXPIRED
    if revocation.is_revoked(claims.session_id):
        return AccountsErrorCode.SESSION_ENDED
    return claims


def forget_verified() -> None:
    """For tests: this process has verified no token yet (and holds :data:`VERIFIED_MAX`)."""
    global _verified
    _verified = LRU(VERIFIED_MAX)


def _verify(token: str, secret: str) -> AccessClaims | AccountsErrorCode:
    """The claims of an access token signed with ``secret``, or why it is refused
    (TOKEN_EXPIRED, INVALID_TOKEN)."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "sid"]},
        )
    except jwt.ExpiredSignatureError:  # checked after the signature: it is one of ours
        return AccountsErrorCode.TOKEN_EXPIRED
    except (jwt.PyJWTError, UnicodeError):  # UnicodeError: not even text a token could be
        return AccountsErrorCode.INVALID_TOKEN
    if payload.get("typ") != "access":
        return AccountsErrorCode.INVALID_TOKEN
    try:
        return AccessClaims(int(payload["sub"]), int(payload["sid"]), int(payload["exp"]))
    except (TypeError, ValueError):
        return AccountsErrorCode.INVALID_TOKEN


def new_refresh_token() -> tuple[str, str]:
    """A fresh refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
