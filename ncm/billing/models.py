"""Models for billing."""

from __future__ import annotations
