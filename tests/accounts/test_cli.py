from __future__ import annotations

import pytest

from ncm.accounts.models import Role, User
from ncm.errors import NcmError
from tests import factories
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import make_user


async def test_create_user_with_role_and_set_role() -> None:
    created = ncm_json(
        "users",
        "create",
        "--email",
        "Mod@Example.com",
        "--handle",
        "mod1",
        "--role",
        "moderator",
        env={"NCM_NEW_USER_PASSWORD": "s3cret-enough!"},
    )
    assert created["email"] == "mod@example.com" and created["role"] == "moderator"
    user = await User.get(handle="mod1")
    assert user.role == Role.MODERATOR
    changed = ncm_json("users", "set-role", "mod@example.com", "partner", "--partner-id", "7")
    assert (changed["role"], changed["partner_id"]) == ("partner", 7)
    await user.refresh_from_db()
    assert (user.role, user.partner_id) == (Role.PARTNER, 7)


async def test_create_user_failures_exit_non_zero_and_write_nothing() -> None:
    await make_user("taken")
    weak = ncm(
        "users",
        "create",
        "--email",
        "w@example.com",
        "--handle",
        "weakling",
        env={"NCM_NEW_USER_PASSWORD": "short"},
    )
    assert weak.returncode == 1 and "characters" in weak.stderr
    dup = ncm(
        "users",
        "create",
        "--email",
        "taken@example.com",
        "--handle",
        "other",
        env={"NCM_NEW_USER_PASSWORD": "s3cret-enough!"},
    )
    assert dup.returncode == 1 and "email" in dup.stderr
    partner = ncm(
        "users",
        "create",
        "--email",
        "p@example.com",
        "--handle",
        "partnerx",
        "--role",
        "partner",
        env={"NCM_NEW_USER_PASSWORD": "s3cret-enough!"},
    )
    assert partner.returncode == 1 and "partner" in partner.stderr
    assert await User.all().count() == 1


async def test_set_role_unknown_user_and_bad_role() -> None:
    missing = ncm("users", "set-role", "ghost", "admin")
    assert missing.returncode == 1 and "ghost" in missing.stderr
    bad = ncm("users", "set-role", "ghost", "emperor")
    assert bad.returncode == 2


async def test_users_list_and_show_tables() -> None:
    await make_user("lister", role=Role.FINANCE)
    table = ncm("users", "list", "--role", "finance")
    assert table.returncode == 0 and "lister" in table.stdout
    shown = ncm_json("users", "show", "lister")
    assert shown["role"] == "finance"


async def test_catalog_show() -> None:
    t = await factories.track("Show me", artists=[await factories.artist("Shower")])
    shown = ncm_json("catalog", "show", str(t.id))
    assert shown["title"] == "Show me" and shown["artists"] == "Shower"
    assert shown["renditions"] == "STANDARD 128k mp3" and shown["licenses"] == "*"
    missing = ncm("catalog", "show", "999999")
    assert missing.returncode == 1 and "No such track" in missing.stderr


@pytest.mark.backend_independent
def test_every_command_has_help() -> None:
    # --help never opens the database, so Typer's in-process runner is safe here.
    from typer.testing import CliRunner

    from ncm.cli.main import app

    runner = CliRunner()
    for args in (
        ["--help"],
        ["db", "--help"],
        ["users", "create", "--help"],
        ["catalog", "--help"],
        ["seed", "--help"],
        ["serve", "--help"],
        ["worker", "--help"],
        ["playlists", "--help"],
        ["playlists", "import", "--help"],
        ["catalog", "import", "--help"],
        ["seed", "scale", "--help"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.output, args


async def test_logout_ends_every_session_of_a_user() -> None:
    from ncm.accounts import revocation, service
    from ncm.accounts.tokens import read_access_token
    from ncm.config import get_settings
    from tests.conftest import STRONG_PASSWORD

    await make_user("lost")
    sessions = [
        await service.login("lost", STRONG_PASSWORD, client_ip="127.0.0.1") for _ in range(2)
    ]
    ended = ncm_json("users", "logout", "lost")
    assert (ended["handle"], ended["sessions_ended"]) == ("lost", 2)
    for session in sessions:
        with pytest.raises(NcmError):
            await service.refresh(session.refresh_token)
    if get_settings().redis_url is not None:  # the CLI is another process: Redis carries it
        await revocation.refresh()
        assert all(read_access_token(s.access_token) is None for s in sessions)
    missing = ncm("users", "logout", "ghost")
    assert missing.returncode == 1 and "ghost" in missing.stdout + missing.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["users", "show", "9223372036854775808"],
        ["users", "show", "a" * 40],
        ["users", "show", "²"],
        ["users", "show", "٣"],
        ["catalog", "show", "9223372036854775808"],
        ["comments", "recount", "999999", "--check"],
        ["stream", "sign", "1", "--quality", "BOGUS"],
        ["stream", "sign", "1", "--quality", "STANDARD", "--ttl", "100000000000"],
        ["stream", "mau", "--month", "9999-12"],
        ["serve", "--port", "70000"],
    ],
    ids=lambda a: " ".join(a)[:40],
)
def test_odd_arguments_fail_with_a_message_not_a_traceback(args: list[str]) -> None:
    result = ncm(*args)
    assert result.returncode in (1, 2), result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout + result.stderr.strip(), "says why"
