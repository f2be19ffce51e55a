"""Importing a playlist file creates nothing when nothing in it matches the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from ncm.errors import InvalidInput
from ncm.playlists.models import Playlist
from ncm.playlists.transfer import import_playlist
from tests import factories
from tests.conftest import make_user


async def test_an_import_that_matches_nothing_creates_nothing(tmp_path: Path) -> None:
    owner = await make_user("importer")
    await factories.track("Known Song")
    m3u = tmp_path / "mix.m3u"
    m3u.write_text("#EXTM3U\n#EXTINF:200,Nobody - Unknown Song\nunknown.mp3\n")
    for _ in range(2):  # a retry leaves nothing behind either
        with pytest.raises(InvalidInput, match="no playlist was created"):
            await import_playlist(m3u, owner)
    empty = tmp_path / "empty.m3u"
    empty.write_text("#EXTM3U\n")
    with pytest.raises(InvalidInput, match="None of the 0 entries"):
        await import_playlist(empty, owner)
    assert await Playlist.filter(owner_id=owner.id).count() == 0
