"""The plain-field fast path answers exactly what graphql-core's own execution answers."""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension

from ncm.schema.executor import NOT_PRIMED, PlainFieldExecutor, answered_by, plain_fields


@strawberry.enum
class Mood(enum.Enum):
    CALM = "calm"
    LOUD = "loud"


@strawberry.type
class Item:
    id: strawberry.ID
    title: str
    note: str | None
    plays: int
    mood: Mood
    at: datetime
    secret: strawberry.Private[str]

    @strawberry.field
    def shout(self) -> str:
        return self.title.upper()

    @strawberry.field
    def echo(self, text: str) -> str:
        return text


@strawberry.type
class Box:
    item: Item | None
    items: list[Item]


def _item(**changes: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID("i1"),
        "title": "Song",
        "note": None,
        "plays": 7,
        "mood": Mood.LOUD,
        "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "secret": "x",
    }
    values.update(changes)
    return Item(**values)


def _schemas(box: Callable[[], Box], *extensions: Any) -> tuple[strawberry.Schema, ...]:
    @strawberry.type
    class Query:
        @strawberry.field
        def box(self) -> Box:
            return box()

    plain = strawberry.Schema(Query, extensions=list(extensions))
    fast = strawberry.Schema(
        Query, extensions=list(extensions), execution_context_class=PlainFieldExecutor
    )
    return plain, fast


async def _both(box: Callable[[], Box], query: str, *extensions: Any) -> tuple[Any, Any]:
    plain, fast = _schemas(box, *extensions)
    a, b = await plain.execute(query), await fast.execute(query)
    return a, b


def _errors(result: Any) -> list[tuple[str, list[Any] | None]]:
    return [(e.message, e.path) for e in result.errors or []]


QUERY = """{ box { items { at mood b: plays shout id note title echo(text: "hi") plays }
  item { title } } }"""


async def test_same_data_and_field_order() -> None:
    plain, fast = await _both(lambda: Box(item=_item(), items=[_item(), _item(note="n")]), QUERY)
    assert fast.errors is None
    assert fast.data == plain.data
    first = fast.data["box"]["items"][0]
    assert list(first) == ["at", "mood", "b", "shout", "id", "note", "title", "echo", "plays"]
    assert first["mood"] == "LOUD" and first["at"] == "2026-01-02T03:04:05+00:00"
    assert first["echo"] == "hi" and first["shout"] == "SONG"


