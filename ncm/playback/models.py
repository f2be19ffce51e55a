"""Models for playback."""

from __future__ import annotations
