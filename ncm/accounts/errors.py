"""Accounts' error codes (the generic ones are ``ncm.errors.ErrorCode``)."""

from __future__ import annotations

from enum import StrEnum


class AccountsErrorCode(StrEnum):
    EMAIL_TAKEN = "EMAIL_TAKEN"
    HANDLE_TAKEN = "HANDLE_TAKEN"
    INVALID_EMAIL = "INVALID_EMAIL"
    INVALID_HANDLE = "INVALID_HANDLE"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    SELF_FOLLOW = "SELF_FOLLOW"
    # The account region changed less than REGION_CHANGE_DAYS ago (it decides licensing).
    REGION_CHANGE_TOO_SOON = "REGION_CHANGE_TOO_SOON"
