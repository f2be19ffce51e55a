"""Which operations may read from the replica (no database needed)."""

from __future__ import annotations

from graphql import parse

from ncm.schema.routing import lag_tolerant, root_fields


def test_root_fields_follow_fragments_and_the_chosen_operation() -> None:
    document = parse(
        """
        query Page($id: ID!) { track(id: $id) { title } ...More ... on Query { genres { name } } }
        fragment More on Query { search(query: "x") { edges { cursor } } }
        query Mine { viewer { likedSongs { title } } }
        """
    )
    assert root_fields(document, "Page") == {"track", "search", "genres"}
    assert root_fields(document, "Mine") == {"viewer"}
    assert root_fields(document, None) is None  # two operations, none chosen
    assert lag_tolerant(document, "Page")
    assert not lag_tolerant(document, "Mine")


def test_a_query_mixing_own_data_with_public_data_reads_from_the_primary() -> None:
    assert lag_tolerant(
        parse("{ track(id: 1) { title } comments(threadId: 2) { __typename } }"), None
    )
    assert not lag_tolerant(parse("{ track(id: 1) { title } viewer { __typename } }"), None)
    assert not lag_tolerant(parse("{ playback(trackId: 1) { __typename } }"), None)
    assert not lag_tolerant(parse("mutation { logout { revoked } }"), None)
    assert not lag_tolerant(None, None)