async def test_datetimes_are_written_as_graphql_core_writes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``DateTime`` leaves are written by ``ncm.kit.isotime`` on the fast path: the same text
    for naive, UTC, other-zone and local-mean-time values and for a datetime subclass."""
    from zoneinfo import ZoneInfo

    class Moment(datetime):
        pass

    moments = [
        datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5),
        datetime(1890, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("Asia/Shanghai")),
        datetime(2026, 7, 2, 3, 4, 5, tzinfo=ZoneInfo("America/St_Johns")),
        Moment(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    ]
    from ncm.schema import executor

    written: list[datetime] = []

    def spy(at: datetime) -> str:
        written.append(at)
        return isoformat(at)

    isoformat = executor.isoformat
    monkeypatch.setattr(executor, "isoformat", spy)
    box = Box(item=None, items=[_item(at=at) for at in moments])
    plain, fast = await _both(lambda: box, "{ box { items { at } } }")
    assert fast.errors is None and fast.data == plain.data
    assert written == moments[:4]  # the subclass went to the scalar's own
    assert [i["at"] for i in fast.data["box"]["items"]] == [at.isoformat() for at in moments]


async def test_null_on_a_non_null_field_is_the_same_error() -> None:
    plain, fast = await _both(lambda: Box(item=_item(title=None), items=[]), QUERY)
    assert fast.data == plain.data == {"box": {"items": [], "item": None}}
    assert _errors(fast) == _errors(plain)
    assert _errors(fast)[0][1] == ["box", "item", "title"]


async def test_a_value_that_does_not_coerce_is_the_same_error() -> None:
    plain, fast = await _both(lambda: Box(item=None, items=[_item(plays="many")]), QUERY)
    assert fast.data is None and plain.data is None
    assert _errors(fast) == _errors(plain)
    assert "Int cannot represent" in _errors(fast)[0][0]


def test_only_resolver_free_leaf_fields_take_the_fast_path() -> None:
    _, fast = _schemas(lambda: Box(item=None, items=[]))
    plans = plain_fields(fast._schema.get_type("Item"))  # type: ignore[arg-type]
    assert set(plans) == {"id", "title", "note", "plays", "mood", "at"}
    assert plain_fields(fast._schema.get_type("Box")) == {}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("box", "query", "fields"),
    [
        (
            Box(item=_item(), items=[]),
            "{ box { item { title plays } } }",
            ["item", "title", "plays"],
        ),
        (
            Box(item=None, items=[_item(), _item()]),
            "{ box { items { title } } }",
            ["items", "title", "title"],
        ),
    ],
)
async def test_an_extension_that_hooks_resolve_still_sees_every_field(
    box: Box, query: str, fields: list[str]
) -> None:
    """Objects and list items alike: the fast paths step aside for such an extension."""
    seen: list[str] = []

    class Spy(SchemaExtension):
        def resolve(
            self, _next: Callable[..., Any], root: Any, info: Any, *args: Any, **kwargs: Any
        ) -> Any:
            seen.append(info.field_name)
            return _next(root, info, *args, **kwargs)

    _, fast = _schemas(lambda: box, Spy)
    result = await fast.execute(query)
    assert result.errors is None
    assert seen == ["box", *fields]


@strawberry.type
class Shelf:
    """Lists the list shortcut completes (plain objects) and one it leaves alone (leaves)."""

    items: list[Item]
    maybe: list[Item | None] | None
    tags: list[str]

    @strawberry.field
    async def later(self) -> list[Item]:
        return list(self.items)

    @strawberry.field
    def boxed(self) -> tuple[Item, ...]:  # type: ignore[valid-type]
        return tuple(self.items)


def _shelf_schemas(shelf: Callable[[], Any]) -> tuple[strawberry.Schema, ...]:
    @strawberry.type
    class Query:
        @strawberry.field
        def shelf(self) -> Shelf:
            return shelf()

    plain = strawberry.Schema(Query)
    fast = strawberry.Schema(Query, execution_context_class=PlainFieldExecutor)
    return plain, fast


async def _shelves(shelf: Callable[[], Any], query: str) -> tuple[Any, Any]:
    plain, fast = _shelf_schemas(shelf)
    return await plain.execute(query), await fast.execute(query)


LIST_QUERY = """{ shelf { items { id mood title shout } maybe { title plays }
  later { at echo(text: "x") } boxed { note } tags } }"""


def _shelf(**changes: Any) -> Shelf:
    values: dict[str, Any] = {
        "items": [
            _item(id=strawberry.ID(f"i{n}"), mood=Mood(("calm", "loud")[n % 2])) for n in range(3)
        ],
        "maybe": [_item(), None, _item(title="B")],
        "tags": ["a", "b"],
    }
    values.update(changes)
    return Shelf(**values)


def _types_passed(monkeypatch: pytest.MonkeyPatch, method: str) -> list[str]:
    """Spy on a ``PlainFieldExecutor`` method whose first argument is a GraphQL type: the
    names of the types it is called with, in order."""
    seen: list[str] = []
    real = getattr(PlainFieldExecutor, method)

    def spy(self: PlainFieldExecutor, graphql_type: Any, *args: Any) -> Any:
        seen.append(graphql_type.name)
        return real(self, graphql_type, *args)

    monkeypatch.setattr(PlainFieldExecutor, method, spy)
    return seen


async def test_lists_of_plain_objects_answer_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    completed = _types_passed(monkeypatch, "complete_object_value")
    plain, fast = await _shelves(_shelf, LIST_QUERY)
    assert completed == ["Shelf"]  # each list's items completed by the shortcut
    assert fast.errors is None and plain.errors is None
    assert fast.data == plain.data
    shelf = fast.data["shelf"]
    assert [i["id"] for i in shelf["items"]] == ["i0", "i1", "i2"]
    assert [i["mood"] for i in shelf["items"]] == ["CALM", "LOUD", "CALM"]
    assert shelf["maybe"][1] is None and len(shelf["later"]) == len(shelf["boxed"]) == 3


async def test_list_items_in_error_are_the_same_errors() -> None:
    cases = [
        _shelf(items=[_item(), None]),  # a null item on a non-null item type
        _shelf(items=[_item(), _item(title=None)]),  # a null on an item's non-null field
        _shelf(maybe=[_item(title=None), None]),  # the same in a nullable item
        _shelf(items=[_item(), "not an item"]),  # not of the item type
        _shelf(maybe=[_item(plays="many")]),  # a value that does not coerce
        _shelf(maybe=[ValueError("item failed"), _item()]),  # an error as an item
    ]
    for case in cases:
        plain, fast = await _shelves(lambda case=case: case, LIST_QUERY)
        assert fast.data == plain.data
        assert _errors(fast) == _errors(plain) != []


def test_list_shortcut_takes_only_lists_of_plain_objects() -> None:
    from graphql import GraphQLNonNull, GraphQLObjectType

    from ncm.schema.executor import list_plan

    _, fast = _shelf_schemas(_shelf)
    shelf_type = fast._schema.get_type("Shelf")
    assert isinstance(shelf_type, GraphQLObjectType)

    def plan(name: str) -> Any:
        declared = shelf_type.fields[name].type
        return list_plan(declared.of_type if isinstance(declared, GraphQLNonNull) else declared)

    assert plan("tags") is None
    assert plan("items") is not None and plan("items").item_non_null
    assert plan("maybe") is not None and not plan("maybe").item_non_null


async def test_a_directive_on_a_list_field_takes_the_general_path() -> None:
    query = "{ shelf { items @include(if: true) { title } maybe @skip(if: true) { title } } }"
    plain, fast = await _shelves(_shelf, query)
    assert fast.errors is None and fast.data == plain.data
    assert "maybe" not in fast.data["shelf"] and len(fast.data["shelf"]["items"]) == 3


# --- shapes: objects whose whole selection is plain -----------------------------------------


@strawberry.type
class Person:
    handle: str
    score: float
    age: int
    mood: Mood


@strawberry.type
class Post:
    id: strawberry.ID
    title: str
    author: Person | None
    tags: list[Person]
    lead: Person


@strawberry.type
class Feed:
    posts: list[Post]


def _person(**changes: Any) -> Person:
    values: dict[str, Any] = {"handle": "ann", "score": 1.5, "age": 30, "mood": Mood.CALM}
    values.update(changes)
    return Person(**values)


def _post(**changes: Any) -> Post:
    values: dict[str, Any] = {
        "id": strawberry.ID("p1"),
        "title": "Hello",
        "author": _person(),
        "tags": [_person(handle="t1"), _person(handle="t2")],
        "lead": _person(handle="lead"),
    }
    values.update(changes)
    return Post(**values)


FEED = """query($with: Boolean!) { feed { posts { __typename id t: title
  author @include(if: $with) { handle score age mood } tags { handle h: handle }
  lead { __typename handle } } } }"""


def _root_schemas(
    name: str, value: Callable[[], Any], graphql_type: type
) -> tuple[strawberry.Schema, strawberry.Schema]:
    """graphql-core's and the fast path's schema of one root field ``name`` answering
    ``value()``."""
    field = strawberry.field(resolver=lambda: value(), graphql_type=graphql_type)
    query = strawberry.type(type("Query", (), {name: field}))
    return strawberry.Schema(query), strawberry.Schema(
        query, execution_context_class=PlainFieldExecutor
    )


def _feed_schemas(feed: Callable[[], Feed]) -> tuple[strawberry.Schema, strawberry.Schema]:
    return _root_schemas("feed", feed, Feed)


@pytest.mark.parametrize(
    "posts",
    [
        pytest.param(lambda: [_post(), _post(author=None)], id="plain"),
        pytest.param(lambda: [_post(author=_person(age=2**40))], id="int-past-32-bits"),
        pytest.param(lambda: [_post(), _post(lead=None)], id="null-on-non-null-object"),
        pytest.param(lambda: [_post(tags=[_person(), None])], id="null-list-item"),
        pytest.param(lambda: [_post(author=_person(score=float("inf")))], id="infinite-float"),
        pytest.param(lambda: [_post(author=_person(handle=5))], id="int-as-string"),
        pytest.param(lambda: [_post(author=_person(mood="sad"))], id="not-an-enum"),
        pytest.param(lambda: [_post(author=_item())], id="wrong-type"),
        pytest.param(lambda: [_post(tags=(_person(),))], id="tuple"),
    ],
)
@pytest.mark.parametrize("include", [True, False, None])
async def test_shapes_answer_what_graphql_core_answers(
    posts: Callable[[], list[Post]], include: bool | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data, errors and their paths are graphql-core's, whether the shape completes the
    object or drops it to graphql-core's path; with ``@include`` the shapes are made for the
    request and stepped through (``_run``), without a directive they are kept for the
    operation and run as generated functions (``include`` None)."""
    plain, fast = _feed_schemas(lambda: Feed(posts=posts()))
    shapes: list[tuple[str, bool]] = []
    real_shape = PlainFieldExecutor._shape

    def spy(self: PlainFieldExecutor, object_type: Any, details: Any) -> Any:
        shape = real_shape(self, object_type, details)
        shapes.append((object_type.name, shape is not None and shape.run is not None))
        return shape

    monkeypatch.setattr(PlainFieldExecutor, "_shape", spy)
    query, variables = (FEED, {"with": include}) if include is not None else (FEED_PLAIN, None)
    for _ in range(2):  # the second request reuses the operation's shapes
        a = await plain.execute(query, variable_values=variables)
        b = await fast.execute(query, variable_values=variables)
        assert b.data == a.data
        assert _errors(b) == _errors(a)
    assert ("Feed", include is None) in shapes  # a shape (generated when kept) for the feed


