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

ALGORITHM = "HS256"


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


def check_access_token(token: str) -> AccessClaims | AccountsErrorCode:
    """The claims of a valid access token, or why it is refused: TOKEN_EXPIRED (refresh
    it), SESSION_ENDED (logged out: log in again) or INVALID_TOKEN (not ours)."""
    try:
        payload = jwt.decode(
            token,
            get_settings().secret_key,
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
        claims = AccessClaims(int(payload["sub"]), int(payload["sid"]), int(payload["exp"]))
    except (TypeError, ValueError):
        return AccountsErrorCode.INVALID_TOKEN
    if revocation.is_revoked(claims.session_id):
        return AccountsErrorCode.SESSION_ENDED
    return claims


def new_refresh_token() -> tuple[str, str]:
    """A fresh refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
