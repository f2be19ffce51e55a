"""``ModelView``: a type's fields are listed once and filled from the model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType

from ncm.accounts.service import Profile
from ncm.schema.accounts.types import User
from ncm.schema.base import ModelView, Node, from_global_id
from ncm.schema.executor import plain_fields
from ncm.schema.schema import get_schema

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@strawberry.type
class Song(Node, ModelView):
    pk: strawberry.Private[int]
    album_pk: strawberry.Private[int | None]
    title: str
    plays: int
    loud: bool


@dataclass
class SongRow:
    id: int
    album_id: int | None
    title: str
    plays: int


def test_fields_come_from_the_model_once() -> None:
    song = Song.copy_from(SongRow(7, 3, "Hello", 12), loud=True)
    assert from_global_id(song.id) == ("Song", 7)
    assert (song.pk, song.album_pk, song.title, song.plays, song.loud) == (7, 3, "Hello", 12, True)
    given = Song.copy_from(SongRow(7, None, "Hello", 12), title="Other", loud=False)
    assert (given.title, given.album_pk) == ("Other", None)


@strawberry.type
class Box(ModelView):
    model: strawberry.Private[object]
    size: int


def test_any_field_name_may_be_given_even_model() -> None:
    row = SongRow(1, None, "x", 4)
    box = Box.copy_from(row, model=row, size=2)
    assert (box.model, box.size) == (row, 2)
    assert Box.builder("model", "size")(row, model=None, size=3).size == 3


def test_a_field_the_model_lacks_must_be_given() -> None:
    with pytest.raises(AttributeError, match="loud"):
        Song.from_model(SongRow(7, 3, "Hello", 12))


def test_a_view_is_the_same_object_as_one_built_by_hand() -> None:
    public: dict[str, Any] = {
        "handle": "ann",
        "display_name": "Ann",
        "avatar_url": None,
        "follower_count": 1,
        "following_count": 2,
        "created_at": NOW,
    }
    by_hand = User(id=strawberry.ID("VXNlcjoz"), pk=3, **public)
    assert vars(User.from_model(Profile(id=3, **public))) == vars(by_hand)


@strawberry.type
class Settled(ModelView):
    """A view whose dataclass ``__init__`` does more than assign: the builder calls it."""

    title: str
    seen: list[str] = strawberry.field(default_factory=list)

    def __post_init__(self) -> None:
        self.seen.append("init")


def test_views_built_without_init_are_the_same_objects() -> None:
    """Where the dataclass's ``__init__`` only assigns (the common view), the builder fills
    the instance directly; its attributes, their order and its equality are the init's.
    A view whose init does more (``__post_init__``, a default factory) keeps the call."""
    from ncm.schema.base import _plain_init

    assert _plain_init(User) and _plain_init(Song)
    song = Song.copy_from(SongRow(7, 3, "Hello", 12), loud=True)
    by_init = Song(id=song.id, pk=7, album_pk=3, title="Hello", plays=12, loud=True)
    assert song == by_init and list(vars(song)) == list(vars(by_init))
    titled = Song.copy_from(SongRow(7, 3, "Hello", 12), title="Other", loud=True)  # given mid-way
    by_init = Song(id=song.id, pk=7, album_pk=3, title="Other", plays=12, loud=True)
    assert titled == by_init and list(vars(titled)) == list(vars(by_init))
    assert not _plain_init(Settled)
    assert Settled.copy_from(SongRow(1, None, "x", 4), seen=[]).seen == ["init"]


@pytest.mark.parametrize(
    ("type_name", "plain"),
    [
        ("User", {"id", "handle", "displayName", "avatarUrl", "followerCount", "createdAt"}),
        ("Comment", {"id", "body", "deleted", "hidden", "likeCount", "replyCount", "createdAt"}),
        ("Track", {"id", "title", "durationMs", "feePolicy", "status", "playCount"}),
        ("Playlist", {"id", "title", "privacy", "version", "deletedAt"}),
    ],
)
def test_views_keep_the_executors_plain_field_fast_path(type_name: str, plain: set[str]) -> None:
    graphql_type = get_schema()._schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    fast = set(plain_fields(graphql_type))
    assert plain <= fast
    assert "author" not in fast and "replies" not in fast
