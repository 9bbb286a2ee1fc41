"""Lance SQL predicates built from typed values only: nothing is pasted into a filter unchecked."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9_.:/@| -]{1,200}$")


class StoreError(RuntimeError):
    """A write or read the store refuses; the message says which table and why."""


def sql_string(value: str) -> str:
    """A string literal for a filter; only identifier-like values are accepted."""
    if not isinstance(value, str) or not _SAFE_LITERAL.match(value):
        raise StoreError(f"refusing to filter on {value!r}: not a valid identifier")
    return "'" + value.replace("'", "''") + "'"


def sql_date(value: dt.date) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise StoreError(f"expected a date for a date filter, got {value!r}")
    return f"date '{value.isoformat()}'"


def sql_midnight(day: dt.date) -> str:
    """The UTC timestamp literal of `day`'s start."""
    sql_date(day)  # validates the type
    return f"timestamp '{day.isoformat()} 00:00:00+00:00'"


def in_list(column: str, values: Iterable[str]) -> str:
    literals = sorted({sql_string(v) for v in values})
    if not literals:
        raise StoreError(f"empty list of values to filter {column} on")
    return f"{column} IN ({', '.join(literals)})"


def day_range(column: str, start: dt.date | None, end: dt.date | None) -> list[str]:
    """Clauses for start <= column <= end on a date column (either bound optional)."""
    clauses = []
    if start is not None:
        clauses.append(f"{column} >= {sql_date(start)}")
    if end is not None:
        clauses.append(f"{column} <= {sql_date(end)}")
    return clauses


def all_of(clauses: Sequence[str]) -> str | None:
    return " AND ".join(clauses) or None


def stats_filter(
    metric_ids: Iterable[str] | None = None,
    source_window: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> str | None:
    """Stats of the metrics, in the window, with start <= period_end <= end."""
    clauses = []
    if metric_ids is not None:
        clauses.append(in_list("metric_id", metric_ids))
    if source_window is not None:
        clauses.append(f"source_window = {sql_string(source_window)}")
    return all_of([*clauses, *day_range("period_end", start, end)])


def mention_filter(
    products: Sequence[str] = (),
    sources: Sequence[str] = (),
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> str | None:
    """A predicate over the search table: any of the products, any of the sources, and
    start <= occurred_at's day <= end (UTC)."""
    clauses = []
    if products:
        clauses.append(
            "(" + " OR ".join(f"array_has(products, {sql_string(p)})" for p in products) + ")"
        )
    if sources:
        clauses.append(in_list("source", sources))
    if start is not None:
        clauses.append(f"occurred_at >= {sql_midnight(start)}")
    if end is not None:
        clauses.append(f"occurred_at < {sql_midnight(end + dt.timedelta(days=1))}")
    return all_of(clauses)
