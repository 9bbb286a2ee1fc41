"""GitHub stars: the stargazers_count snapshot, the star history endpoint, the starred_at
listing. Plain Python: no Dagster.

Since 2026-06-30 the stargazer listing is for repository admins only and 403s or returns
empty pages for others; the /stargazers/history endpoint (2026-09-04, shape unverified) may
also be unavailable. Both raise NotAvailable, which callers treat as "no history", never zero.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections import Counter

from community_metrics.sources.http import HttpSource, NotAvailable, RateLimit, require

GITHUB_LIMIT = RateLimit(per_second=10)
HISTORY_PER_PAGE = 30
HISTORY_MAX_PAGES = 100
STARGAZERS_PER_PAGE = 100
STARGAZERS_MAX_PAGES = 400
NOT_AVAILABLE = (403, 404, 422)


def _week_start(value) -> dt.date:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).date()
    require(isinstance(value, str), "github", f"week {value!r}")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        require(False, "github", f"unparsable week {value!r}")
        raise
    return parsed.astimezone(dt.UTC).date() if parsed.tzinfo else parsed.date()


class GitHub:
    def __init__(self, http: HttpSource, authenticated: bool = False):
        self.http = http
        # The starred_at listing answers admins only: without a token it can only 403.
        self.authenticated = authenticated

    def stargazers_count(self, repo: str) -> int:
        body = self.http.get_json(f"/repos/{repo}", not_available=(404,))
        count = body.get("stargazers_count") if isinstance(body, dict) else None
        require(isinstance(count, int) and count >= 0, "github", "no stargazers_count")
        return count

    def _pages(self, path: str, per_page: int, max_pages: int, what: str, headers=None):
        """Non-empty pages of a listing; an empty first page means not available."""
        for page in range(1, max_pages + 1):
            body = self.http.get_json(
                path,
                {"per_page": per_page, "page": page},
                headers=headers,
                not_available=NOT_AVAILABLE,
            )
            require(isinstance(body, list), "github", f"{what} is not a list")
            if not body:
                if page == 1:
                    raise NotAvailable(f"github: {path} answered an empty {what}")
                return
            yield body
            if len(body) < per_page:
                return

    def star_history(self, repo: str, since: dt.date) -> dict[dt.date, int]:
        """Stars gained per day (newest first pages), back to the week containing `since`."""
        gains: dict[dt.date, int] = {}
        path = f"/repos/{repo}/stargazers/history"
        for body in self._pages(path, HISTORY_PER_PAGE, HISTORY_MAX_PAGES, "star history"):
            oldest = None
            for row in body:
                require(isinstance(row, dict), "github", f"history row {row!r}")
                start = _week_start(row.get("week"))
                days, total = row.get("days"), row.get("total")
                require(
                    isinstance(days, list)
                    and len(days) == 7
                    and all(isinstance(d, int) and d >= 0 for d in days),
                    "github",
                    f"history days {days!r}",
                )
                require(total == sum(days), "github", f"history total {total!r} != sum of days")
                for offset, gained in enumerate(days):
                    gains[start + dt.timedelta(days=offset)] = gained
                oldest = start if oldest is None else min(oldest, start)
            if oldest is not None and oldest <= since:
                break
        return gains

    def starred_at(self, repo: str) -> list[dt.datetime]:
        """Every current star's time (admins only since 2026-06-30)."""
        stamps: list[dt.datetime] = []
        pages = self._pages(
            f"/repos/{repo}/stargazers",
            STARGAZERS_PER_PAGE,
            STARGAZERS_MAX_PAGES,
            "stargazer listing",
            headers={"Accept": "application/vnd.github.star+json"},
        )
        for body in pages:
            for row in body:
                at = row.get("starred_at") if isinstance(row, dict) else None
                require(isinstance(at, str), "github", "stargazer without starred_at")
                stamps.append(dt.datetime.fromisoformat(at.replace("Z", "+00:00")))
        return stamps


def totals_before(
    current: int, today: dt.date, gains: dict[dt.date, int], days
) -> dict[dt.date, int]:
    """End-of-day totals on `days` before today: today's count minus the stars gained after
    each day (possibly below 0 where stars were removed since: callers decide)."""
    ordered = sorted(gains)
    running = list(itertools.accumulate(gains[d] for d in ordered))
    total = running[-1] if running else 0
    out = {}
    for day in days:
        if day < today:
            given = running[i - 1] if (i := bisect.bisect_right(ordered, day)) else 0
            out[day] = current - (total - given)
    return out


def cumulative_from_gains(
    current: int, today: dt.date, gains: dict[dt.date, int]
) -> dict[dt.date, int]:
    """End-of-day totals before `today` on the days the history lists."""
    out = totals_before(current, today, gains, gains)
    for day, total in out.items():
        require(total >= 0, "github", f"star history gains exceed the current count at {day}")
    return out


def cumulative_from_stamps(stamps: list[dt.datetime]) -> dict[dt.date, int]:
    per_day = Counter(s.astimezone(dt.UTC).date() for s in stamps)
    total, out = 0, {}
    for day in sorted(per_day):
        total += per_day[day]
        out[day] = total
    return out
