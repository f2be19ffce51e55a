"""Internal ids never reach an API message: a message names things by the id the client
sent (its global id). Issue 19, item 8."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ncm.schema.base import to_global_id
from tests.conftest import GraphQLClient, login_token, make_user
from tests.playlists.helpers import gid, playlist_of, tracks
from tests.playlists.test_graphql_entries import ADD, REPLACE

ROOT = Path(__file__).resolve().parents[2] / "ncm"
ADD_MESSAGE = ADD.replace("... on Error { code field }", "... on Error { code field message }")
REPLACE_MESSAGE = REPLACE.replace(
    "skippedTrackIds } } }", "skippedTrackIds } ... on Error { code message } } }"
)


async def test_missing_tracks_are_named_by_their_global_ids(gql: GraphQLClient) -> None:
    owner = await make_user("owner")
    token = await login_token(owner)
    p = await playlist_of(owner)
    (track,) = await tracks(1)
    missing = [gid("Track", 999), gid("Track", 123456)]
    for query in (ADD_MESSAGE, REPLACE_MESSAGE):
        body = await gql(
            query,
            {"p": gid("Playlist", p.id), "t": [gid("Track", track.id), *missing]},
            token=token,
        )
        result = next(iter(body["data"].values()))
        assert result["code"] == "NOT_FOUND", result
        assert result["message"] == f"No such track(s): {missing[0]}, {missing[1]}.", result
        assert "999" not in result["message"].replace(missing[0], "")


async def test_a_playback_explanation_names_no_internal_id(gql: GraphQLClient) -> None:
    from tests.stream.helpers import PLAYBACK

    body = await gql(PLAYBACK, {"id": to_global_id("Track", 987654)})
    result = body["data"]["playback"]
    assert result["code"] == "TRACK_UNAVAILABLE"
    assert not any("987654" in step for step in result["explanation"]), result


# A message may show an id the caller chose (a Stripe id, an operator's grant id, a line of
# a file), never a primary key: those go through ``ncm.errors.NoSuch``.
EXTERNAL_IDS = {"grant_id", "sub_id", "external_id", "stripe_id"}


@pytest.mark.backend_independent
def test_no_service_message_formats_an_internal_id() -> None:
    """Every ``raise SomeError(f"...{x_id}...")`` outside the CLI; ids go through NoSuch."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if "cli" in path.parts or "seeding" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            for arg in node.exc.args[:1]:
                if not isinstance(arg, ast.JoinedStr):
                    continue
                for value in arg.values:
                    if not isinstance(value, ast.FormattedValue):
                        continue
                    names = {n.id for n in ast.walk(value.value) if isinstance(n, ast.Name)}
                    names |= {n.attr for n in ast.walk(value.value) if isinstance(n, ast.Attribute)}
                    internal = {
                        n
                        for n in names
                        if (n in {"id", "pk", "ids"} or n.endswith(("_id", "_ids")))
                        and n not in EXTERNAL_IDS
                    }
                    if internal:
                        offenders.append(
                            f"{path.relative_to(ROOT)}:{node.lineno} {sorted(internal)}"
                        )
    assert offenders == [], offenders
