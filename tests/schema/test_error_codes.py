"""Error codes: one enum per domain, collected into the GraphQL enum ``ErrorCode``."""

from __future__ import annotations

import ast
import sys
import types
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLError

import ncm.errors
from ncm.accounts import service as accounts
from ncm.accounts.errors import AccountsErrorCode
from ncm.catalog.errors import CatalogErrorCode
from ncm.comments.errors import CommentsErrorCode
from ncm.errors import BadCredentials, ErrorCode, NcmError, all_error_codes, error_code_enums
from ncm.playlists.errors import PlaylistsErrorCode
from ncm.schema.schema import get_schema
from ncm.stream.errors import StreamErrorCode

NCM = Path(ncm.errors.__file__).parent
REFRESH = """mutation($t: String!) { refreshSession(refreshToken: $t) {
  __typename ... on Error { code message } } }"""


def graphql_enum() -> GraphQLEnumType:
    found = get_schema()._schema.type_map["ErrorCode"]
    assert isinstance(found, GraphQLEnumType)
    return found


def test_every_enum_is_collected_into_the_graphql_enum() -> None:
    enums = error_code_enums()
    for enum in (
        ErrorCode,
        AccountsErrorCode,
        CatalogErrorCode,
        PlaylistsErrorCode,
        CommentsErrorCode,
        StreamErrorCode,
    ):
        assert enum in enums
    values = set(graphql_enum().values)
    assert values == {member.value for enum in enums for member in enum}
    assert values == set(all_error_codes().values())


def test_a_new_domains_enum_is_found_without_being_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = types.ModuleType("ncm.newdomain.errors")

    class NewdomainErrorCode(StrEnum):
        BRAND_NEW = "BRAND_NEW"

    NewdomainErrorCode.__module__ = module.__name__
    module.NewdomainErrorCode = NewdomainErrorCode  # type: ignore[attr-defined]
    module.ErrorCode = ErrorCode  # type: ignore[attr-defined]  # imported: not its own
    monkeypatch.setitem(sys.modules, "ncm.newdomain", types.ModuleType("ncm.newdomain"))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(ncm.errors, "DOMAINS", [*ncm.errors.DOMAINS, "newdomain"])
    enums = error_code_enums()
    assert NewdomainErrorCode in enums and enums.count(ErrorCode) == 1
    assert all_error_codes()["BRAND_NEW"] == "BRAND_NEW"


def test_one_name_in_two_enums_must_be_one_code() -> None:
    class A(StrEnum):
        TAKEN = "TAKEN"

    class B(StrEnum):
        TAKEN = "TAKEN"
        OTHER = "OTHER"

    class C(StrEnum):
        TAKEN = "ALREADY_TAKEN"

    assert all_error_codes([A, B]) == {"TAKEN": "TAKEN", "OTHER": "OTHER"}
    with pytest.raises(TypeError, match=r"C\.TAKEN = 'ALREADY_TAKEN' but .*A\.TAKEN = 'TAKEN'"):
        all_error_codes([A, B, C])


def test_members_and_plain_strings_serialize_and_unknown_codes_fail() -> None:
    enum = graphql_enum()
    assert enum.coerce_output_value(AccountsErrorCode.EMAIL_TAKEN) == "EMAIL_TAKEN"
    assert enum.coerce_output_value("EMAIL_TAKEN") == "EMAIL_TAKEN"
    assert enum.coerce_output_value(ErrorCode.INVALID_ID) == "INVALID_ID"
    with pytest.raises(GraphQLError, match="cannot represent"):
        enum.coerce_output_value("NO_SUCH_CODE")


@pytest.mark.parametrize("code", [ErrorCode.BAD_CREDENTIALS, "BAD_CREDENTIALS"])
async def test_a_mutation_error_code_is_the_enum_either_way(
    gql: Any, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    async def refuse(token: str) -> Any:
        error = BadCredentials()
        error.code = code
        raise error

    monkeypatch.setattr(accounts, "refresh", refuse)
    body = await gql(REFRESH, {"t": "x"})
    assert body["data"]["refreshSession"]["code"] == "BAD_CREDENTIALS"
    assert type(body["data"]["refreshSession"]["code"]) is str


async def test_an_undeclared_code_fails_the_response_loudly(
    gql: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(token: str) -> Any:
        error = BadCredentials()
        error.code = "NO_SUCH_CODE"
        raise error

    monkeypatch.setattr(accounts, "refresh", refuse)
    body = await gql(REFRESH, {"t": "x"}, expect_errors=True)
    assert body["data"] is None
    [error] = body["errors"]
    assert (error["path"], error["extensions"]["code"]) == (
        ["refreshSession"],
        "INTERNAL_SERVER_ERROR",
    )


async def test_top_level_error_codes_stay_strings(gql: Any) -> None:
    body = await gql("mutation { logoutEverywhere { sessionsEnded } }", expect_errors=True)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _imported_modules() -> None:
    import importlib

    for path in NCM.rglob("*.py"):
        name = ".".join(path.relative_to(NCM.parent).with_suffix("").parts)
        if name.endswith("__main__"):
            continue
        importlib.import_module(name.removesuffix(".__init__"))


def _subclasses(cls: type[NcmError]) -> list[type[NcmError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@pytest.mark.backend_independent
def test_every_code_raised_anywhere_is_declared() -> None:
    """A class-level ``code`` or a literal ``code="..."`` that no enum declares would fail
    the GraphQL response at run time: catch it here."""
    declared = set(all_error_codes().values())
    _imported_modules()
    for cls in [NcmError, *_subclasses(NcmError)]:
        assert cls.code in declared, f"{cls.__module__}.{cls.__qualname__}.code = {cls.code!r}"
    literals = []
    for path in NCM.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "code":
                value = node.value
            elif isinstance(node, ast.Assign):
                named = any(isinstance(t, ast.Name) and t.id == "code" for t in node.targets)
                value = node.value if named else None
            elif isinstance(node, ast.AnnAssign):
                named = isinstance(node.target, ast.Name) and node.target.id == "code"
                value = node.value if named else None
            else:
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                literals.append((path, value.lineno, value.value))
    undeclared = [f"{p}:{line}: {code}" for p, line, code in literals if code not in declared]
    allowed = {"INTERNAL_SERVER_ERROR"}  # top-level only (ncm/schema/extensions.py)
    assert [u for u in undeclared if u.rsplit(": ", 1)[1] not in allowed] == []
