"""Error codes of the compensation domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from ncm.errors import Conflict


class CompensationErrorCode(StrEnum):
    CAMPAIGN_NOT_FOUND = "CAMPAIGN_NOT_FOUND"
    GRANT_NOT_FOUND = "GRANT_NOT_FOUND"
    NOT_YET_CLAIMABLE = "NOT_YET_CLAIMABLE"
    CLAIM_WINDOW_CLOSED = "CLAIM_WINDOW_CLOSED"
    ALREADY_CLAIMED = "ALREADY_CLAIMED"
    CAMPAIGN_REVOKED = "CAMPAIGN_REVOKED"
    BAD_AUDIENCE = "BAD_AUDIENCE"
    BAD_WINDOW = "BAD_WINDOW"
    BAD_USERS_FILE = "BAD_USERS_FILE"
    INCIDENT_REQUIRED = "INCIDENT_REQUIRED"


class ClaimRefused(Conflict):
    """A grant that cannot be claimed now; ``code`` says why (and ``at`` when relevant)."""

    def __init__(
        self, message: str, *, code: CompensationErrorCode, at: datetime | None = None
    ) -> None:
        super().__init__(message, field="grantId", code=code)
        self.at = at


class NotYetClaimable(ClaimRefused):
    pass


class ClaimWindowClosed(ClaimRefused):
    pass


class AlreadyClaimed(ClaimRefused):
    pass
