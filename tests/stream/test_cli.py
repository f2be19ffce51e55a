"""``ncm stream``: explain, sign, aggregate and mau, as operators run them."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ncm.accounts.models import User
from ncm.catalog.models import FeePolicy, License, Quality
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import make_user
from tests.stream.helpers import track_with

pytestmark = pytest.mark.asyncio


async def test_explain_prints_the_decision_and_why(http) -> None:
    user = await make_user("ann")
    track = await track_with((Quality.STANDARD, Quality.EXHIGH), fee_policy=FeePolicy.MEMBERS_ONLY)
    out = ncm("stream", "explain", str(track.id), "--user", "ann")
    assert out.returncode == 0, out.stderr
    assert "PLAYABLE" in out.stdout and "preview" in out.stdout and "not a member" in out.stdout
    data = ncm_json("stream", "explain", str(track.id), "--user", str(user.id), "-q", "EXHIGH")
    assert data["outcome"] == "MEMBERSHIP_REQUIRED" and data["available_qualities"] == "STANDARD"
    assert any("needs a membership" in step for step in data["explanation"])
    await License.filter(track_id=track.id).update(region="JP")
    await User.filter(id=user.id).update(region="JP")
    assert ncm_json("stream", "explain", str(track.id), "--user", "ann")["outcome"] == "PLAYABLE"
    elsewhere = ncm_json("stream", "explain", str(track.id), "--user", "ann", "--region", "cn")
    assert elsewhere["outcome"] == "NOT_LICENSED_IN_REGION" and "CN" in elsewhere["message"]
    missing = ncm("stream", "explain", str(track.id), "--user", "nobody")
    assert missing.returncode == 1 and "nobody" in missing.stderr


async def test_sign_prints_a_url_that_plays(http) -> None:
    track = await track_with((Quality.STANDARD, Quality.EXHIGH))
    out = ncm("stream", "sign", str(track.id), "--quality", "EXHIGH")
    assert out.returncode == 0, out.stderr
    url = urlsplit(out.stdout.strip())
    assert url.path.endswith("/exhigh.mp3")
    got = await http.get(f"{url.path}?{url.query}")
    assert got.status_code == 200 and len(got.content) == 4000
    assert ncm("stream", "sign", str(track.id), "--quality", "HIRES").returncode == 1


async def test_aggregate_and_mau() -> None:
    assert ncm_json("stream", "aggregate")["events"] == 0
    assert ncm_json("stream", "mau", "--month", "2026-01")["monthly_active_users"] == 0
    assert ncm("stream", "mau", "--month", "jan").returncode != 0
