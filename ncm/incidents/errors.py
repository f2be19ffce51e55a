"""Error codes of the incidents domain."""

from __future__ import annotations

from enum import StrEnum


class IncidentsErrorCode(StrEnum):
    INCIDENT_NOT_FOUND = "INCIDENT_NOT_FOUND"
    INCIDENT_CLOSED = "INCIDENT_CLOSED"
    ENDS_BEFORE_START = "ENDS_BEFORE_START"
    BAD_COMPONENT = "BAD_COMPONENT"
