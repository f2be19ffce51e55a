"""Operation cost analysis (``ncm.schema.cost``) and the guard that applies it: each
fragment measured once, refusals are 400 with the figure and the limit, and stay refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    Visitor,
    get_introspection_query,
    parse,
    visit,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from ncm.schema.cost import MAX_FRAGMENT_NESTING, Limits, measure
from ncm.schema.schema import get_schema

LIMITS = Limits(max_depth=12, max_aliases=30, max_cost=50_000, max_page_size=100)


def bomb(n: int) -> str:
    """The issue's document: every fragment spreads the next one twice."""
    spreads = " ".join(f"fragment F{i} on Query{{...F{i + 1} ...F{i + 1}}}" for i in range(n))
    return f"query{{...F0}} {spreads} fragment F{n} on Query{{genres{{id}}}}"


def figures(query: str, limits: Limits = LIMITS) -> Any:
    return measure(get_schema(False)._schema, parse(query), limits)


@pytest.mark.parametrize("n", [20, 40])
def test_the_fragment_bomb_is_measured_in_linear_work(n: int) -> None:
    m = figures(bomb(n))
    # Its expansion: 2**n copies of `genres { id }` (1 + 10 estimated genres x 1 field).
    assert m.figures.cost == 2**n * 11
    # ...but each fragment was looked at once: two spreads per fragment and the leaf.
    assert m.visited == 2 * n + 3


def test_work_grows_linearly_not_exponentially() -> None:
    assert figures(bomb(40)).visited - figures(bomb(20)).visited == 40


def test_depth_aliases_and_cost_of_ordinary_documents() -> None:
    m = figures("{ genres { slug } }").figures
    assert (m.depth, m.aliases, m.cost) == (1, 0, 1 + 10 * 1)
    page = """{ tracks(first: 5) { edges { node { title artists { name } } }
               pageInfo { hasNextPage } } }"""
    m = figures(page).figures
    # tracks + edges + 5 x (node + title + artists + 10 x name) + pageInfo + hasNextPage
    assert m.cost == 1 + (1 + 5 * (1 + 1 + (1 + 10 * 1))) + 2
    assert m.depth == 4
    aliased = figures("{ a: genres { slug } b: genres { s: slug } }").figures
    assert aliased.aliases == 3


def test_a_variable_page_size_counts_as_the_cap_and_no_size_as_the_default() -> None:
    variable = figures("query($n: Int) { tracks(first: $n) { edges { cursor } } }").figures
    default = figures("{ tracks { edges { cursor } } }").figures
    huge = figures("{ tracks(first: 1000000) { edges { cursor } } }").figures
    assert variable.cost == 1 + (1 + 100 * 1)
    assert default.cost == 1 + (1 + 20 * 1)
    assert huge.cost == variable.cost  # capped: the server refuses more than 100 anyway


def sized_fan(sizes: int, fragments: int) -> str:
    """One fragment spread under `sizes` connections of different `first`, which spreads
    `fragments` fragments whose leaf selects `edges`: a cost that depends on each size."""
    fields = " ".join(f"a{i}: tracks(first: {i}) {{ ...F }}" for i in range(1, sizes + 1))
    spreads = " ".join(f"...G{j}" for j in range(fragments))
    inner = " ".join(f"fragment G{j} on TrackConnection {{ ...H }}" for j in range(fragments))
    return (
        f"{{ {fields} }} fragment F on TrackConnection {{ {spreads} }} {inner}"
        " fragment H on TrackConnection { edges { cursor } }"
    )


def test_a_fragment_spread_under_many_list_sizes_is_measured_once() -> None:
    # Memoizing by the size itself measured F and every G again for each `first` (100 x 330
    # fragments: 67,062 nodes, 1.4 s of the event loop for an 18 KB anonymous request).
    # The cost is affine in the size, so each fragment is measured once.
    m = figures(sized_fan(100, 330))
    # The 100 fields and their spreads, then F, the Gs and H (edges, cursor) once under an
    # inherited size and once without (the pass over every fragment for breadth).
    assert m.visited == 2 * 100 + 2 * (330 + 330 + 2)
    # ...and priced as its expansion: a_i costs 1 + (330 x (1 + i x 1)).
    assert m.figures.cost == sum(1 + 330 * (1 + i) for i in range(1, 101))
    assert figures(sized_fan(1, 3)).figures.cost == 1 + 3 * (1 + 1)


