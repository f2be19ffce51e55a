"""Background jobs for playback."""
