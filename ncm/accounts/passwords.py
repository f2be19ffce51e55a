"""Argon2id password hashes."""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ncm.config import get_settings

_settings = get_settings()
# Argon2's defaults (RFC 9106 low-memory profile); tests lower them through the environment.
_hasher = PasswordHasher(
    time_cost=_settings.argon2_time_cost, memory_cost=_settings.argon2_memory_kib
)


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so both failures take as long.

    Made on first use, not at import: hashing costs ~0.3 s of CPU at the default cost, which
    every CLI command and process start would otherwise pay."""
    return _hasher.hash("not-a-real-password-but-same-cost")


async def hash_password(password: str) -> str:
    # Argon2 takes tens of milliseconds of CPU: keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return (
                _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
