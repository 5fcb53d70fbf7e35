"""CQL2 filters (parsed by pygeofilter) as SQL for PostGIS, with every value bound as a parameter.

pygeofilter's own SQL backend formats literals into the text; this evaluator composes the statement with
psycopg.sql (identifiers checked against the layer's fields) and returns the values separately, so nothing
from a request is ever part of the SQL text. It covers what the GeoPackage store evaluates (pygeofilter's
geopandas backend): logic, comparisons, BETWEEN, LIKE, IN, IS NULL, arithmetic, the spatial predicates, BBOX
and the CASEI and ACCENTI functions (`prepare` readies a parsed filter for both stores); anything else is a
FilterError, which the provider answers as a bad query (400).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields, is_dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import shapely
import shapely.geometry
from psycopg import sql
from pygeofilter import ast, values
from pygeofilter.backends.evaluator import Evaluator, handle

from geo.errors import WarehouseError
from geo.names import strip_accents

COMPARISON = {
    ast.ComparisonOp.EQ: "=",
    ast.ComparisonOp.NE: "<>",
    ast.ComparisonOp.LT: "<",
    ast.ComparisonOp.LE: "<=",
    ast.ComparisonOp.GT: ">",
    ast.ComparisonOp.GE: ">=",
}
ARITHMETIC = {
    ast.ArithmeticOp.ADD: "+",
    ast.ArithmeticOp.SUB: "-",
    ast.ArithmeticOp.MUL: "*",
    ast.ArithmeticOp.DIV: "/",
}
SPATIAL = {
    ast.SpatialComparisonOp.INTERSECTS: "ST_Intersects",
    ast.SpatialComparisonOp.DISJOINT: "ST_Disjoint",
    ast.SpatialComparisonOp.CONTAINS: "ST_Contains",
    ast.SpatialComparisonOp.WITHIN: "ST_Within",
    ast.SpatialComparisonOp.TOUCHES: "ST_Touches",
    ast.SpatialComparisonOp.CROSSES: "ST_Crosses",
    ast.SpatialComparisonOp.OVERLAPS: "ST_Overlaps",
    ast.SpatialComparisonOp.EQUALS: "ST_Equals",
}
GEOMETRY_NAMES = ("geometry", "geom")  # what a filter may call the geometry (the GeoPackage store says "geometry")


class FilterError(WarehouseError):
    """A CQL2 filter the store cannot evaluate (unknown field, unsupported operator)."""


# CQL2's text functions (pygeofilter's parser names CASEI "lower"), on a value or on a pandas Series
def _lower(value: Any) -> Any:
    return value.astype("string").str.lower() if isinstance(value, pd.Series) else str(value).lower()


def _accenti(value: Any) -> Any:
    if isinstance(value, pd.Series):  # any property as text, as SQL's ::text does; missing values stay missing
        return value.astype("string").map(strip_accents, na_action="ignore")
    return strip_accents(str(value))


TEXT_FUNCTIONS: dict[str, Callable[[Any], Any]] = {"lower": _lower, "casei": _lower, "accenti": _accenti}
# every accented Latin letter and its plain one, for ACCENTI in SQL with translate() (no extension needed)
_ACCENTED = "".join(
    ch
    for ch in map(chr, range(0xC0, 0x1F00))
    if ch.isalpha() and strip_accents(ch) != ch and len(strip_accents(ch)) == 1 and strip_accents(ch).isascii()
)
_PLAIN = "".join(strip_accents(ch) for ch in _ACCENTED)


def prepare(node: Any) -> Any:
    """A parsed filter ready for either store: CASEI and ACCENTI of literals computed (so a LIKE pattern is plain
    text again), the functions' names lower-case; any other function is a FilterError naming it."""
    if isinstance(node, ast.Function):
        name = node.name.lower()
        if name not in TEXT_FUNCTIONS:
            raise FilterError(f"filter: function {node.name}() is not supported (CASEI and ACCENTI are)")
        arguments = [prepare(a) for a in node.arguments]
        if len(arguments) != 1:
            raise FilterError(f"filter: {name.upper()} takes one argument, not {len(arguments)}")
        if isinstance(arguments[0], str):
            return TEXT_FUNCTIONS[name](arguments[0])
        return ast.Function("lower" if name == "casei" else name, arguments)
    if isinstance(node, ast.Like):
        pattern = prepare(node.pattern)
        if not isinstance(pattern, str):
            raise FilterError("filter: LIKE needs a text pattern")
        return replace(node, lhs=prepare(node.lhs), pattern=pattern)
    if isinstance(node, list):
        return [prepare(n) for n in node]
    if isinstance(node, ast.Node) and is_dataclass(node) and not isinstance(node, type):
        return replace(node, **{f.name: prepare(getattr(node, f.name)) for f in fields(node)})
    return node


Fragment = tuple[sql.Composable, list[Any]]


def _join(parts: list[Fragment], separator: str, wrap: str = "({})") -> Fragment:
    text = sql.SQL(separator).join(p[0] for p in parts)
    params = [v for p in parts for v in p[1]]
    return sql.SQL(wrap).format(text), params


