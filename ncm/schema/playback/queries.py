from __future__ import annotations

import strawberry


@strawberry.type
class PlaybackQuery:
    pass


@strawberry.type
class PlaybackViewer:
    """The viewer's playback fields (composed into `Viewer`)."""
