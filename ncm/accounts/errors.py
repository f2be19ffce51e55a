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
    # Why a token was refused (a refresh's ``code``; a request's ``extensions.reason``
    # beside ``extensions.code`` UNAUTHENTICATED):
    SESSION_ENDED = "SESSION_ENDED"  # logged out, or a refresh token used a second time
    TOKEN_EXPIRED = "TOKEN_EXPIRED"  # an access token past its time: refresh it
    INVALID_TOKEN = "INVALID_TOKEN"  # not a token this server issued (forged, truncated)
    MALFORMED_AUTHORIZATION = "MALFORMED_AUTHORIZATION"  # not "Bearer <token>"


# What each refusal tells the client to do.
TOKEN_MESSAGES = {
    AccountsErrorCode.SESSION_ENDED: "This session has ended (logged out, or its refresh token "
    "was already used: each works once); log in again.",
    AccountsErrorCode.TOKEN_EXPIRED: "Your access token has expired; get a new one with "
    "refreshSession(refreshToken: ...), or log in again.",
    AccountsErrorCode.INVALID_TOKEN: "This token is not one this server issued (forged, cut "
    "short or from another server); log in again.",
    AccountsErrorCode.MALFORMED_AUTHORIZATION: "The Authorization header must be "
    "'Bearer <token>' (the accessToken from login or refreshSession).",
}
