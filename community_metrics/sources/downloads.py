"""Daily download clients for pypistats, npm and crates.io. Plain Python: no Dagster.

Each returns {day: downloads} for the days the source reports; a day it does not report is
absent (missing), never zero.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from community_metrics.sources.http import HttpSource, RateLimit, require

PYPISTATS_DAYS = 180
CRATES_DAYS = 90
NPM_FIRST_DAY = dt.date(2015, 1, 10)
NPM_CHUNK_DAYS = 365

PYPISTATS_LIMIT = RateLimit(per_second=5, per_minute=30)
NPM_LIMIT = RateLimit(per_second=1)
CRATES_LIMIT = RateLimit(per_second=1)


def response_day(value, source: str) -> dt.date:
    """A day from a JSON answer (an ISO date, or the date part of a timestamp)."""
    require(isinstance(value, str), source, f"date {value!r} is not a string")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        require(False, source, f"unparsable date {value!r}")
        raise


def response_count(value, source: str) -> int:
    """A download count from a JSON answer: a non-negative integer, nothing else."""
    require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        source,
        f"download count {value!r} is not a non-negative integer",
    )
    return value


class PyPIStats:
    """pypistats.org `/overall`: one category (with or without mirrors), never their sum."""

    def __init__(self, http: HttpSource):
        self.http = http

    def path(self, package: str) -> str:
        return f"/api/packages/{quote(package.lower(), safe='')}/overall"

    def daily(self, package: str, mirrors: bool = False) -> dict[dt.date, int]:
        body = self.http.get_json(self.path(package), {"mirrors": "true" if mirrors else "false"})
        require(
            isinstance(body, dict) and isinstance(body.get("data"), list),
            "pypistats",
            "no data list",
        )
        category = "with_mirrors" if mirrors else "without_mirrors"
        out: dict[dt.date, int] = {}
        for row in body["data"]:
            require(isinstance(row, dict), "pypistats", f"row {row!r}")
            if row.get("category") != category:
                continue
            day = response_day(row.get("date"), "pypistats")
            require(day not in out, "pypistats", f"day {day} listed twice for {category}")
            out[day] = response_count(row.get("downloads"), "pypistats")
        return out


class Npm:
    """api.npmjs.org `downloads/range`, chunked to <= 365 days (longer ranges are truncated)."""

    def __init__(self, http: HttpSource):
        self.http = http

    def path(self, package: str, start: dt.date, end: dt.date) -> str:
        # Scoped names: the '/' must be percent-encoded, the '@' may stay.
        return f"/downloads/range/{start.isoformat()}:{end.isoformat()}/{quote(package, safe='@')}"

    def daily(self, package: str, start: dt.date, end: dt.date) -> dict[dt.date, int]:
        start = max(start, NPM_FIRST_DAY)
        out: dict[dt.date, int] = {}
        chunk_start = start
        while chunk_start <= end:
            chunk_end = min(end, chunk_start + dt.timedelta(days=NPM_CHUNK_DAYS - 1))
            body = self.http.get_json(self.path(package, chunk_start, chunk_end))
            require(
                isinstance(body, dict) and isinstance(body.get("downloads"), list),
                "npm",
                "no downloads list",
            )
            require(
                body.get("package") in (None, package), "npm", f"package {body.get('package')!r}"
            )
            for row in body["downloads"]:
                require(isinstance(row, dict), "npm", f"row {row!r}")
                day = response_day(row.get("day"), "npm")
                if chunk_start <= day <= chunk_end:
                    out[day] = response_count(row.get("downloads"), "npm")
            chunk_start = chunk_end + dt.timedelta(days=1)
        return out


class Crates:
    """crates.io `downloads`: the day total is version_downloads plus meta.extra_downloads."""

    def __init__(self, http: HttpSource):
        self.http = http

    def path(self, crate: str) -> str:
        return f"/api/v1/crates/{quote(crate, safe='')}/downloads"

    def daily(self, crate: str) -> dict[dt.date, int]:
        body = self.http.get_json(self.path(crate))
        require(isinstance(body, dict), "crates.io", "body is not an object")
        versions = body.get("version_downloads")
        extra = (body.get("meta") or {}).get("extra_downloads")
        require(isinstance(versions, list), "crates.io", "no version_downloads list")
        require(isinstance(extra, list), "crates.io", "no meta.extra_downloads list")
        out: dict[dt.date, int] = {}
        for row in [*versions, *extra]:
            require(isinstance(row, dict), "crates.io", f"row {row!r}")
            day = response_day(row.get("date"), "crates.io")
            out[day] = out.get(day, 0) + response_count(row.get("downloads"), "crates.io")
        return out
