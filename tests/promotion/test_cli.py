"""``ncm promo``: the real command in a subprocess against the test database."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from ncm.promotion import tracking
from ncm.promotion.models import CampaignAudit, EventKind
from ncm.promotion.profiles import ViewerProfile
from tests.cli.helpers import ncm, ncm_json


async def test_partners_keys_and_campaign_workflow() -> None:
    added = ncm_json("promo", "partners", "add", "kkbox", "--name", "KKBOX Inc.")
    assert added["code"] == "KKBOX"
    assert ncm("promo", "partners", "add", "KKBOX", "--name", "again").returncode == 1
    assert [p["code"] for p in ncm_json("promo", "partners", "list")] == ["KKBOX"]

    key = ncm_json("promo", "partners", "keys", "create", "KKBOX", "--name", "reports")
    assert key["secret"].startswith("ncmpk_")
    listed = ncm_json("promo", "partners", "keys", "list", "KKBOX")
    assert [k["id"] for k in listed] == [key["id"]] and "secret" not in listed[0]
    revoked = ncm_json("promo", "partners", "keys", "revoke", str(key["id"]))
    assert revoked["revoked_at"] is not None

    now = datetime.now(UTC)
    made = ncm_json(
        "promo",
        "campaigns",
        "create",
        "--partner",
        "KKBOX",
        "--name",
        "Jay Chou tour",
        "--kind",
        "CONCERT_TOUR",
        "--link",
        "https://tickets.example.com/jay",
        "--title",
        "Jay Chou Carnival",
        "--event-at",
        (now + timedelta(days=40)).strftime("%Y-%m-%dT20:00"),
        "--venue",
        "Taipei Dome",
        "--starts",
        (now - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "--ends",
        (now + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "--tz",
        "UTC",
        "--placement",
        "HOME_BANNER",
        "--placement",
        "search_top",
        "--region",
        "TW",
        "--booked",
        "5000",
    )
    assert made["status"] == "DRAFT" and made["placements"] == "HOME_BANNER,SEARCH_TOP"
    cid = str(made["id"])
    assert ncm("promo", "campaigns", "approve", cid).returncode == 1  # not submitted
    assert ncm_json("promo", "campaigns", "submit", cid)["status"] == "SUBMITTED"
    assert ncm_json("promo", "campaigns", "approve", cid, "--note", "ok")["status"] == "LIVE"
    assert ncm_json("promo", "campaigns", "pause", cid)["status"] == "PAUSED"
    assert ncm_json("promo", "campaigns", "resume", cid)["status"] == "LIVE"
    listed = ncm_json("promo", "campaigns", "list", "--partner", "KKBOX", "--status", "live")
    assert [c["id"] for c in listed] == [made["id"]]
    assert ncm_json("promo", "campaigns", "end", cid, "--note", "done")["status"] == "ENDED"
    actions = [a.action for a in await CampaignAudit.filter(campaign_id=int(cid)).order_by("id")]
    assert actions == ["create", "submit", "approve", "go_live", "pause", "resume", "end"]
    bad = ncm(
        "promo",
        "campaigns",
        "create",
        "--partner",
        "NOPE",
        "--name",
        "x",
        "--kind",
        "ARTIST",
        "--starts",
        "2030-01-01T00:00",
        "--ends",
        "2030-01-02T00:00",
        "--placement",
        "HOME_BANNER",
        "--object",
        "artist:1",
    )
    assert bad.returncode == 1 and bad.stderr.startswith("error:")


async def test_report_formats() -> None:
    from tests.promotion.helpers import live_campaign, partner

    p = await partner("KKBOX")
    c = await live_campaign(p, booked_impressions=100)
    now = datetime.now(UTC)
    v = ViewerProfile("u1", 1, "TW", None, False, frozenset())
    await tracking.record(
        v,
        [
            tracking.EventIn("a", c.id, "HOME_BANNER", EventKind.IMPRESSION, now),
            tracking.EventIn("b", c.id, "HOME_BANNER", EventKind.CLICK, now),
        ],
    )
    await tracking.flush()
    day = now.date().isoformat()
    args = ("promo", "report", "--partner", "kkbox", "--from", day, "--to", day)
    as_json = json.loads(ncm(*args, "--format", "json").stdout)
    assert as_json[0]["total"]["impressions"] == 1 and as_json[0]["total"]["ctr"] == 1.0
    assert as_json[0]["days"][0]["regions"][0]["region"] == "TW"
    rows = list(csv.DictReader(io.StringIO(ncm(*args, "--format", "csv").stdout)))
    assert [(r["region"], r["impressions"], r["clicks"]) for r in rows] == [
        ("ALL", "1", "1"),
        ("TW", "1", "1"),
    ]
    table = ncm(*args)
    assert table.returncode == 0 and "Mayday" in table.stdout
    assert ncm(*args, "--format", "xml").returncode == 1
    assert ncm("promo", "report", "--partner", "kkbox", "--from", day, "--to", "x").returncode == 1
