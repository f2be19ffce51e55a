"""``commentAdded`` end to end: real `ncm serve` processes, graphql-transport-ws over real
sockets. On PostgreSQL two servers share Redis pub/sub (post to one, hear it on the other);
on SQLite one server uses the in-memory broker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets

from ncm.comments import live, moderation, service
from ncm.comments.models import TargetType
from ncm.comments.targets import ThreadRef
from ncm.kit import pubsub
from ncm.kit.redis import get_redis
from ncm.playlists.models import Playlist, Privacy
from tests.comments.helpers import POST, thread_id, track_ref
from tests.conftest import BACKEND, login_token, make_user
from tests.test_server import _free_port

ORIGIN = "http://app.example"
SUBSCRIBE = """subscription($t: ID!) { commentAdded(threadId: $t) {
  body author { handle } likedByViewer } }"""

# The module shares its servers: on one xdist worker they start once (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("live-servers")


def _start(port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NCM_ALLOWED_ORIGINS": ORIGIN, "NCM_COMMENT_RATE_PER_MINUTE": "1000"}
    return subprocess.Popen(
        [sys.executable, "-m", "ncm.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def servers() -> Iterator[list[str]]:
    """Two servers on PostgreSQL + Redis; one (the in-memory broker) on SQLite."""
    ports = [_free_port() for _ in range(2 if BACKEND == "postgres" else 1)]
    procs = [_start(port) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 30
        for proc, base in zip(procs, bases, strict=True):
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        proc.kill()
                        out = proc.stdout.read().decode() if proc.stdout else ""
                        raise AssertionError(out) from None
                    time.sleep(0.2)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


@asynccontextmanager
async def subscribed(base: str, token: str | None, ref: ThreadRef) -> AsyncIterator[Any]:
    url = base.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin=ORIGIN) as ws:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": {"t": thread_id(ref)}},
                }
            )
        )
        yield ws


async def next_event(ws: Any, wait: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return message


async def http_post(base: str, token: str, ref: ThreadRef, body: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.post(
            "/graphql",
            json={
                "query": POST,
                "variables": {"input": {"threadId": thread_id(ref), "body": body}},
            },
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.json()["data"]["postComment"]["__typename"] == "CommentPayload", response.text


async def until_listening(ws: Any, base: str, token: str, ref: ThreadRef, subscribers: int) -> None:
    """Return once the subscription is live. With Redis: the channel has its subscribers.
    In memory (no way to look inside the server): post warm-ups until one arrives."""
    if BACKEND == "postgres":
        redis = await get_redis()
        assert redis is not None
        channel = pubsub.redis_channel(live.channel(ref))
        for _ in range(200):
            if dict(await redis.pubsub_numsub(channel)).get(channel.encode(), 0) >= subscribers:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the subscription never reached Redis")
    for attempt in range(50):
        await http_post(base, token, ref, f"warm-up {attempt}")
        try:
            event = await next_event(ws, wait=0.5)
        except TimeoutError:
            continue
        assert event["payload"]["data"]["commentAdded"]["body"].startswith("warm-up")
        while True:  # drain the warm-ups sent before the first one arrived
            try:
                await next_event(ws, wait=0.3)
            except TimeoutError:
                return
    raise AssertionError("the subscription never delivered")


async def test_comment_added_reaches_subscribers_of_any_server(servers: list[str]) -> None:
    ref = await track_ref()
    poster, listener = await make_user("poster"), await make_user("listener")
    poster_token, listener_token = await login_token(poster), await login_token(listener)
    receiving, posting = servers[0], servers[-1]
    async with subscribed(receiving, listener_token, ref) as ws:
        await until_listening(ws, posting, poster_token, ref, 1)
        await http_post(posting, poster_token, ref, "你好 from the other server 🎶")
        event = await next_event(ws)
    assert event["type"] == "next"
    assert event["payload"]["data"]["commentAdded"] == {
        "body": "你好 from the other server 🎶",
        "author": {"handle": "poster"},
        "likedByViewer": False,
    }


@pytest.mark.postgres_only
async def test_subscribers_never_get_a_comment_they_may_not_see(servers: list[str]) -> None:
    ref = await track_ref()
    author, listener = await make_user("author"), await make_user("listener")
    token = await login_token(listener)
    hidden = await service.post_comment(author, ref, "rude")
    await moderation.hide(None, hidden.id, "rude", operator="cli:test")
    shown = await service.post_comment(author, ref, "kind")
    async with subscribed(servers[0], token, ref) as ws:
        await until_listening(ws, servers[-1], token, ref, 1)
        # Straight into Redis, as another process would: the hidden one first.
        await live.publish_added(ref, hidden.id)
        await live.publish_added(ref, shown.id)
        event = await next_event(ws)
    # Messages arrive in order: the hidden comment was dropped, not delayed.
    assert event["payload"]["data"]["commentAdded"]["body"] == "kind"


async def test_a_private_playlist_thread_cannot_be_subscribed_by_others(
    servers: list[str],
) -> None:
    owner, stranger = await make_user("owner"), await make_user("stranger")
    playlist = await Playlist.create(owner=owner, title="mix", privacy=Privacy.PRIVATE)
    ref = ThreadRef(TargetType.PLAYLIST, playlist.id)
    for token in (await login_token(stranger), None):
        async with subscribed(servers[0], token, ref) as ws:
            event = await next_event(ws)
        assert event["type"] == "next" and event["payload"]["data"] is None
        assert event["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def _closed_with(base: str, frames: list[str]) -> int | None:
    """Send these frames on a fresh socket; the close code the server answered with."""
    url = base.replace("http", "ws") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin=ORIGIN) as ws:
        try:
            for frame in frames:
                await ws.send(frame)
                if '"connection_init"' in frame:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert reply["type"] == "connection_ack", reply
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


async def test_malformed_messages_close_the_socket_cleanly(servers: list[str]) -> None:
    init = json.dumps({"type": "connection_init", "payload": {}})

    def subscribe(payload: Any) -> str:
        return json.dumps({"id": "1", "type": "subscribe", "payload": payload})

    cases = {
        "not json": ["hello"],
        "a list": ["[1, 2]"],
        "null": ["null"],
        "a payload that is not an object": [init, subscribe("x")],
        "variables that are not an object": [
            init,
            subscribe({"query": SUBSCRIBE, "variables": [1]}),
        ],
        "a query that is not text": [init, subscribe({"query": 5})],
        "an operation name that is not text": [
            init,
            subscribe({"query": SUBSCRIBE, "operationName": 5}),
        ],
        "invalid unicode": [init, subscribe({"query": SUBSCRIBE, "variables": {"t": "\ud800"}})],
    }
    codes = {name: await _closed_with(servers[0], frames) for name, frames in cases.items()}
    assert codes == dict.fromkeys(cases, 4400)
    for auth in (5, ["x"], "Bearer \ud800"):
        frame = json.dumps({"type": "connection_init", "payload": {"authorization": auth}})
        url = servers[0].replace("http", "ws") + "/graphql"
        async with websockets.connect(
            url, subprotocols=["graphql-transport-ws"], origin=ORIGIN
        ) as ws:
            await ws.send(frame)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, auth


async def test_operations_over_the_websocket_get_the_same_text_rules(servers: list[str]) -> None:
    token = await login_token(await make_user("wsuser"))
    url = servers[0].replace("http", "ws") + "/graphql"
    create = """mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) {
      ... on PlaylistPayload { playlist { title } } } }"""
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin=ORIGIN) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": create, "variables": {"i": {"title": "ws\u0000nul"}}},
                }
            )
        )
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["type"] == "next", reply
    assert reply["payload"]["data"]["createPlaylist"]["playlist"]["title"] == "wsnul"
