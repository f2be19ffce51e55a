"""GraphQL for playback."""
