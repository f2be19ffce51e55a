"""What a value must be for the database to take it: text columns, lengths and id bounds.

Checked at the edge (the schema's scalars, the CLI, the importer) so that bad input is an
input error, never a database error.
"""

from __future__ import annotations

from tortoise.models import Model

BIGINT_MAX = 2**63 - 1  # the largest id (or any BIGINT) a query can bind


def max_length(model: type[Model], field: str) -> int:
    """A CharField's length, to refuse a longer value before the database (or the ORM's own
    validation) does: a lookup with it can only miss."""
    length: int = model._meta.fields_map[field].max_length  # type: ignore[attr-defined]
    return length


def valid_unicode(value: str) -> bool:
    """No unpaired surrogate (a non-UTF-8 command line or an escaped JSON string can carry
    one): the string can be encoded for the database at all."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable_text(value: str) -> bool:
    """Whether a text column can hold the string: valid Unicode and no NUL."""
    return valid_unicode(value) and "\x00" not in value
