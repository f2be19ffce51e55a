"""Tracking: batches, idempotency by event id, refusals, and a flush that keeps the database
counts exact with duplicated and concurrent events and flushes."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

from ncm.accounts.models import User
from ncm.promotion import tracking
from ncm.promotion.models import (
    CampaignDailyStats,
    CampaignViewer,
    EventKind,
    PromotionClick,
    PromotionFlush,
)
from ncm.promotion.profiles import ViewerProfile
from ncm.schema.base import to_global_id
from tests.conftest import GraphQLClient, login_token, make_user
from tests.promotion.helpers import live_campaign, partner

RECORD = """mutation($e: [PromotionEventInput!]!) { recordPromotionEvents(events: $e) {
  __typename ... on RecordPromotionEventsPayload { accepted duplicates refused { eventId reason } }
  ... on Error { code } } }"""


def event(
    cid: int,
    eid: str,
    *,
    kind: str = "IMPRESSION",
    at: datetime | None = None,
    placement: str = "HOME_BANNER",
) -> dict[str, str]:
    return {
        "eventId": eid,
        "campaignId": to_global_id("Campaign", cid),
        "placement": placement,
        "kind": kind,
        "at": (at or datetime.now(UTC)).isoformat(),
    }


async def totals(campaign_id: int) -> tuple[int, int, int]:
    rows = await CampaignDailyStats.filter(campaign_id=campaign_id)
    return (
        sum(r.impressions for r in rows),
        sum(r.clicks for r in rows),
        sum(r.unique_viewers for r in rows),
    )


async def test_record_batches_through_graphql(gql: GraphQLClient) -> None:
    p = await partner()
    c = await live_campaign(p)
    user = await make_user("erin")
    await User.filter(id=user.id).update(region="TW")
    token = await login_token(user)
    now = datetime.now(UTC)
    batch = [
        event(c.id, "e1"),
        event(c.id, "e2", kind="CLICK"),
        event(c.id, "e1"),  # a duplicate in the same batch
        event(c.id, "e3", at=now + timedelta(hours=1)),
        event(c.id, "e4", at=now - timedelta(days=2)),
        event(c.id + 100, "e5"),
        event(c.id, "e6", placement="NOW_PLAYING"),
        {**event(c.id, "e7"), "campaignId": to_global_id("Track", 1)},
        event(c.id, "bad id with spaces"),
    ]
    body = await gql(RECORD, {"e": batch}, token=token)
    result = body["data"]["recordPromotionEvents"]
    assert (result["accepted"], result["duplicates"]) == (2, 1)
    assert {(r["eventId"], r["reason"]) for r in result["refused"]} == {
        ("e3", "IN_THE_FUTURE"),
        ("e4", "TOO_OLD"),
        ("e5", "UNKNOWN_CAMPAIGN"),
        ("e6", "WRONG_PLACEMENT"),
        ("e7", "UNKNOWN_CAMPAIGN"),
        ("bad id with spaces", "INVALID_EVENT_ID"),
    }
    again = await gql(RECORD, {"e": batch[:2]}, token=token)  # a retry of the same events
    assert again["data"]["recordPromotionEvents"]["duplicates"] == 2
    # Another viewer's event ids are their own.
    other = await login_token(await make_user("fred"))
    theirs = await gql(RECORD, {"e": batch[:1]}, token=other)
    assert theirs["data"]["recordPromotionEvents"]["accepted"] == 1
    too_many = [event(c.id, f"x{n}") for n in range(101)]
    refused = await gql(RECORD, {"e": too_many}, token=token)
    assert refused["data"]["recordPromotionEvents"]["code"] == "TOO_MANY_EVENTS"

    assert await tracking.pending_events() == 3
    flushed = await tracking.flush()
    assert flushed.events == 3
    assert await totals(c.id) == (2, 1, 2)
    row = await CampaignDailyStats.get(campaign_id=c.id, region="TW")
    assert (row.impressions, row.clicks, row.unique_viewers) == (1, 1, 1)
    click = await PromotionClick.get()
    assert (click.user_id, click.region) == (user.id, "TW")
    assert (await tracking.flush()).events == 0


PACKED = """mutation($e: String!) { recordPromotionEventsPacked(events: $e) {
  __typename ... on RecordPromotionEventsPayload { accepted duplicates refused { eventId reason } }
  ... on Error { code field message } } }"""


def packed(events: list[dict[str, str]]) -> str:
    fields = ("eventId", "campaignId", "placement", "kind", "at")
    return "\n".join("\t".join(e[f] for f in fields) for e in events)


async def test_packed_events_get_the_answers_of_the_list(gql: GraphQLClient) -> None:
    """The same batch sent as a list and packed, by two viewers: the same answers, counts
    and refusals; a line that is not five fields, or a bad placement, kind or time, refuses
    the call like a variable GraphQL cannot coerce."""
    p = await partner()
    c = await live_campaign(p)
    now = datetime.now(UTC)
    batch = [
        event(c.id, "e1"),
        event(c.id, "e2", kind="CLICK", at=now - timedelta(minutes=5)),
        event(c.id, "e1"),
        event(c.id, "e3", at=now + timedelta(hours=1)),
        event(c.id, "e4", at=now - timedelta(days=2)),
        event(c.id + 100, "e5"),
        event(c.id, "e6", placement="NOW_PLAYING"),
        {**event(c.id, "e7"), "campaignId": to_global_id("Track", 1)},
        {**event(c.id, "e8"), "campaignId": "not-a-global-id"},
        {**event(c.id, "e9"), "at": "2026-12-03T10:00:00"},  # no offset: UTC, as for the list
        event(c.id, "bad id with spaces"),
    ]
    answers = []
    for name in ("lister", "packer"):
        token = await login_token(await make_user(name))
        if name == "lister":
            body = await gql(RECORD, {"e": batch}, token=token)
            answers.append(body["data"]["recordPromotionEvents"])
        else:
            body = await gql(PACKED, {"e": packed(batch) + "\n"}, token=token)
            answers.append(body["data"]["recordPromotionEventsPacked"])
            again = await gql(PACKED, {"e": packed(batch[:2])}, token=token)
            assert again["data"]["recordPromotionEventsPacked"]["duplicates"] == 2
    listed, sent = answers
    assert listed["__typename"] == sent["__typename"] == "RecordPromotionEventsPayload"
    assert (sent["accepted"], sent["duplicates"]) == (listed["accepted"], listed["duplicates"])
    assert (sent["accepted"], sent["duplicates"]) == (2, 1)
    assert sorted(map(str, sent["refused"])) == sorted(map(str, listed["refused"]))
    assert len(sent["refused"]) == 8
    token = await login_token(await make_user("sloppy"))
    for bad in (
        [{**event(c.id, "b1"), "placement": "NOWHERE"}],
        [{**event(c.id, "b2"), "kind": "impression"}],
        [{**event(c.id, "b3"), "at": "yesterday"}],
        [{**event(c.id, "b4"), "at": "2026-02-30T10:00:00Z"}],
    ):
        assert "errors" in await gql(RECORD, {"e": bad}, token=token, expect_errors=True)
        refused = (await gql(PACKED, {"e": packed(bad)}, token=token))["data"]
        assert refused["recordPromotionEventsPacked"]["code"] == "INVALID_INPUT"
    short = packed([event(c.id, "ok1"), event(c.id, "ok2")]) + "\nok3\tonly three\tfields"
    refused = (await gql(PACKED, {"e": short}, token=token))["data"]["recordPromotionEventsPacked"]
    assert refused["code"] == "INVALID_INPUT" and "Line 3" in refused["message"]
    many = packed([event(c.id, f"x{n}") for n in range(101)])
    refused = (await gql(PACKED, {"e": many}, token=token))["data"]["recordPromotionEventsPacked"]
    assert refused["code"] == "TOO_MANY_EVENTS"
    empty = (await gql(PACKED, {"e": ""}, token=token))["data"]["recordPromotionEventsPacked"]
    assert (empty["accepted"], empty["refused"]) == (0, [])
    assert await tracking.pending_events() == 4  # two new events for each of the two viewers


async def test_flush_is_exact_with_duplicates_and_concurrency() -> None:
    p = await partner()
    a = await live_campaign(p, name="a")
    b = await live_campaign(p, name="b")
    viewers = [
        ViewerProfile(f"u{uid}", uid, "TW" if uid % 2 else "HK", None, False, frozenset())
        for uid in range(1000, 1012)
    ]
    rng = random.Random(7)
    now = datetime.now(UTC)
    distinct: set[tuple[int, str]] = set()
    expected = {a.id: [0, 0], b.id: [0, 0]}
    saw: dict[int, set[int]] = {a.id: set(), b.id: set()}
    batches: list[tuple[ViewerProfile, list[tracking.EventIn]]] = []
    for _ in range(240):
        v = rng.choice(viewers)
        events = []
        for _ in range(rng.randint(1, 20)):
            eid = f"ev{rng.randint(0, 1500)}"  # collisions: duplicates across batches
            cid = a.id if int(eid[2:]) % 2 else b.id
            kind = EventKind.CLICK if int(eid[2:]) % 5 == 0 else EventKind.IMPRESSION
            events.append(tracking.EventIn(eid, cid, "HOME_BANNER", kind, now))
            if (v.user_id, eid) not in distinct:  # type: ignore[comparison-overlap]
                distinct.add((v.user_id, eid))  # type: ignore[arg-type]
                expected[cid][0 if kind == EventKind.IMPRESSION else 1] += 1
                if kind == EventKind.IMPRESSION:
                    saw[cid].add(v.user_id)  # type: ignore[arg-type]
        batches.append((v, events))

    async def ingest(chunk: list[tuple[ViewerProfile, list[tracking.EventIn]]]) -> int:
        accepted = 0
        for v, events in chunk:
            accepted += (await tracking.record(v, events)).accepted
            await asyncio.sleep(0)
        return accepted

    async def flusher() -> None:
        for _ in range(6):
            await tracking.flush()
            await asyncio.sleep(0.01)

    chunks = [batches[i::6] for i in range(6)]
    results = await asyncio.gather(*(ingest(c) for c in chunks), flusher(), flusher(), flusher())
    assert sum(r for r in results if isinstance(r, int)) == len(distinct)
    await asyncio.gather(tracking.flush(), tracking.flush())
    await tracking.flush()
    for cid in (a.id, b.id):
        impressions, clicks, unique = await totals(cid)
        assert (impressions, clicks) == tuple(expected[cid])
        assert unique == len(saw[cid]) == await CampaignViewer.filter(campaign_id=cid).count()
    assert await PromotionClick.all().count() == expected[a.id][1] + expected[b.id][1]
    assert sum(f.events for f in await PromotionFlush.all()) == len(distinct)


async def test_a_batch_written_twice_counts_once() -> None:
    """A flush that crashed after its commit (keys not deleted) is retried: the batch id
    is in the database, so the retry only cleans up."""
    from collections import Counter

    p = await partner()
    c = await live_campaign(p)
    today = datetime.now(UTC).date().isoformat()
    counts = Counter({f"{c.id}|{today}|TW|I": 5})
    assert await tracking._write("batch-1", counts, set(), []) == 5
    assert await tracking._write("batch-1", counts, set(), []) is None
    assert await totals(c.id) == (5, 0, 0)


async def test_redis_leftover_batch_is_flushed_once() -> None:
    from ncm.kit.redis import get_redis

    redis = await get_redis()
    if redis is None:
        return  # the embedded default has no leftover batches
    p = await partner()
    c = await live_campaign(p)
    v = ViewerProfile("u1", None, "TW", None, False, frozenset())
    now = datetime.now(UTC)
    await tracking.record(
        v, [tracking.EventIn("e1", c.id, "HOME_BANNER", EventKind.IMPRESSION, now)]
    )
    # A flush claims the pending counts and dies before writing them.
    claim = redis.register_script(tracking._CLAIM)
    await claim(
        keys=[tracking._key(f"pending:{x}") for x in "cvk"] + [tracking._key("inflight")],
        args=["dead", *(tracking._key(f"batch:dead:{x}") for x in "cvk")],
    )
    await tracking.record(
        v, [tracking.EventIn("e2", c.id, "HOME_BANNER", EventKind.IMPRESSION, now)]
    )
    result = await tracking.flush()
    assert result.events == 2 and result.batches == 2
    assert await totals(c.id) == (2, 0, 0)
    assert await redis.smembers(tracking._key("inflight")) == set()
