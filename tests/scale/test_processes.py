"""Two API processes and two workers on one PostgreSQL and one Redis: what one process does,
the others see (sessions, live comments, rate limits, degraded mode, jobs)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ncm.comments.models import TargetType
from ncm.comments.targets import ThreadRef
from ncm.compensation import service as compensation
from ncm.compensation.models import CampaignStatus, Grant
from ncm.incidents.models import Component, Incident
from ncm.schema.base import to_global_id
from tests import factories
from tests.comments.helpers import POST, thread_id
from tests.comments.test_graphql_live import ORIGIN, http_post, next_event, subscribed
from tests.comments.test_graphql_live import until_listening as until_subscribed
from tests.conftest import login_token, make_user
from tests.test_server import _free_port

pytestmark = [
    pytest.mark.postgres_only,
    # Four processes take 20-30 s to start on a two-core machine: `make test-processes`.
    pytest.mark.skipif(
        os.environ.get("NCM_TEST_PROCESSES") != "1",
        reason="starts four processes: run with `make test-processes` (NCM_TEST_PROCESSES=1)",
    ),
]

COMMENTS_PER_MINUTE = 3


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ncm.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


class Fleet:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = [_free_port(), _free_port()]
        self.apis = [f"http://127.0.0.1:{port}" for port in self.ports]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.worker_logs = [folder / "worker-a.log", folder / "worker-b.log"]

    def start(self) -> None:
        env = {
            **os.environ,
            "NCM_ALLOWED_ORIGINS": ORIGIN,
            "NCM_COMMENT_RATE_PER_MINUTE": str(COMMENTS_PER_MINUTE),
            # Playback's database reads always time out: degraded mode on demand.
            "NCM_PLAYBACK_DB_TIMEOUT_MS": "0",
            # Each compensation chunk takes a while, so both workers get some.
            "NCM_COMPENSATION_CHUNK_PAUSE": "0.3",
        }
        for i, port in enumerate(self.ports):
            log = self.folder / f"api-{i}.log"
            self.processes.append(_spawn(["serve", "--port", str(port)], env, log))
        for log in self.worker_logs:
            self.processes.append(_spawn(["worker"], {**env, "NCM_LOG_LEVEL": "INFO"}, log))
        deadline = time.monotonic() + 60
        for base in self.apis:
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                    raise AssertionError(self.logs())
                time.sleep(0.2)
        for log in self.worker_logs:
            while "worker ready" not in log.read_text():
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                    raise AssertionError(self.logs())
                time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-2000:]}" for p in self.folder.glob("*.log"))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with tempfile.TemporaryDirectory(prefix="ncm-fleet-") as folder:
        running = Fleet(Path(folder))
        try:
            running.start()
            yield running
        finally:
            running.stop()


async def gql(
    base: str, query: str, variables: dict[str, Any] | None = None, token: str = ""
) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    return response.json()


async def eventually(check: Any, seconds: float = 8) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_comment_added_reaches_a_subscriber_on_the_other_process(fleet: Fleet) -> None:
    a, b = fleet.apis
    ref = ThreadRef(TargetType.TRACK, (await factories.track()).id)
    poster, listener = await make_user("poster"), await make_user("listener")
    poster_token, listener_token = await login_token(poster), await login_token(listener)
    async with subscribed(b, listener_token, ref) as ws:
        await until_subscribed(ws, a, poster_token, ref, 1)
        await http_post(a, poster_token, ref, "from process A")
        event = await next_event(ws)
    assert event["payload"]["data"]["commentAdded"]["body"] == "from process A"


async def test_rate_limits_are_shared_by_the_processes(fleet: Fleet) -> None:
    ref = ThreadRef(TargetType.TRACK, (await factories.track()).id)
    token = await login_token(await make_user("chatty"))
    kinds = []
    for i in range(COMMENTS_PER_MINUTE + 1):
        body = await gql(
            fleet.apis[i % 2],
            POST,
            {"input": {"threadId": thread_id(ref), "body": f"comment {i}"}},
            token,
        )
        kinds.append(body["data"]["postComment"]["__typename"])
    assert kinds == ["CommentPayload"] * COMMENTS_PER_MINUTE + ["RateLimitedError"]


async def test_a_compensation_run_split_over_both_workers_grants_once(fleet: Fleet) -> None:
    # More chunks than one worker runs at once (20), each slowed down: both get some.
    users = [await make_user(f"fan{i}") for i in range(30)]
    now = datetime.now(UTC)
    plan = await compensation.plan(
        days=3,
        audience="all",
        claimable_from=now,
        claim_until=now + timedelta(days=30),
        chunk_size=1,
    )
    campaign = await compensation.create(plan, by="test")
    await compensation.execute(campaign.id, by="test")
    # The same chunks queued again while they run: delivered twice, granted once.
    await compensation.queue_chunks(campaign.id)

    async def done() -> bool:
        return (await compensation.get(campaign.id)).status == CampaignStatus.DONE

    assert await eventually(done, 30), fleet.logs()
    grants = await Grant.filter(campaign_id=campaign.id).values_list("user_id", flat=True)
    assert sorted(grants) == sorted(u.id for u in users)
    ran = [log.read_text().count("grant_chunk(") for log in fleet.worker_logs]
    assert all(ran), (ran, fleet.logs())


async def test_degraded_mode_and_its_incident_are_seen_by_both_processes(fleet: Fleet) -> None:
    track = await factories.track()
    token = await login_token(await make_user("listener"))
    query = "query($id: ID!) { playback(trackId: $id) { __typename } }"
    for base in fleet.apis:
        body = await gql(base, query, {"id": to_global_id("Track", track.id)}, token)
        assert body["data"]["playback"]["__typename"] == "ServiceDegraded", body

    async def incident() -> list[Incident]:
        return await Incident.filter(component=Component.PLAYBACK, detector_key__isnull=False)

    assert len(await eventually(incident)) == 1
    status = "{ serviceStatus { operational degradedComponents } }"

    async def both_degraded() -> bool:
        answers = [(await gql(base, status))["data"]["serviceStatus"] for base in fleet.apis]
        return all(a == {"operational": False, "degradedComponents": ["PLAYBACK"]} for a in answers)

    assert await eventually(both_degraded, 12)
    assert len(await incident()) == 1  # adopted by the second process, not opened twice


async def test_a_logout_on_one_process_ends_the_session_on_the_other(fleet: Fleet) -> None:
    # Last in the module: ids restart with every test, and the processes keep the revoked
    # session ids they heard of, so a later test's first session would be refused.
    a, b = fleet.apis
    token = await login_token(await make_user("roaming"))
    me = "{ viewer { likedSongs { title } } }"
    assert "errors" not in await gql(b, me, token=token)
    assert (await gql(a, "mutation { logout { revoked } }", token=token))["data"]["logout"]

    async def refused() -> bool:
        body = await gql(b, me, token=token)
        return any(e["extensions"]["code"] == "UNAUTHENTICATED" for e in body.get("errors", []))

    assert await eventually(refused)
