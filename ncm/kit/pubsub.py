"""Publish/subscribe for live updates, across server processes.

``await publish(channel, message)`` sends a JSON-able dict to every subscriber of the channel;
``async with subscribe(channel) as messages: async for message in messages: ...`` receives.

With ``NCM_REDIS_URL`` set, messages go through Redis pub/sub, so a subscriber connected to
any server process gets them. Each process holds one Redis pub/sub connection, whatever the
number of subscriptions: it subscribes a channel while at least one local subscriber wants
it and fans messages out to local queues. Without Redis, an in-memory broker delivers within
the process (the embedded default serves one process).

Delivery is at most once and best effort: a subscriber that falls more than
:data:`QUEUE_SIZE` messages behind loses the oldest, and nothing is replayed after a Redis
reconnect. Channels are namespaced by the database name, so test runs and deployments that
share a Redis do not hear each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

from ncm.config import get_settings
from ncm.kit.redis import get_redis, namespaced

log = logging.getLogger("ncm.kit.pubsub")
QUEUE_SIZE = 1000
RECONNECT_SECONDS = 1.0
Message = dict[str, Any]


def _full(channel: str) -> str:
    return namespaced("ps", channel)


class Subscription:
    """The messages of one channel for one subscriber, in order."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._queue: asyncio.Queue[Message] = asyncio.Queue(QUEUE_SIZE)

    def deliver(self, message: Message) -> None:
        if self._queue.full():  # a slow consumer loses the oldest, never blocks the others
            self._queue.get_nowait()
            log.warning("pubsub subscriber fell behind", extra={"channel": self.channel})
        self._queue.put_nowait(message)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        return await self._queue.get()


class _LocalBroker:
    """Channel -> local subscriptions; the in-memory broker, and the Redis one's fan-out."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscription]] = {}

    def deliver(self, channel: str, message: Message) -> None:
        for subscription in list(self.subscribers.get(channel, ())):
            subscription.deliver(message)

    async def publish(self, channel: str, message: Message) -> None:
        self.deliver(channel, message)

    async def add(self, sub: Subscription) -> None:
        self.subscribers.setdefault(sub.channel, set()).add(sub)

    async def remove(self, sub: Subscription) -> None:
        subs = self.subscribers.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.subscribers[sub.channel]


class _RedisBroker(_LocalBroker):
    def __init__(self) -> None:
        super().__init__()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def publish(self, channel: str, message: Message) -> None:
        redis = await get_redis()
        assert redis is not None
        await redis.publish(channel, json.dumps(message, separators=(",", ":")))

    async def add(self, sub: Subscription) -> None:
        async with self._lock:
            first = sub.channel not in self.subscribers
            await super().add(sub)
            if first:
                await self._connect()
                await self._pubsub.subscribe(sub.channel)
            if self._reader is None:
                self._reader = asyncio.create_task(self._read())

    async def remove(self, sub: Subscription) -> None:
        async with self._lock:
            await super().remove(sub)
            if sub.channel in self.subscribers or self._pubsub is None:
                return
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(sub.channel)
            if not self.subscribers:  # nobody listens: give the connection back
                await self._disconnect()

    async def _connect(self) -> None:
        if self._pubsub is None:
            redis = await get_redis()
            assert redis is not None
            self._pubsub = redis.pubsub()

    async def _disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _read(self) -> None:
        while True:
            try:
                pubsub = self._pubsub
                if pubsub is None:  # a reconnect failed: try again
                    raise ConnectionError("no pub/sub connection")
                raw = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pubsub connection lost; resubscribing")
                await asyncio.sleep(RECONNECT_SECONDS)
                await self._resubscribe()
                continue
            if raw is None or raw.get("type") != "message":
                continue
            channel = raw["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            try:
                message = json.loads(raw["data"])
            except ValueError:
                log.warning("pubsub dropped a malformed message", extra={"channel": channel})
                continue
            self.deliver(channel, message)

    async def _resubscribe(self) -> None:
        async with self._lock:
            old, self._pubsub = self._pubsub, None
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.aclose()
            if not self.subscribers:
                return
            with contextlib.suppress(Exception):
                await self._connect()
                await self._pubsub.subscribe(*self.subscribers)


_brokers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[bool, _LocalBroker]] = (
    weakref.WeakKeyDictionary()
)


def _broker(redis: bool) -> _LocalBroker:
    # One broker per event loop: queues and tasks belong to the loop that made them.
    by_kind = _brokers.setdefault(asyncio.get_running_loop(), {})
    broker = by_kind.get(redis)
    if broker is None:
        broker = by_kind[redis] = _RedisBroker() if redis else _LocalBroker()
    return broker


async def publish(channel: str, message: Message) -> None:
    """Send ``message`` to the channel's subscribers in every process (after your commit)."""
    await _broker(get_settings().redis_url is not None).publish(_full(channel), message)


@contextlib.asynccontextmanager
async def subscribe(channel: str) -> AsyncIterator[Subscription]:
    """Receive the channel's messages while the block runs (subscribed on entry)."""
    broker = _broker(get_settings().redis_url is not None)
    sub = Subscription(_full(channel))
    await broker.add(sub)
    try:
        yield sub
    finally:
        await asyncio.shield(broker.remove(sub))


def redis_channel(channel: str) -> str:
    """The Redis channel name behind ``channel`` (for operators and tests: PUBSUB NUMSUB)."""
    return _full(channel)


def local_subscribers(channel: str) -> int:
    """How many subscriptions of this process listen to ``channel`` (metrics, tests)."""
    by_kind = _brokers.get(asyncio.get_running_loop(), {})
    return sum(len(b.subscribers.get(_full(channel), ())) for b in by_kind.values())