@st.composite
def sized_documents(draw: Any) -> tuple[str, int]:
    """Connections of random `first` over fragments that spread later fragments (inline
    fragments too), with the cost the expanded document has, computed without memo."""
    n = draw(st.integers(1, 6))
    bodies: list[list[Any]] = []  # per fragment: its items; "e" edges, "p" pageInfo, int spread
    for i in range(n):
        items = draw(
            st.lists(
                st.sampled_from(["e", "p", "i"]) | st.integers(i + 1, n).filter(lambda j: j < n),
                min_size=1,
                max_size=4,
            )
        )
        bodies.append(items)

    def text(items: list[Any]) -> str:
        parts = {"e": "edges { cursor }", "p": "pageInfo { hasNextPage }"}
        out = [
            f"...F{item}"
            if isinstance(item, int)
            else parts.get(item, "... on TrackConnection { edges { cursor } }")
            for item in items
        ]
        return " ".join(out)

    def cost(items: list[Any], size: int) -> int:  # the expansion, walked in full
        total = 0
        for item in items:
            if isinstance(item, int):
                total += cost(bodies[item], size)
            else:
                total += 2 if item == "p" else 1 + size
        return total

    firsts = draw(st.lists(st.integers(0, 150), min_size=1, max_size=8))
    starts = [draw(st.integers(0, n - 1)) for _ in firsts]
    fields = " ".join(
        f"a{k}: tracks(first: {first}) {{ ...F{start} }}"
        for k, (first, start) in enumerate(zip(firsts, starts, strict=True))
    )
    fragments = " ".join(
        f"fragment F{i} on TrackConnection {{ {text(b)} }}" for i, b in enumerate(bodies)
    )
    expected = sum(1 + cost(bodies[s], min(f, 100)) for f, s in zip(firsts, starts, strict=True))
    return f"{{ {fields} }} {fragments}", expected


@settings(max_examples=200, deadline=None, database=None)
@given(case=sized_documents())
def test_cost_under_inherited_sizes_is_the_expansions_and_work_stays_linear(
    case: tuple[str, int],
) -> None:
    document, expected = case
    selections = 0

    class Count(Visitor):
        def enter(self, node: Any, *_args: Any) -> None:
            nonlocal selections
            selections += isinstance(node, (FieldNode, FragmentSpreadNode, InlineFragmentNode))

    parsed = parse(document)
    visit(parsed, Count())
    m = measure(get_schema(False)._schema, parsed, LIMITS)
    assert m.figures.cost == expected
    # Each fragment is walked at most twice here (under an inherited size, and without one
    # for the breadth pass), whatever sizes it is spread under.
    assert m.visited <= 2 * selections


def test_nested_pages_multiply() -> None:
    nested = """{ user(id: "x") { playlists(first: 50) { edges { node {
        entries(first: 50) { edges { node { position } } } } } } } }"""
    m = figures(nested).figures
    assert m.cost > 50 * 50 and m.depth == 7


def test_fragment_cycles_and_unknown_fragments_are_left_to_validation() -> None:
    m = figures("{ ...A } fragment A on Query { ...B genres { id } } fragment B on Query { ...A }")
    assert m.figures.cost == 11 and not m.too_nested
    assert figures("{ ...Missing }").figures.cost == 0


def test_fragment_chains_deeper_than_any_client_writes_are_flagged() -> None:
    n = MAX_FRAGMENT_NESTING + 5
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(n))
    m = figures(f"{{ ...F0 }} {chain} fragment F{n} on Query {{ genres {{ id }} }}")
    assert m.too_nested


def test_the_introspection_query_fits_and_nested_introspection_does_not() -> None:
    full = figures(get_introspection_query(descriptions=True)).figures
    assert full.cost < LIMITS.max_cost and full.depth == 0
    nested = "{ __schema { types { fields { type { fields { type { fields { type {"
    nested += " fields { type { fields { name } } } } } } } } } } } }"
    assert figures(nested).figures.cost > LIMITS.max_cost


