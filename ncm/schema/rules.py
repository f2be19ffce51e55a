"""Validation rules of our own, run once per distinct document (``ValidationCache``)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, StringValueNode, ValidationRule


class NoNulInStrings(ValidationRule):
    """A NUL character in a string literal is refused: no text column can hold one (in
    variables, ``ncm.schema.view.prepared_variables`` removes them instead)."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if "\x00" in node.value:
            self.report_error(GraphQLError("Text may not contain NUL characters.", node))
