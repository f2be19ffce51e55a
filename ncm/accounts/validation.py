"""Checks on what users type: email, handle, password strength, region, language, URLs."""

from __future__ import annotations

import re

from ncm.accounts.errors import AccountsErrorCode
from ncm.errors import InvalidInput
from ncm.kit.regions import LANGUAGE_RE, REGIONS

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
HANDLE_RE = re.compile(r"^[a-z0-9_.]{3,32}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 256
COMMON_PASSWORDS = {
    "password",
    "password1",
    "password123",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "iloveyou123",
    "abc123456789",
    "1q2w3e4r5t",
    "qwerty12345",
    "woaini1314",
    "a123456789",
    "1234qwer",
    "letmein123",
    "welcome123",
    "admin12345",
}


def email(value: str) -> str:
    value = value.strip().lower()
    if len(value) > 254 or not EMAIL_RE.match(value):
        raise InvalidInput(
            "Enter a valid email address.", field="email", code=AccountsErrorCode.INVALID_EMAIL
        )
    return value


def handle(value: str) -> str:
    value = value.strip().lower()
    if not HANDLE_RE.match(value):
        raise InvalidInput(
            "A handle is 3 to 32 letters, digits, underscores or dots.",
            field="handle",
            code=AccountsErrorCode.INVALID_HANDLE,
        )
    return value


def password(value: str, *, handle: str = "", email: str = "") -> str:
    def weak(message: str) -> InvalidInput:
        return InvalidInput(message, field="password", code=AccountsErrorCode.WEAK_PASSWORD)

    if len(value) < MIN_PASSWORD:
        raise weak(f"Use at least {MIN_PASSWORD} characters.")
    if len(value) > MAX_PASSWORD:
        raise weak(f"Use at most {MAX_PASSWORD} characters.")
    lowered = value.lower()
    if lowered in COMMON_PASSWORDS or len(set(value)) < 4:
        raise weak("This password is too easy to guess.")
    for part in (handle, email.split("@")[0]):
        if len(part) >= 3 and part.lower() in lowered:
            raise weak("The password must not contain your handle or email.")
    classes = sum(
        [
            any(c.isalpha() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        ]
    )
    if classes < 2:
        raise weak("Mix letters with digits or symbols.")
    return value


def display_name(value: str) -> str:
    value = " ".join(value.split())
    if len(value) > 64:
        raise InvalidInput("A display name is at most 64 characters.", field="displayName")
    return value


def region(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    code = value.strip().upper()
    if code not in REGIONS:
        raise InvalidInput(
            "Region must be an ISO 3166-1 alpha-2 code such as CN or US.", field="region"
        )
    return code


def language(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    value = value.strip()
    if not LANGUAGE_RE.match(value):
        raise InvalidInput("Language must be a tag such as zh-CN or en.", field="language")
    return value


def image_url(value: str | None, *, field: str, what: str) -> str | None:
    """An http(s) URL of an image (an avatar, a playlist cover), or None to clear it."""
    if value is None or value == "":
        return None
    value = value.strip()
    if len(value) > 500 or not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise InvalidInput(
            f"The {what} must be an http(s) URL of at most 500 characters.", field=field
        )
    return value


def avatar_url(value: str | None) -> str | None:
    return image_url(value, field="avatarUrl", what="avatar")
