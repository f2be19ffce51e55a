"""``ncm compensation``: the real command in a subprocess against the test database."""

from __future__ import annotations

from pathlib import Path

from ncm.compensation.models import Grant
from tests.billing.helpers import process_pending
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import make_user


async def test_dry_run_execute_status_list_and_revoke(tmp_path: Path) -> None:
    people = [await make_user(f"user{i}") for i in range(4)]
    window = ["--claimable-from", "2026-01-01", "--claim-until", "2099-01-01"]
    dry = ncm_json("compensation", "create", "--days", "7", "--audience", "all", *window)
    assert dry["size"] == 4 and "campaign" not in dry and str(people[0].id) in dry["sample"]
    assert not await Grant.exists()
    ids = tmp_path / "users.txt"
    ids.write_text(f"{people[1].id}\n{people[3].id}\n", encoding="utf-8")
    done = ncm_json(
        "compensation",
        "create",
        "--days",
        "7",
        "--audience",
        "users-file",
        "--users-file",
        str(ids),
        "--chunk-size",
        "2",
        "--execute",
        "--no-wait",  # with Redis the chunk jobs wait for a worker: run them below
        *window,
    )
    assert done["size"] == 2
    cid = str(done["campaign"])
    await process_pending()
    status = ncm_json("compensation", "status", cid)
    assert status["grants_pending"] == 2 and status["chunks_granted"] == status["chunks_total"]
    assert [a["action"] for a in status["audit"]] == ["CREATED", "EXECUTED", "FINISHED"]
    assert ncm("compensation", "status", cid).returncode == 0  # the table
    assert [c["id"] for c in ncm_json("compensation", "list")] == [int(cid)]
    revoked = ncm_json("compensation", "revoke", cid)
    assert revoked["removed"] == 2
    assert ncm_json("compensation", "status", cid)["status"] == "REVOKED"
    missing = ncm("compensation", "status", "999")
    assert missing.returncode == 1 and missing.stderr.startswith("error:")
    bad = ncm("compensation", "create", "--days", "7", "--audience", "affected", *window)
    assert bad.returncode == 1 and "--incident" in bad.stderr
