"""Full history from ClickHouse's public read-only SQL endpoints. Plain Python: no Dagster.

Two archives, one query each per run for the whole catalog (../shared/docs/sources.md):
- ClickPy: PyPI downloads per day since 2016, by version and installer, from the same
  BigQuery log pypistats reads; mirrors are the installers pypistats calls mirrors.
- GitHub events (GH Archive): every star given (WatchEvent, action 'started') since 2011,
  under the name the repository had then.

Names, dates and the row limit are query parameters (`{name:Type}`, sent as `param_name=`),
never text in the SQL. No session settings are sent (the public users are read-only): dates
are taken in UTC in the SQL itself (`toDate(created_at, 'UTC')`), and the result is bounded by
a LIMIT one row above the most the question can have, so a bigger answer is an error rather
than silently cut. Quota and overload answers (429, 503, and ClickHouse's codes in a 500 body)
are retried within the source's budget, then raised as one line saying what to do.

Rows come newest day first with the coverage canary last within each day, so an answer cut
short by a server-side row cap (the public endpoints may cap results) ends with whole days:
the canary's coverage stops where the data stops, and a cut day reads as missing, not 0.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from community_metrics.sources.downloads import response_count, response_day
from community_metrics.sources.http import HttpSource, MalformedResponse, RateLimit, SourceError

# ClickHouse error codes worth a retry: the server is busy or this user's quota is spent.
RETRY_CODES = {
    159: "TIMEOUT_EXCEEDED",
    201: "QUOTA_EXCEEDED",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES",
    241: "MEMORY_LIMIT_EXCEEDED",
}
CLICKHOUSE_LIMIT = RateLimit(per_second=1)  # one query per run: a guard, not a pace
CODE_RE = re.compile(r"Code: (\d+)\.")
NAME_RE = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")

# pypistats' mirrors (its own MIRRORS tuple), compared lower-cased: the archive's case of the
# installer names is not documented.
MIRROR_INSTALLERS = ("bandersnatch", "z3c.pypimirror", "artifactory", "devpi")
CLICKPY_TABLE = "pypi.pypi_downloads_per_day_by_version_by_installer_by_type"
CLICKPY_FIRST_DAY = dt.date(2016, 1, 1)
GHARCHIVE_FIRST_DAY = dt.date(2011, 2, 12)

CLICKPY_SQL = f"""
SELECT project, date, sum(count) AS with_mirrors,
       sumIf(count, lower(installer) NOT IN {{mirrors:Array(String)}}) AS without_mirrors
FROM {CLICKPY_TABLE}
WHERE project IN {{projects:Array(String)}}
  AND date >= {{start:Date}} AND date <= {{end:Date}}
GROUP BY project, date
ORDER BY date DESC, project = {{canary:String}}, project
LIMIT {{limit:UInt64}}
"""

GHARCHIVE_SQL = """
SELECT repo_name, toDate(created_at, 'UTC') AS day, count() AS stars
FROM {table:Identifier}
WHERE event_type = 'WatchEvent' AND action = 'started' AND repo_name IN {repos:Array(String)}
GROUP BY repo_name, day
ORDER BY day DESC, repo_name = {canary:String}, repo_name
LIMIT {limit:UInt64}
"""


def normalize_project(name: str) -> str:
    """PEP 503's normal form, the archive's spelling of a project (as pypistats lower-cases)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def param_value(value: Any) -> str:
    """A value in ClickHouse's escaped text format, as `param_<name>` takes it."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        raise TypeError("no boolean parameters")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    if isinstance(value, list | tuple):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    raise TypeError(f"unsupported parameter {value!r}")


def _literal(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"array parameters hold strings, not {value!r}")
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + escaped.replace("\t", "\\t").replace("\n", "\\n") + "'"


def _error(response: httpx.Response) -> tuple[int | None, str]:
    """ClickHouse's error code and name from a failed answer (header first, then body)."""
    text = response.text[:2000]
    header = response.headers.get("x-clickhouse-exception-code", "")
    code = int(header) if header.isdigit() else None
    if code is None and (match := CODE_RE.search(text)):
        code = int(match.group(1))
    names = NAME_RE.findall(text)
    return code, (RETRY_CODES.get(code) or (names[0] if names else f"HTTP {response.status_code}"))


