"""SQL functions that each database spells its own way, written once here.

The queries elsewhere use these constructs; SQLAlchemy compiles each for the
database of the connection that runs it (SQLite or PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction, ReturnTypeFromArgs
from sqlalchemy.types import Integer, String


class month_of(GenericFunction):  # noqa: N801 - an SQL function, named as one
    """Return the "YYYY-MM" of a stored UTC date (``counts.month_key`` in SQL)."""

    type = String()
    inherit_cache = True


@compiles(month_of, "sqlite")
def _month_of_sqlite(element: month_of, compiler: SQLCompiler, **kw) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)})"


@compiles(month_of, "postgresql")
def _month_of_postgresql(element: month_of, compiler: SQLCompiler, **kw) -> str:
    return f"to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM')"


class greatest(ReturnTypeFromArgs):  # noqa: N801 - an SQL function, named as one
    """Return the largest of its arguments (not an aggregate)."""

    inherit_cache = True


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw) -> str:
    # SQLite's max() with two or more arguments is the scalar maximum.
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "postgresql")
def _greatest_postgresql(element: greatest, compiler: SQLCompiler, **kw) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


class byte_length(GenericFunction):  # noqa: N801 - an SQL function, named as one
    """Return the length of a text in bytes of UTF-8, not in characters."""

    type = Integer()
    inherit_cache = True


@compiles(byte_length, "sqlite")
def _byte_length_sqlite(element: byte_length, compiler: SQLCompiler, **kw) -> str:
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"


@compiles(byte_length, "postgresql")
def _byte_length_postgresql(element: byte_length, compiler: SQLCompiler, **kw) -> str:
    return f"octet_length({compiler.process(element.clauses, **kw)})"