FEED_PLAIN = FEED.replace("query($with: Boolean!)", "").replace(" @include(if: $with)", "")
# The same selections through fragments, with the directive inside a fragment or none.
FRAGMENTS = """query($with: Boolean!) { ...F } fragment F on Query { feed { posts { ...P } } }
fragment P on Post { __typename id t: title author @include(if: $with) { ...A }
  tags { handle h: handle } lead { __typename handle } }
fragment A on Person { handle score age mood }"""
FRAGMENTS_PLAIN = FRAGMENTS.replace("query($with: Boolean!)", "query").replace(
    " @include(if: $with)", ""
)


@pytest.mark.parametrize("directive", [True, False])
async def test_fragments_answer_what_graphql_core_answers(directive: bool) -> None:
    """Selections in fragments (a directive inside one, or none) take the shapes too."""
    plain, fast = _feed_schemas(lambda: Feed(posts=[_post(), _post(author=None)]))
    query, variables = (FRAGMENTS, {"with": True}) if directive else (FRAGMENTS_PLAIN, None)
    for _ in range(2):
        a = await plain.execute(query, variable_values=variables)
        b = await fast.execute(query, variable_values=variables)
        assert b.errors is None and b.data == a.data
        assert b.data is not None and b.data["feed"]["posts"][0]["author"]["mood"] == "CALM"