class _SqlEvaluator(Evaluator):
    """pygeofilter AST → (psycopg composable, parameters)."""

    def __init__(self, fields: dict[str, str], geometry: str | None) -> None:
        self.fields = fields
        self.geometry = geometry

    @handle(ast.Not)
    def not_(self, node: ast.Not, sub: Fragment) -> Fragment:
        return _join([sub], "", "(NOT {})")

    @handle(ast.And, ast.Or)
    def combination(self, node: ast.Combination, lhs: Fragment, rhs: Fragment) -> Fragment:
        return _join([lhs, rhs], f" {node.op.value} ")

    @handle(ast.Comparison, subclasses=True)
    def comparison(self, node: ast.Comparison, lhs: Fragment, rhs: Fragment) -> Fragment:
        return _join([lhs, rhs], f" {COMPARISON[node.op]} ")

    @handle(ast.Between)
    def between(self, node: ast.Between, lhs: Fragment, low: Fragment, high: Fragment) -> Fragment:
        text = sql.SQL("({} NOT BETWEEN {} AND {})" if node.not_ else "({} BETWEEN {} AND {})")
        return text.format(lhs[0], low[0], high[0]), lhs[1] + low[1] + high[1]

    @handle(ast.Like)
    def like(self, node: ast.Like, lhs: Fragment) -> Fragment:
        pattern = str(node.pattern)
        escape = node.escapechar or "\\"
        out = []
        i = 0
        while i < len(pattern):  # the filter's wildcards as SQL's, its escapes kept, SQL's own characters escaped
            ch = pattern[i]
            if ch == escape and i + 1 < len(pattern):
                out.append("\\" + pattern[i + 1])
                i += 2
                continue
            if ch == node.wildcard:
                out.append("%")
            elif ch == node.singlechar:
                out.append("_")
            elif ch in "%_\\":
                out.append("\\" + ch)
            else:
                out.append(ch)
            i += 1
        operator = ("NOT " if node.not_ else "") + ("ILIKE" if node.nocase else "LIKE")
        text = sql.SQL("({}::text {} %s ESCAPE '\\')").format(lhs[0], sql.SQL(operator))
        return text, [*lhs[1], "".join(out)]

    @handle(ast.In)
    def in_(self, node: ast.In, lhs: Fragment, *options: Fragment) -> Fragment:
        inside = _join(list(options), ", ", "{}")
        word = " NOT IN " if node.not_ else " IN "
        return sql.SQL("({}" + word + "({}))").format(lhs[0], inside[0]), lhs[1] + inside[1]

    @handle(ast.IsNull)
    def null(self, node: ast.IsNull, lhs: Fragment) -> Fragment:
        return _join([lhs], "", "({} IS NOT NULL)" if node.not_ else "({} IS NULL)")

    @handle(ast.SpatialComparisonPredicate, subclasses=True)
    def spatial(self, node: ast.SpatialComparisonPredicate, lhs: Fragment, rhs: Fragment) -> Fragment:
        return sql.SQL(SPATIAL[node.op] + "({}, {})").format(lhs[0], rhs[0]), lhs[1] + rhs[1]

    @handle(ast.BBox)
    def bbox(self, node: ast.BBox, lhs: Fragment) -> Fragment:
        box = sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
        return sql.SQL("ST_Intersects({}, {})").format(lhs[0], box), [
            *lhs[1],
            float(node.minx),
            float(node.miny),
            float(node.maxx),
            float(node.maxy),
        ]

    @handle(ast.Function)
    def function(self, node: ast.Function, argument: Fragment) -> Fragment:
        if node.name == "lower":
            return _join([argument], "", "lower({}::text)")
        if node.name == "accenti":
            return sql.SQL("translate({}::text, %s, %s)").format(argument[0]), [*argument[1], _ACCENTED, _PLAIN]
        raise FilterError(f"filter: function {node.name}() is not supported (CASEI and ACCENTI are)")

    @handle(ast.Attribute)
    def attribute(self, node: ast.Attribute) -> Fragment:
        if node.name in self.fields:
            return sql.Identifier(node.name), []
        if node.name in GEOMETRY_NAMES and self.geometry:
            return sql.Identifier(self.geometry), []
        raise FilterError(f"filter: no field {node.name!r} (fields: {', '.join(sorted(self.fields))})")

    @handle(ast.Arithmetic, subclasses=True)
    def arithmetic(self, node: ast.Arithmetic, lhs: Fragment, rhs: Fragment) -> Fragment:
        return _join([lhs, rhs], f" {ARITHMETIC[node.op]} ")

    @handle(values.Geometry)
    def geometry_value(self, node: values.Geometry) -> Fragment:
        shape = shapely.geometry.shape(node.geometry)
        return sql.SQL("ST_GeomFromText(%s, 4326)"), [shapely.to_wkt(shape)]

    @handle(values.Envelope)
    def envelope(self, node: values.Envelope) -> Fragment:
        return sql.SQL("ST_MakeEnvelope(%s, %s, %s, %s, 4326)"), [
            float(node.x1),
            float(node.y1),
            float(node.x2),
            float(node.y2),
        ]

    @handle(*values.LITERALS)
    def literal(self, node: Any) -> Fragment:
        if isinstance(node, timedelta):
            raise FilterError("filter: durations are not supported")
        if isinstance(node, bool | int | float | str | date | datetime | time):
            return sql.SQL("%s"), [node]
        raise FilterError(f"filter: unsupported value {json.dumps(str(node))}")

    def adopt(self, node: Any, *sub_args: Any) -> Any:
        """Anything without a handler (temporal predicates, functions, arrays) is refused by name."""
        raise FilterError(f"filter: {type(node).__name__} is not supported on this store")


def where(node: Any, fields: dict[str, str], geometry: str | None) -> Fragment:
    """The SQL condition of a parsed CQL2 filter and its bound parameters (FilterError when it cannot be)."""
    try:
        result: Fragment = _SqlEvaluator(fields, geometry).evaluate(node)
    except FilterError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise FilterError(f"filter cannot be applied: {exc}") from exc
    return result
