"""The publish/subscribe broker (Redis on the PostgreSQL run, in memory on SQLite) and the
live-update filter that runs for every subscriber."""

from __future__ import annotations

import asyncio

from ncm.comments import live, moderation, service
from ncm.comments.models import TargetType
from ncm.comments.targets import ThreadRef
from ncm.kit import pubsub
from ncm.kit.redis import get_redis
from ncm.playlists.models import Playlist, Privacy
from tests.comments.helpers import track_ref
from tests.conftest import BACKEND, make_user


async def _listening(channel: str, count: int) -> None:
    """Until this process's subscriptions are registered (and, with Redis, reached it)."""
    redis = await get_redis()
    full = pubsub.redis_channel(channel)
    for _ in range(500):
        local = pubsub.local_subscribers(channel) >= count
        if local and redis is None:
            return
        if local and dict(await redis.pubsub_numsub(full)).get(full.encode(), 0) >= 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never subscribed")


async def test_every_subscriber_of_a_channel_gets_its_messages_in_order() -> None:
    async with (
        pubsub.subscribe("t:a") as first,
        pubsub.subscribe("t:a") as second,
        pubsub.subscribe("t:b") as other,
    ):
        await _listening("t:a", 1)
        for n in range(3):
            await pubsub.publish("t:a", {"n": n})
        await pubsub.publish("t:b", {"n": "b"})
        for sub in (first, second):
            assert [await anext(sub) for _ in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert await anext(other) == {"n": "b"}
    assert "ncm:ps:" in pubsub.redis_channel("t:a")
    if BACKEND == "postgres":  # the last subscriber gone, the process unsubscribes
        redis = await get_redis()
        assert redis is not None
        full = pubsub.redis_channel("t:a")
        assert dict(await redis.pubsub_numsub(full)).get(full.encode(), 0) == 0


async def test_live_filter_drops_what_the_viewer_may_not_see() -> None:
    ref, elsewhere = await track_ref(), await track_ref()
    author, viewer = await make_user("author"), await make_user("viewer")
    hidden = await service.post_comment(author, ref, "rude")
    await moderation.hide(None, hidden.id, "rude", operator="cli:test")
    foreign = await service.post_comment(author, elsewhere, "other thread")
    shown = await service.post_comment(author, ref, "kind")
    stream = live.comments_added(viewer, ref)
    first = asyncio.ensure_future(anext(stream))
    await _listening(live.channel(ref), 1)
    for comment in (hidden, foreign, shown):
        await live.publish_added(ref, comment.id)
    assert (await first).id == shown.id
    await stream.aclose()
    # A private playlist's comments reach its owner, not others.
    playlist = await Playlist.create(owner=author, title="mine", privacy=Privacy.PRIVATE)
    private_ref = ThreadRef(TargetType.PLAYLIST, playlist.id)
    secret = await service.post_comment(author, private_ref, "secret")
    assert await live.visible_added(viewer, private_ref, secret.id) is None
    assert await live.visible_added(None, private_ref, secret.id) is None
    assert (await live.visible_added(author, private_ref, secret.id)).id == secret.id  # type: ignore[union-attr]
    assert await live.visible_added(author, ref, secret.id) is None