async def test_a_plain_selection_is_executed_by_its_shape_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No field below the root goes through the field-by-field path once shapes apply: the
    feed's shape holds its posts', theirs their authors' and tags'."""
    _, fast = _feed_schemas(lambda: Feed(posts=[_post(), _post()]))
    parents = _types_passed(monkeypatch, "execute_fields")
    result = await fast.execute(FEED, variable_values={"with": True})
    assert result.errors is None
    assert result.data is not None
    assert result.data["feed"]["posts"][1]["author"]["mood"] == "CALM"
    assert parents == ["Query"]


# --- answered_by: resolvers a shape reads like attributes when their answer is at hand --------

CALLS: list[str] = []


def _primed(stand: Stand, part: str) -> Any:
    return stand.primed.get(part, NOT_PRIMED)


@strawberry.type
class Stand:
    name: str
    primed: strawberry.Private[dict[str, Any]]

    @strawberry.field
    @answered_by(lambda stand, context: _primed(stand, "lead"))
    def lead(self, info: strawberry.Info) -> Person | None:
        CALLS.append("lead")
        found = _primed(self, "lead")
        return _person(handle="resolved") if found is NOT_PRIMED else found

    @strawberry.field
    @answered_by(lambda stand, context: _primed(stand, "people"))
    def people(self, info: strawberry.Info) -> list[Person]:
        CALLS.append("people")
        found = _primed(self, "people")
        return [_person(handle="resolved")] if found is NOT_PRIMED else found


SHELVES = "{ shelves { name lead { handle age } people { handle mood } } }"


@pytest.mark.parametrize(
    ("primed", "calls"),
    [
        ({"lead": _person(handle="l"), "people": [_person(), _person(handle="p")]}, []),
        ({"lead": None, "people": []}, []),
        ({"people": [_person()]}, ["lead", "people"]),  # not primed: the resolvers run
        ({"lead": _person(age=2**40), "people": []}, ["lead", "people"]),  # an error
    ],
)
async def test_answered_by_reads_what_is_at_hand_and_resolves_the_rest(
    primed: dict[str, Any], calls: list[str]
) -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def shelves(self) -> list[Stand]:
            return [Stand(name="a", primed=primed), Stand(name="b", primed=primed)]

    plain = strawberry.Schema(Query)
    fast = strawberry.Schema(Query, execution_context_class=PlainFieldExecutor)
    expected = await plain.execute(SHELVES)
    CALLS.clear()
    got = await fast.execute(SHELVES)
    assert got.data == expected.data
    assert _errors(got) == _errors(expected)
    assert calls * 2 == CALLS  # each stand: no resolver call when its answers were at hand


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Singer(Named):
    age: int


@strawberry.type
class Band(Named):
    size: int


@strawberry.type
class Stage:
    acts: list[Singer]


async def test_a_cast_object_is_checked_even_when_its_class_was_accepted() -> None:
    """The generated functions remember the classes Strawberry's ``is_type_of`` accepted; an
    object cast to another type (``strawberry.cast``) is still checked, and refused as
    graphql-core refuses it."""
    acts: list[Singer] = [Singer(name="a", age=1)]

    @strawberry.type
    class Query:
        @strawberry.field
        def stage(self) -> Stage:
            return Stage(acts=acts)

    plain = strawberry.Schema(Query, types=[Band])
    fast = strawberry.Schema(Query, types=[Band], execution_context_class=PlainFieldExecutor)
    query = "{ stage { acts { name age } } }"
    for _ in range(2):  # the operation's shapes generated, Singer accepted
        assert (await fast.execute(query)).errors is None
    acts.append(strawberry.cast(Band, Singer(name="b", age=2)))
    a, b = await plain.execute(query), await fast.execute(query)
    assert b.data == a.data
    assert _errors(b) == _errors(a) and _errors(b)  # refused, at the same path


# --- unions: a member's shape, found by the value's class ------------------------------------


@strawberry.type
class Hit:
    rank: int
    found: Annotated[Post | Person, strawberry.union("Found")] | None


@strawberry.type
class Hits:
    hits: list[Hit]


class NotAType:
    handle = "nobody"


HITS = """query($with: Boolean!) { hits { hits { rank found { __typename
  ... on Post { id title lead { handle } } ... on Person { handle mood }
  ... on Person @include(if: $with) { age } } } } }"""
HITS_PLAIN = HITS.replace("query($with: Boolean!)", "query").replace(
    "\n  ... on Person @include(if: $with) { age }", ""
)


def _hits_schemas(hits: Callable[[], Hits]) -> tuple[strawberry.Schema, strawberry.Schema]:
    return _root_schemas("hits", hits, Hits)


class PersonSub(Person):
    """A subclass with its parent's Strawberry definition: Strawberry resolves it as Person."""