class ClickHouse:
    """One ClickHouse HTTP endpoint: a SELECT with parameters in, rows as dicts out."""

    def __init__(self, http: HttpSource, user: str, setting: str):
        self.http = http
        self.user = user
        self.setting = setting  # the variable that points here, for error messages
        self.last_refusal: str | None = None  # the last retried answer, for the final error
        http.retry_if = self.retryable

    def retryable(self, response: httpx.Response) -> bool:
        """429 and 503 (and a proxy's 502, 504) always; a 500 only for quota, load and
        time-out codes: another 500 is a query the server will refuse again."""
        code, name = _error(response)
        if response.status_code in (429, 502, 503, 504) or code in RETRY_CODES:
            self.last_refusal = name + (f" (code {code})" if code is not None else "")
            return True
        return False

    def select(
        self, sql: str, params: Mapping[str, Any], columns: Sequence[str], limit: int
    ) -> list[dict]:
        """Rows of a SELECT returning `columns`, at most `limit`; more is an error."""
        query = {"user": self.user, "default_format": "JSONEachRow"}
        query.update({f"param_{k}": param_value(v) for k, v in params.items()})
        query["param_limit"] = str(limit + 1)
        where = self.http.url("/")
        try:
            response = self.http.request(
                "POST", "/", params=query, content=sql.strip().encode(), headers={}
            )
        except SourceError as exc:
            refused = f" ({self.last_refusal})" if self.last_refusal else ""
            raise SourceError(f"{exc}{refused}; {self._advice()}") from exc
        if response.status_code != 200:
            code, name = _error(response)
            what = "quota or load limit" if code in RETRY_CODES else "error"
            raise SourceError(
                f"{self.http.name}: {where} answered {name}"
                + (f" (code {code})" if code is not None else "")
                + f", its {what}; {self._advice()}"
            )
        rows = []
        for number, line in enumerate(response.text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise MalformedResponse(
                    f"{self.http.name}: line {number} of the answer is not JSON: {line[:120]!r}"
                ) from None
            if not isinstance(row, dict) or set(row) != set(columns):
                raise MalformedResponse(
                    f"{self.http.name}: line {number} has columns {sorted(row)!r}, "
                    f"expected {sorted(columns)!r}"
                    if isinstance(row, dict)
                    else f"{self.http.name}: line {number} is not an object"
                )
            rows.append(row)
        if len(rows) > limit:
            raise SourceError(
                f"{self.http.name}: the answer has more than the {limit} rows the question "
                "allows (one per name and day); nothing was used"
            )
        return rows

    def _advice(self) -> str:
        return (
            "the affected weeks stay missing; try again later, point "
            f"{self.setting} at another ClickHouse server, or set it empty to turn it off"
        )


def count(value: Any, source: str) -> int:
    """A count from JSON: 64-bit integers come quoted from servers before 25.8."""
    return response_count(
        int(value) if isinstance(value, str) and value.isdigit() else value, source
    )


@dataclass
class ArchiveDays:
    """One query's answer: per name, per day, the counts; and the canary's days."""

    rows: dict[str, dict[dt.date, Any]] = field(default_factory=dict)
    canary: dict[dt.date, int] = field(default_factory=dict)

    @property
    def last_day(self) -> dt.date | None:
        """The latest day the archive holds (the canary's latest day with data)."""
        return max(self.canary) if self.canary else None


class ClickPy:
    """PyPI downloads per project and day, with and without pypistats' mirrors."""

    def __init__(self, clickhouse: ClickHouse, canary: str | None):
        self.clickhouse = clickhouse
        self.canary = normalize_project(canary) if canary else None

    def daily(self, projects: Iterable[str], start: dt.date, end: dt.date) -> ArchiveDays:
        """{project: {day: (with_mirrors, without_mirrors)}} for days with any download, and
        the canary's days (with mirrors): one query."""
        names = sorted({normalize_project(p) for p in projects})
        asked = names + ([self.canary] if self.canary and self.canary not in names else [])
        start = max(start, CLICKPY_FIRST_DAY)
        out = ArchiveDays(rows={n: {} for n in names})
        if start > end or not asked:
            return out
        limit = len(asked) * ((end - start).days + 1)
        rows = self.clickhouse.select(
            CLICKPY_SQL,
            {
                "mirrors": list(MIRROR_INSTALLERS),
                "projects": asked,
                "start": start,
                "end": end,
                "canary": self.canary or "",
            },
            ("project", "date", "with_mirrors", "without_mirrors"),
            limit,
        )
        source = self.clickhouse.http.name
        for row in rows:
            name, on = row["project"], response_day(row["date"], source)
            both = (count(row["with_mirrors"], source), count(row["without_mirrors"], source))
            if both[1] > both[0]:
                raise MalformedResponse(f"{source}: {name} {on}: without mirrors > with mirrors")
            if name == self.canary:
                out.canary[on] = both[0]
            if name in out.rows:
                out.rows[name][on] = both
            elif name != self.canary:
                raise MalformedResponse(f"{source}: a row for {name!r}, which was not asked for")
        return out


class GHArchive:
    """Stars given per repository and day (UTC), under every name it was recorded with."""

    def __init__(self, clickhouse: ClickHouse, table: str, canary: str | None):
        self.clickhouse = clickhouse
        self.table = table
        self.canary = canary

    def daily(self, repos: Iterable[str], today: dt.date) -> ArchiveDays:
        names = sorted(set(repos))
        asked = names + ([self.canary] if self.canary and self.canary not in names else [])
        out = ArchiveDays(rows={n: {} for n in names})
        if not asked:
            return out
        limit = len(asked) * ((today - GHARCHIVE_FIRST_DAY).days + 1)
        rows = self.clickhouse.select(
            GHARCHIVE_SQL,
            {"table": self.table, "repos": asked, "canary": self.canary or ""},
            ("repo_name", "day", "stars"),
            limit,
        )
        source = self.clickhouse.http.name
        for row in rows:
            name, on, stars = row["repo_name"], response_day(row["day"], source), row["stars"]
            stars = count(stars, source)
            if name == self.canary:
                out.canary[on] = stars
            if name in out.rows:
                out.rows[name][on] = stars
            elif name != self.canary:
                raise MalformedResponse(f"{source}: a row for {name!r}, which was not asked for")
        return out
