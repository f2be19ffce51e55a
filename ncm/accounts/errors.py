"""The accounts domain's error codes."""

from __future__ import annotations

from enum import StrEnum


class AccountsErrorCode(StrEnum):
    # The account region changed less than REGION_CHANGE_DAYS ago (it decides licensing).
    REGION_CHANGE_TOO_SOON = "REGION_CHANGE_TOO_SOON"
