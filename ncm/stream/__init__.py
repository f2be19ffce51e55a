"""Playback: decisions that explain themselves, signed URLs, byte serving and play events."""