@pytest.mark.parametrize(
    "found",
    [
        pytest.param(lambda: [_post(), _person(), None], id="members"),
        pytest.param(lambda: [PersonSub(handle="s", score=1.0, age=3, mood=Mood.LOUD)], id="sub"),
        pytest.param(lambda: [_person(), NotAType()], id="no-member"),
        pytest.param(lambda: [_post(lead=None)], id="null-inside"),
        pytest.param(lambda: [strawberry.cast(Post, _person())], id="cast"),
        pytest.param(lambda: [_person(age=2**40)], id="bad-leaf"),
        pytest.param(lambda: [ValueError("boom")], id="error"),
    ],
)
@pytest.mark.parametrize("include", [True, False, None])
async def test_union_members_answer_what_graphql_core_answers(
    found: Callable[[], list[Any]], include: bool | None
) -> None:
    """Data, errors and their paths are graphql-core's, with the union completed by its
    member's shape (stepped with ``@include``, generated without) or by graphql-core."""
    plain, fast = _hits_schemas(
        lambda: Hits(hits=[Hit(rank=i, found=f) for i, f in enumerate(found())])
    )
    query, variables = (HITS, {"with": include}) if include is not None else (HITS_PLAIN, None)
    for _ in range(2):
        a = await plain.execute(query, variable_values=variables)
        b = await fast.execute(query, variable_values=variables)
        assert b.data == a.data
        assert _errors(b) == _errors(a)


async def test_a_union_of_plain_members_is_executed_by_shapes_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No object below the root takes the field-by-field path: the hit's shape holds the
    union's members' shapes, each found by the value's class."""
    _, fast = _hits_schemas(
        lambda: Hits(hits=[Hit(rank=0, found=_post()), Hit(rank=1, found=_person())])
    )
    parents = _types_passed(monkeypatch, "execute_fields")
    for _ in range(2):  # the shapes made by the first request, kept for the second
        result = await fast.execute(HITS_PLAIN)
        assert result.errors is None and result.data is not None
        first, second = (h["found"] for h in result.data["hits"]["hits"])
        assert first["__typename"] == "Post" and first["lead"] == {"handle": "lead"}
        assert second == {"__typename": "Person", "handle": "ann", "mood": "CALM"}
    assert parents == ["Query", "Query"]
