"""Argument handling shared by every command: one-line errors (exit 2), global ids, roles in
any case, options that do not apply, regions, and what an unknown id says."""

from __future__ import annotations

import base64

from ncm.accounts.models import Role, User
from tests import factories
from tests.cli.helpers import ncm, ncm_json
from tests.conftest import make_user


def gid(type_name: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode()


def one_error_line(result: object, *words: str) -> None:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 2, (result.returncode, stderr)  # type: ignore[attr-defined]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_argument_errors_are_one_line_with_exit_code_2() -> None:
    one_error_line(ncm("stream", "sign", "abc", "-q", "EXHIGH"), "Track", "stream sign --help")
    one_error_line(ncm("users", "set-role", "someone", "superuser"), "superuser")
    one_error_line(ncm("billing", "reconcile", "--since", "2026-02-30"), "2026-02-30")
    one_error_line(ncm("nonsense"), "nonsense")
    one_error_line(ncm("users", "show", "x", "--colour"), "--colour")


def test_help_and_a_bare_group_still_show_help() -> None:
    assert ncm("users", "--help").returncode == 0
    bare = ncm("users")
    assert "set-role" in bare.stdout + bare.stderr


async def test_global_ids_are_accepted_where_numeric_ids_are() -> None:
    from ncm.playlists.models import Playlist

    owner = await make_user("owner")
    playlist = await Playlist.create(owner=owner, title="Road trip")
    track = await factories.track("Sunny day")
    by_number = ncm_json("stream", "explain", str(track.id))
    by_gid = ncm_json("stream", "explain", gid("Track", track.id))
    assert by_number["track"] == by_gid["track"] == track.id
    wrong_type = ncm("stream", "explain", gid("Playlist", track.id))
    one_error_line(wrong_type, "Playlist", "Track")
    shown = ncm_json("playlists", "show", gid("Playlist", playlist.id))
    assert shown["id"] == playlist.id


async def test_users_by_global_id_and_roles_in_any_case() -> None:
    user = await make_user("casey")
    shown = ncm_json("users", "show", gid("User", user.id))
    assert shown["handle"] == "casey"
    changed = ncm_json("users", "set-role", "casey", "MODERATOR")
    assert changed["role"] == "moderator"
    listed = ncm_json("users", "list", "--role", "Moderator")
    assert [u["handle"] for u in listed] == ["casey"]


async def test_an_option_that_does_not_apply_is_refused() -> None:
    await make_user("lee")
    one_error_line(ncm("users", "set-role", "lee", "listener", "--partner-id", "5"), "--partner-id")
    user = await User.get(handle="lee")
    assert (user.role, user.partner_id) == (Role.LISTENER, None)
    one_error_line(
        ncm(
            "users",
            "create",
            "--email",
            "m@example.com",
            "--handle",
            "mod9",
            "--role",
            "moderator",
            "--partner-id",
            "5",
            env={"NCM_NEW_USER_PASSWORD": "s3cret-enough!"},
        ),
        "--partner-id",
    )
    assert not await User.exists(handle="mod9")


async def test_regions_are_validated_as_the_api_does() -> None:
    track = await factories.track("Anywhere")
    one_error_line(ncm("stream", "explain", str(track.id), "--region", "china"), "china")
    ok = ncm_json("stream", "explain", str(track.id), "--region", "cn")
    assert ok["track"] == track.id


def test_signing_an_unknown_track_names_it() -> None:
    result = ncm("stream", "sign", "999", "--quality", "EXHIGH")
    assert result.returncode == 1
    assert "no track 999" in result.stderr.lower(), result.stderr
