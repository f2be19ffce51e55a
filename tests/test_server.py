"""The real server, started as operators start it (`ncm serve`), over real sockets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.conftest import make_user

# The module shares its servers: on one xdist worker they start once (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "NCM_ALLOWED_ORIGINS": "http://app.example"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ncm.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            proc.kill()
            raise AssertionError(proc.stdout.read().decode() if proc.stdout else "no output")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_http_post_and_readiness(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        r = await client.post("/graphql", json={"query": "{ genres { slug } }"})
        assert r.status_code == 200 and r.json() == {"data": {"genres": []}}
        assert (await client.get("/readyz")).status_code == 200


async def test_websocket_graphql_transport_ws(server: str) -> None:
    user = await make_user("wsuser")
    from ncm.accounts.service import login

    session = await login("wsuser", "correct-horse-42", client_ip="127.0.0.1")
    url = server.replace("http", "ws") + "/graphql"
    async with websockets.connect(
        url, subprotocols=["graphql-transport-ws"], origin="http://app.example"
    ) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "connection_init",
                    "payload": {"authorization": f"Bearer {session.access_token}"},
                }
            )
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": "{ viewer { user { handle } } }"},
                }
            )
        )
        message = json.loads(await ws.recv())
        assert message["type"] == "next"
        assert message["payload"]["data"]["viewer"]["user"]["handle"] == user.handle
        assert json.loads(await ws.recv())["type"] == "complete"


async def test_websocket_rejects_foreign_origin(server: str) -> None:
    url = server.replace("http", "ws") + "/graphql"
    with pytest.raises(InvalidStatus):
        async with websockets.connect(
            url, subprotocols=["graphql-transport-ws"], origin="https://evil.example"
        ):
            pass


async def test_websocket_rejects_forged_token(server: str) -> None:
    url = server.replace("http", "ws") + "/graphql"
    async with websockets.connect(
        url, subprotocols=["graphql-transport-ws"], origin="http://app.example"
    ) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}})
        )
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