@pytest.mark.parametrize("n", [20, 40])
async def test_the_bomb_is_refused_over_http_twice(http: httpx.AsyncClient, n: int) -> None:
    guard = get_schema(False).guard  # type: ignore[attr-defined]
    measured = guard.measured
    for _ in range(2):  # the second answer comes from the cache: still refused
        r = await http.post("/graphql", json={"query": bomb(n)})
        assert r.status_code == 400, r.text
        body = r.json()
        assert "data" not in body
        error = body["errors"][0]
        assert error["extensions"] == {
            "code": "OPERATION_TOO_COMPLEX",
            "figure": "cost",
            "measured": 2**n * 11,
            "limit": 50_000,
        }
        assert str(2**n * 11) in error["message"] and "50000" in error["message"]
    assert guard.measured == measured + 1  # measured once, refused twice


async def test_each_limit_names_its_figure(http: httpx.AsyncClient) -> None:
    deep = "{ viewer { user { followers { edges { node { followers { edges { node {"
    deep += " followers { edges { node { followers { edges { node { handle } } } } } } } } } }"
    deep += " } } } } }"
    aliases = "{ " + " ".join(f"g{i}: __typename" for i in range(31)) + " }"
    costly = """{ tracks(first: 100) { edges { node { album { tracks(first: 100) { edges {
        node { title artists { name } } } } } } } } }"""
    tokens = "{ " + "__typename " * 5001 + "}"
    for query, figure, limit in (
        (deep, "depth", 12),
        (aliases, "aliases", 30),
        (costly, "cost", 50_000),
        (tokens, "tokens", 5000),
    ):
        for _ in range(2):
            r = await http.post("/graphql", json={"query": query})
            assert r.status_code == 400, (figure, r.text)
            extensions = r.json()["errors"][0]["extensions"]
            assert (extensions["figure"], extensions["limit"]) == (figure, limit)
            if figure != "tokens":
                assert extensions["measured"] > limit


def test_breadth_and_repeats_count_what_validation_compares() -> None:
    repeated = figures("{ " + "genres { id } " * 31 + "}").figures
    assert (repeated.breadth, repeated.repeats) == (31, 31)
    # Repeats through fragments spread at one level, and inside nested fields, count too.
    fragments = " ".join(f"fragment A{i} on Query {{ genres {{ id }} }}" for i in range(31))
    spread = figures("{ " + " ".join(f"...A{i}" for i in range(31)) + " } " + fragments)
    assert spread.figures.repeats == 31
    nested = figures("{ viewer { user { " + "handle " * 40 + "} } }").figures
    assert (nested.breadth, nested.repeats) == (40, 40)
    assert figures("{ genres { id slug name } }").figures.repeats == 1


async def test_documents_too_long_or_too_repetitive_are_refused(http: httpx.AsyncClient) -> None:
    long = "{ genres { slug } }" + "#" + "x" * 100_000
    cases = [
        (long, "characters"),
        ("{ " + "genres { id } " * 31 + "}", "repeats"),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " __typename" * 80 + " }", None),
    ]
    for query, figure in cases:
        r = await http.post("/graphql", json={"query": query})
        assert r.status_code == 400, r.text
        extensions = r.json()["errors"][0]["extensions"]
        assert figure is None or extensions["figure"] == figure


async def test_a_query_at_the_limits_runs(http: httpx.AsyncClient) -> None:
    aliases = "{ " + " ".join(f"g{i}: __typename" for i in range(30)) + " }"
    r = await http.post("/graphql", json={"query": aliases})
    assert r.status_code == 200 and r.json()["data"]["g29"] == "Query"


async def test_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from ncm.config import reset_settings
    from ncm.schema.schema import build_schema

    monkeypatch.setenv("NCM_GRAPHQL_MAX_COST", "10")
    monkeypatch.setenv("NCM_GRAPHQL_MAX_DEPTH", "1")
    reset_settings()
    try:
        schema = build_schema(production=False)
        result = await schema.execute("{ genres { slug } }")
        assert result.errors and result.errors[0].extensions["figure"] == "cost"
        result = await schema.execute("{ viewer { user { handle } } }")
        assert result.errors and result.errors[0].extensions["figure"] == "depth"
    finally:
        monkeypatch.undo()
        reset_settings()
